"""The fake USSD centre's core, sans-IO and on injected time: dialogues in every dialect through the
gateway's own mapping, each strictness rule caught and named, timers, session numbers, binds,
throttling, freezing, keep-alives, garbage, and the handset protocol (fuzzed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import pdu
from gateway.smpp_session import Answer, BindRefused, Bound, Request, SmppSession, State, Unbound
from gateway.ussd_smpp import DIALECTS, Abort, Begin, Dialect, Reply, Unit, UssdSmpp
from simulator.centre import (
    MAX_LINE,
    RINVDSTNPI,
    RINVDSTTON,
    RMISSINGOPTPARAM,
    RSUBMITFAIL,
    Centre,
    CentreConfig,
    CloseLink,
    Dial,
    Failed,
    Hangup,
    LineBuffer,
    Screen,
    TimedOut,
    ToHandset,
    ToLink,
    Type,
    encode_event,
    parse_command,
)
from ussd.engine import Response

SUBSCRIBER = "2250701020304"
OTHER = "2250707070707"


@dataclass
class Gateway:
    """An ESME on one link: the gateway's own session and USSD mapping, answering each deliver_sm."""

    session: SmppSession
    mapping: UssdSmpp
    #: What came from the centre: every event, and the USSD meaning of each deliver_sm.
    events: list[Any] = field(default_factory=list)
    units: list[Any] = field(default_factory=list)
    deliver_status: int = pdu.ROK

    def answers(self) -> list[Answer]:
        return [e for e in self.events if isinstance(e, Answer) and e.request == "submit_sm"]


class Net:
    """A centre, its gateways (by link) and its handsets (by key), on plain floats for time."""

    def __init__(self, **config: Any) -> None:
        self.centre = Centre(CentreConfig(**config))
        self.dialect = self.centre.dialect
        self.gateways: dict[str, Gateway] = {}
        self.screens: dict[str, list[Any]] = defaultdict(list)
        self.closed: list[str] = []
        self.now = 0.0

    def bind(self, link: str = "gw", mode: str = "transceiver", system_id: str = "gw",
             password: str = "pw") -> list[Any]:
        gateway = Gateway(SmppSession("esme"), UssdSmpp(self.dialect))
        self.gateways[link] = gateway
        self.centre.open_link(link, self.now)
        gateway.session.bind(mode, system_id, password, now=self.now)
        self.send(link)
        return gateway.events

    def send(self, link: str = "gw") -> None:
        """What the gateway on ``link`` wrote, to the centre; and back, until all is said."""
        self.centre.link_data(link, self.gateways[link].session.data_to_send(), self.now)
        self.flush()

    def flush(self) -> None:
        while True:
            outputs = self.centre.outputs()
            if not outputs:
                return
            for out in outputs:
                if isinstance(out, ToHandset):
                    self.screens[out.handset].append(out.event)
                elif isinstance(out, CloseLink):
                    self.closed.append(out.link)
                else:
                    gateway = self.gateways[out.link]
                    for event in gateway.session.receive(out.data, self.now):
                        gateway.events.append(event)
                        if isinstance(event, Request) and event.pdu.command == "deliver_sm":
                            gateway.units.append(gateway.mapping.receive(event.pdu))
                            gateway.session.respond(event.pdu, gateway.deliver_status)
                    data = gateway.session.data_to_send()
                    if data:
                        self.centre.link_data(out.link, data, self.now)

    def dial(self, handset: str = "h", msisdn: str = SUBSCRIBER, code: str = "#122#") -> None:
        self.centre.dial(handset, msisdn, code, self.now)
        self.flush()

    def type(self, text: str, handset: str = "h") -> None:
        self.centre.reply(handset, text, self.now)
        self.flush()

    def line(self, line: bytes | None, handset: str = "h") -> Any:
        self.centre.handset_line(handset, line, self.now)
        self.flush()
        return self.screens[handset][-1] if self.screens[handset] else None

    def tick(self, now: float) -> None:
        self.now = now
        self.centre.tick(now)
        self.flush()

    def unit(self, link: str = "gw") -> Any:
        """The last USSD unit the gateway on ``link`` received."""
        return self.gateways[link].units[-1]

    def submit(self, response: Response | None = None, link: str = "gw", unit: Unit | None = None,
               change: Callable[[dict[str, Any]], None] | None = None) -> Answer:
        """The gateway answers the last unit (or ``unit``) with ``response``, its fields changed by
        ``change``; the centre's submit_sm_resp."""
        gateway = self.gateways[link]
        unit = unit or self.unit(link).unit
        response = response or Response(unit.session, "1. Solde\n2. Bonus", False)
        fields = gateway.mapping.submit(response, unit)
        if change is not None:
            change(fields)
        gateway.session.request("submit_sm", now=self.now, **fields)
        self.send(link)
        return gateway.answers()[-1]


def bound(**config: Any) -> Net:
    net = Net(**config)
    net.bind()
    return net


# -- dialogues ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_whole_dialogue_in_each_dialect(name: str) -> None:
    dialect = DIALECTS[name]
    net = bound(dialect=dialect)
    net.dial()
    [delivered] = [e.pdu for e in net.gateways["gw"].events if isinstance(e, Request)]
    assert (delivered.get("source_addr"), delivered.get("source_addr_ton"), delivered.get("source_addr_npi")) == \
        (SUBSCRIBER.encode(), 1, 1)
    assert delivered.get("destination_addr") == b"122" and delivered.get("service_type") == b"USSD"
    assert delivered.get("ussd_service_op") == min(dialect.begin_ops)
    assert delivered.get("data_coding") == dialect.gsm7_coding and delivered.get("short_message") == b"#122#"
    if dialect.correlation == "its_session_info":
        assert delivered.get("its_session_info") == 0
    else:
        assert delivered.get("its_session_info") is None
    assert (delivered.get("user_message_reference") is not None) == (dialect.correlation == "user_message_reference")
    begin = net.unit()
    assert isinstance(begin, Begin) and begin.code == "#122#" and begin.unit.msisdn == SUBSCRIBER

    answer = net.submit(Response(begin.unit.session, "Bonus\n1. Crédit\n2. Minutes", False))
    assert answer.status == pdu.ROK and answer.pdu.get("message_id")
    assert net.screens["h"] == [Screen(f"centre:{SUBSCRIBER}:0", "Bonus\n1. Crédit\n2. Minutes", False, "gsm7", 26)]

    net.type("1")
    reply = net.unit()
    assert isinstance(reply, Reply) and reply.text == "1" and reply.unit.session == begin.unit.session
    if dialect.correlation == "its_session_info":
        assert reply.unit.sequence == 2
    answer = net.submit(Response(reply.unit.session, "Crédit: 1 500 F", True))
    assert answer.status == pdu.ROK
    assert net.screens["h"][-1] == Screen(f"centre:{SUBSCRIBER}:0", "Crédit: 1 500 F", True, "gsm7", 15)
    assert net.centre.open_dialogues() == [] and net.centre.violations == []


def test_a_screen_in_ucs2_reaches_the_handset_as_ucs2() -> None:
    net = bound()
    net.dial()
    assert net.submit(Response("s", "Fête: ça coûte 100 F", False, coding="ucs2")).status == pdu.ROK
    assert net.screens["h"][-1] == Screen(f"centre:{SUBSCRIBER}:0", "Fête: ça coûte 100 F", False, "ucs2", 20)


def test_a_vendor_tlv_dialect_ties_units_by_its_tlv() -> None:
    dialect = Dialect("tlv", correlation="vendor_tlv", vendor_tag=0x1401, end_flag_aborts=False)
    net = bound(dialect=dialect)
    net.dial("a")
    net.dial("b")
    first, second = net.gateways["gw"].units
    assert first.unit.vendor != second.unit.vendor and first.unit.vendor is not None
    assert net.submit(unit=second.unit).status == pdu.ROK
    assert net.submit(unit=second.unit).status == RSUBMITFAIL  # its turn is the subscriber's now
    assert net.submit(unit=first.unit).status == pdu.ROK
    assert [type(e) for e in net.screens["a"] + net.screens["b"]] == [Screen, Screen]
    wrong = net.submit(unit=first.unit, change=lambda f: f.update(vendor_1401=b"\x00\x00\x00\x09"))
    assert (wrong.status, net.centre.violations[-1].rule) == (RSUBMITFAIL, "unknown_dialogue")


# -- strictness -----------------------------------------------------------------------------------

def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda fields: fields.update(values)


def _without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda fields: fields.pop(name)


STRICT = [
    # (what the gateway gets wrong, the rule named, the status)
    (_set(destination_addr="2250799999999"), "destination_addr", pdu.RINVDSTADR),
    (_set(destination_addr="0701020304"), "destination_addr", pdu.RINVDSTADR),
    (_set(dest_addr_ton=0), "dest_addr_ton", RINVDSTTON),
    (_set(dest_addr_npi=9), "dest_addr_npi", RINVDSTNPI),
    (_set(source_addr="123"), "source_addr", pdu.RINVSRCADR),
    (_set(service_type="CMT"), "service_type", pdu.RINVSERTYP),
    (_without("ussd_service_op"), "ussd_service_op", RMISSINGOPTPARAM),
    (_set(ussd_service_op=1), "ussd_service_op", pdu.RINVOPTPARAMVAL),
    (_without("its_session_info"), "correlation", RMISSINGOPTPARAM),
    (_set(its_session_info=(7 << 8) | (1 << 1)), "unknown_dialogue", RSUBMITFAIL),
    (_set(its_session_info=(1 << 1) | 1), "end_flag", pdu.RINVOPTPARAMVAL),
    (_set(ussd_service_op=17), "end_flag", pdu.RINVOPTPARAMVAL),
    (_set(its_session_info=3 << 1), "sequence", pdu.RINVOPTPARAMVAL),
    (_set(its_session_info=0), "sequence", pdu.RINVOPTPARAMVAL),
    (_set(data_coding=3), "data_coding", RSUBMITFAIL),
    (_set(data_coding=15), "data_coding", RSUBMITFAIL),
    (_set(short_message=b"caf\xe9"), "text", RSUBMITFAIL),
    (_set(short_message=b"1. Solde\x1b"), "text", RSUBMITFAIL),
    (_set(short_message=b"a\x1bb"), "text", RSUBMITFAIL),
    (_set(data_coding=8, short_message=b"\x00a\x00"), "text", pdu.RINVMSGLEN),
    (_set(data_coding=8, short_message=b"\xd8\x00\x00a"), "text", RSUBMITFAIL),
    (_set(short_message=b"x" * 183), "length", pdu.RINVMSGLEN),
    (_set(short_message=b"\x1b\x65" * 92), "length", pdu.RINVMSGLEN),
    (_set(data_coding=8, short_message="é".encode("utf-16-be") * 81), "length", pdu.RINVMSGLEN),
    (_set(data_coding=8, short_message="😀".encode("utf-16-be") * 41), "length", pdu.RINVMSGLEN),
]


@pytest.mark.parametrize("change,rule,status", STRICT, ids=[f"{r}-{n}" for n, (_, r, _) in enumerate(STRICT)])
def test_each_strictness_rule_is_caught_named_and_the_dialogue_survives_it(change, rule: str, status: int) -> None:
    net = bound()
    net.dial()
    answer = net.submit(change=change)
    assert answer.status == status
    [violation] = net.centre.violations
    assert (violation.rule, violation.status, violation.link) == (rule, status, "gw")
    assert violation.sequence == answer.pdu.sequence and violation.message in str(violation)
    assert net.screens["h"] == []
    assert net.submit().status == pdu.ROK  # the right one still goes through
    assert [type(e) for e in net.screens["h"]] == [Screen]


def test_the_limits_are_exactly_one_page() -> None:
    net = bound()
    for handset, (coding, text) in enumerate([(0, b"x" * 182), (0, b"\x1b\x65" * 91),
                                              (8, "é".encode("utf-16-be") * 80)]):
        net.dial(str(handset), f"22507010203{handset:02d}")
        assert net.submit(change=_set(data_coding=coding, short_message=text)).status == pdu.ROK
    assert net.centre.violations == []
    assert [e.units for h in "012" for e in net.screens[h]] == [182, 182, 80]
    assert net.screens["1"][0].text == "€" * 91


def test_a_submit_sm_for_nobody_or_out_of_turn_is_refused() -> None:
    net = bound()
    net.dial()
    first = net.unit().unit
    assert net.submit().status == pdu.ROK
    assert net.submit(unit=first).status == RSUBMITFAIL  # a second screen before the subscriber answers
    assert net.centre.violations[-1].rule == "out_of_turn"
    net.type("1")
    net.submit(Response("s", "Au revoir", True))
    assert net.submit(unit=net.unit().unit).status == pdu.RINVDSTADR  # the dialogue is over
    assert "no subscriber in a dialogue" in net.centre.violations[-1].message


def test_umr_dialect_needs_the_reference_echoed() -> None:
    net = bound(dialect=DIALECTS["umr"])
    net.dial()
    assert net.submit(change=_without("user_message_reference")).status == RMISSINGOPTPARAM
    assert net.submit(change=_set(user_message_reference=9)).status == RSUBMITFAIL
    assert [v.rule for v in net.centre.violations] == ["correlation", "unknown_dialogue"]
    assert net.submit().status == pdu.ROK


def test_vendor_dialect_text_goes_in_dcs_15_and_dcs_0_is_refused() -> None:
    net = bound(dialect=DIALECTS["vendor-0x81"])
    net.dial()
    assert net.submit(change=_set(data_coding=0)).status == RSUBMITFAIL
    assert net.centre.violations[-1].rule == "data_coding"
    assert net.submit().status == pdu.ROK


def test_data_sm_is_refused_as_a_violation() -> None:
    net = bound()
    gateway = net.gateways["gw"]
    gateway.session.request("data_sm", source_addr="122", destination_addr=SUBSCRIBER)
    net.send()
    [answer] = [e for e in gateway.events if isinstance(e, Answer) and e.request == "data_sm"]
    assert answer.status == pdu.RINVCMDID and net.centre.violations[-1].rule == "data_sm"


# -- hang-ups, aborts and timers -----------------------------------------------------------------

@pytest.mark.parametrize("name,abort_op", [("default", 18), ("vendor-0x81", 0x81), ("umr", None), ("msisdn", None)])
def test_a_hangup_aborts_as_the_dialect_does(name: str, abort_op: int | None) -> None:
    net = bound(dialect=DIALECTS[name])
    net.dial()
    net.submit()
    net.centre.hangup("h", net.now)
    net.flush()
    gateway = net.gateways["gw"]
    delivered = [e.pdu for e in gateway.events if isinstance(e, Request)]
    if abort_op is None:
        assert len(delivered) == 1
    else:
        abort = delivered[-1]
        assert abort.get("ussd_service_op") == abort_op and abort.get("short_message") == b""
        assert abort.get("its_session_info") == (2 << 1) | 1  # the next unit, and the end
        assert isinstance(net.unit(), Abort)
    assert net.centre.open_dialogues() == [] and net.screens["h"] == [Screen(f"centre:{SUBSCRIBER}:0",
                                                                             "1. Solde\n2. Bonus", False, "gsm7", 17)]


def test_the_step_timer_ends_the_dialogue_on_both_sides() -> None:
    net = bound(step_timeout=30, max_duration=180)
    net.now = 100.0
    net.dial()
    assert net.centre.next_deadline() == 130.0
    net.tick(129.9)
    assert net.screens["h"] == [] and net.centre.open_dialogues() == [(SUBSCRIBER, 0)]
    net.tick(130.0)
    assert net.screens["h"] == [TimedOut(f"centre:{SUBSCRIBER}:0", "step timeout")]
    assert isinstance(net.unit(), Abort) and net.centre.open_dialogues() == []
    late = net.submit(unit=net.gateways["gw"].units[0].unit)
    assert late.status == pdu.RINVDSTADR  # too late: nobody waits for it


def test_the_step_timer_runs_only_while_the_gateway_owes_a_screen() -> None:
    net = bound(step_timeout=30, max_duration=180, enquire_interval=None)
    net.dial()
    net.tick(20)
    net.submit()
    assert net.centre.next_deadline() == 180.0  # only the dialogue limit while the subscriber reads
    net.tick(100)
    net.type("1")
    assert net.centre.next_deadline() == 130.0
    net.tick(130)
    assert net.screens["h"][-1] == TimedOut(f"centre:{SUBSCRIBER}:0", "step timeout")


def test_the_dialogue_limit_ends_a_dialogue_that_goes_on_and_on() -> None:
    net = bound(step_timeout=30, max_duration=180)
    net.dial()
    for now in range(25, 180, 25):
        net.tick(float(now))
        net.submit()
        net.type("1")
    net.tick(175.0)
    net.submit()
    assert net.screens["h"][-1].end is False
    net.tick(180.0)
    assert net.screens["h"][-1] == TimedOut(f"centre:{SUBSCRIBER}:0", "dialogue limit")
    assert isinstance(net.unit(), Abort)
    # the subscriber's reply crossed the timeout line: dropped, not answered with an error
    net.type("2")
    assert net.screens["h"][-1] == TimedOut(f"centre:{SUBSCRIBER}:0", "dialogue limit")
    net.type("2")
    assert net.screens["h"][-1] == Failed("no dialogue open: dial first")


def test_a_timer_in_a_dialect_without_abort_sends_nothing_to_the_gateway() -> None:
    net = bound(dialect=DIALECTS["umr"])
    net.dial()
    net.tick(30.0)
    assert net.screens["h"] == [TimedOut(f"centre:{SUBSCRIBER}:0", "step timeout")]
    assert len(net.gateways["gw"].units) == 1


# -- session numbers, links, binds -----------------------------------------------------------------

def test_session_numbers_are_per_subscriber_and_recycled() -> None:
    net = bound()
    net.dial("a")
    net.dial("b")
    net.dial("c", OTHER)
    assert net.centre.open_dialogues() == [(SUBSCRIBER, 0), (SUBSCRIBER, 1), (OTHER, 0)]
    a, b, c = net.gateways["gw"].units
    assert (a.unit.session_number, b.unit.session_number, c.unit.session_number) == (0, 1, 0)
    net.submit(Response("s", "fin", True), unit=a.unit)
    net.dial("d")
    assert net.unit().unit.session_number == 0 and net.centre.open_dialogues()[:2] == [(SUBSCRIBER, 0), (SUBSCRIBER, 1)]
    # a number once written nationally is the same subscriber
    net.dial("e", "07 01 02 03 04".replace(" ", ""))
    assert net.unit().unit.session_number == 2


def test_all_256_session_numbers_in_use_refuses_the_next_dial() -> None:
    net = bound(window=300)
    for n in range(256):
        net.dial(f"h{n}")
    net.dial("one-more")
    assert net.screens["one-more"] == [Failed(f"{SUBSCRIBER} has 256 dialogues open: no session number free")]
    net.centre.hangup("h17", net.now)
    net.dial("one-more")
    assert net.unit().unit.session_number == 17


def test_the_msisdn_dialect_has_one_dialogue_per_subscriber() -> None:
    net = bound(dialect=DIALECTS["msisdn"])
    net.dial("a")
    net.dial("b")
    assert "ties units by the subscriber alone" in net.screens["b"][0].message
    net.dial("c", OTHER)
    assert net.centre.open_dialogues() == [(SUBSCRIBER, 0), (OTHER, 0)]


def test_dialogues_go_round_the_bound_links_and_keep_to_theirs() -> None:
    net = Net()
    net.bind("one")
    net.bind("two")
    for handset in "abcd":
        net.dial(handset)
    numbers = {link: [u.unit.session_number for u in net.gateways[link].units] for link in ("one", "two")}
    assert numbers == {"one": [0, 2], "two": [1, 3]}
    b = net.gateways["two"].units[0].unit
    assert net.submit(link="one", unit=b).status == pdu.ROK  # any transmitting link may answer
    net.type("1", "b")
    assert isinstance(net.unit("two"), Reply) and len(net.gateways["one"].units) == 2


def test_spread_by_steps_sends_each_unit_of_a_dialogue_to_the_next_bind() -> None:
    net = Net(spread="steps")
    net.bind("one")
    net.bind("two")
    net.dial("a")
    first = net.gateways["one"].units[0].unit
    assert net.submit(link="one", unit=first).status == pdu.ROK
    net.type("1", "a")
    assert isinstance(net.unit("two"), Reply)  # the dialogue's second unit goes to the other node
    assert len(net.gateways["one"].units) == 1


def test_a_transmitter_and_receiver_pair_works_and_each_keeps_to_its_role() -> None:
    net = Net()
    assert [type(e) for e in net.bind("tx", "transmitter")] == [Bound]
    net.dial()
    assert net.screens["h"] == [Failed("no gateway bound (as receiver or transceiver)")]
    net.bind("rx", "receiver")
    net.dial()
    begin = net.unit("rx")
    assert isinstance(begin, Begin) and net.gateways["tx"].units == []
    net.gateways["tx"].units.append(begin)
    assert net.submit(link="rx", unit=begin.unit).status == pdu.RINVBNDSTS
    assert net.centre.violations[-1].rule == "bind_state"
    assert net.submit(link="tx", unit=begin.unit).status == pdu.ROK
    net.type("1")
    assert isinstance(net.unit("rx"), Reply)


def test_a_lost_link_hands_its_dialogues_to_another() -> None:
    net = Net()
    net.bind("one")
    net.dial()
    net.bind("two")
    begin = net.unit("one")
    net.centre.close_link("one", net.now)
    net.gateways["two"].units.append(begin)
    assert net.submit(link="two", unit=begin.unit).status == pdu.ROK
    net.type("1")
    assert isinstance(net.unit("two"), Reply)
    net.centre.close_link("two", net.now)
    net.centre.link_data("two", b"\x00" * 16, net.now)  # a link once closed is not read
    assert net.centre.outputs() == [] and net.centre.faults == []
    net.dial("x", OTHER)
    assert net.screens["x"] == [Failed("no gateway bound (as receiver or transceiver)")]


def test_any_credentials_bind_unless_configured() -> None:
    assert [type(e) for e in Net().bind(system_id="anyone", password="")] == [Bound]
    net = Net(system_id="gw", password="secret")
    assert net.bind("a", system_id="other", password="secret") == [BindRefused(pdu.RINVSYSID)]
    assert net.bind("b", system_id="gw", password="wrong") == [BindRefused(pdu.RINVPASWD)]
    assert net.bind("c", system_id="gw", password="secret") == [Bound("transceiver", "ussd-centre")]
    assert net.centre.bound_links() == {"c": "transceiver"}
    assert any("refused (status 0x0f)" in fault for fault in net.centre.faults)


def test_a_deliver_sm_the_gateway_refuses_ends_the_dialogue() -> None:
    net = Net()
    net.bind()
    net.gateways["gw"].deliver_status = pdu.RSYSERR
    net.dial()
    assert net.screens["h"] == [Failed("the gateway refused the dialogue (status 0x08)", True,
                                       f"centre:{SUBSCRIBER}:0")]
    assert net.centre.open_dialogues() == [] and "refused our begin deliver_sm" in net.centre.faults[-1]


# -- throttling, freezing, keep-alives, garbage -------------------------------------------------------

def test_throttling_refuses_past_n_submit_sm_a_second_on_a_link() -> None:
    net = bound(throttle=2)
    for handset in "abc":
        net.dial(handset)
    units = [u.unit for u in net.gateways["gw"].units]
    assert [net.submit(unit=u).status for u in units] == [pdu.ROK, pdu.ROK, pdu.RTHROTTLED]
    assert net.centre.throttled == 1 and net.centre.violations == []
    net.now = 0.5
    assert net.submit(unit=units[2]).status == pdu.RTHROTTLED
    net.now = 1.0
    assert net.submit(unit=units[2]).status == pdu.ROK


def test_no_throttling_by_default() -> None:
    net = bound(window=50)
    for n in range(40):
        net.dial(f"h{n}")
    assert all(net.submit(unit=u.unit).status == pdu.ROK for u in list(net.gateways["gw"].units))


def test_a_frozen_centre_answers_nothing_until_it_thaws() -> None:
    net = bound()
    net.centre.freeze()
    net.dial()
    gateway = net.gateways["gw"]
    assert gateway.units == []
    gateway.session.request("enquire_link", now=net.now)
    net.send()
    assert [e for e in gateway.events if isinstance(e, Answer)] == []
    net.tick(30.0)  # handsets and timers go on
    assert net.screens["h"] == [TimedOut(f"centre:{SUBSCRIBER}:0", "step timeout")]
    assert net.centre.next_deadline() is None and net.closed == []
    net.centre.thaw(31.0)
    net.flush()
    assert [type(u) for u in gateway.units] == [Begin, Abort]
    assert [e.request for e in gateway.events if isinstance(e, Answer)] == ["enquire_link"]


def test_keep_alives_go_on_a_quiet_link_and_a_silent_one_is_closed() -> None:
    net = bound(enquire_interval=30)
    assert net.centre.next_deadline() == 30.0
    net.tick(30.0)  # an enquire_link, which the gateway's session answers
    assert net.centre.next_deadline() == 60.0 and net.closed == [] and net.centre.faults == []

    silent = Centre(CentreConfig(enquire_interval=30))
    silent.open_link("gw", 0.0)
    esme = SmppSession("esme")
    esme.bind("transceiver", "gw", "pw")
    silent.link_data("gw", esme.data_to_send(), 0.0)
    silent.outputs()
    silent.tick(30.0)
    [sent] = silent.outputs()
    assert isinstance(sent, ToLink) and pdu.header(sent.data)[1] == pdu.CODES["enquire_link"]
    assert silent.next_deadline() == 60.0
    silent.tick(60.0)
    assert silent.outputs() == [CloseLink("gw")] and silent.links == 0
    assert "no enquire_link_resp within 30 s" in silent.faults[-1]


def test_a_connection_that_never_binds_is_closed() -> None:
    centre = Centre(CentreConfig(enquire_interval=10))
    centre.open_link("idle", 0.0)
    assert centre.next_deadline() == 10.0
    centre.tick(10.0)
    assert centre.outputs() == [CloseLink("idle")] and centre.links == 0


def _cut(data: bytes, size: int) -> bytes:
    """A PDU cut to ``size`` octets, its command_length saying so."""
    return size.to_bytes(4, "big") + data[4:size]


@pytest.mark.parametrize("garbage,fatal", [
    (b"\x00\x00\x00\x10\x00\x00\x00\x99\x00\x00\x00\x00\x00\x00\x00\x05", False),  # unknown command
    (_cut(pdu.encode("submit_sm", 6, source_addr="122", destination_addr=SUBSCRIBER), 20), False),
    (b"\x00" * 16, True),  # command_length 0
    (b"\x00\x00\x00\x14\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x07\xff\xff\xff\xff", False),
])
def test_garbage_on_a_link_is_answered_per_smpp_and_never_raises(garbage: bytes, fatal: bool) -> None:
    net = bound()
    net.centre.link_data("gw", garbage, net.now)
    outputs = net.centre.outputs()
    assert isinstance(outputs[0], ToLink)
    assert net.centre.faults and (CloseLink("gw") in outputs) == fatal


def test_shutdown_ends_dialogues_and_unbinds() -> None:
    net = bound()
    net.dial()
    net.centre.shutdown(net.now)
    net.flush()
    assert net.screens["h"] == [Failed("the centre is shutting down", True, f"centre:{SUBSCRIBER}:0")]
    gateway = net.gateways["gw"]
    assert isinstance(net.unit(), Abort) and gateway.session.state is State.CLOSED
    assert isinstance(gateway.events[-1], Unbound)  # the centre's unbind, answered by the gateway
    assert net.closed == ["gw"] and net.centre.links == 0
    net.dial("late")
    assert net.screens["late"] == [Failed("the centre is shutting down")]


# -- the handset protocol -----------------------------------------------------------------------

def test_handset_lines_drive_dialogues() -> None:
    net = bound()
    net.line(b'{"dial": "*122*6#", "msisdn": "+2250701020304"}')
    assert net.unit().code == "*122*6#" and net.gateways["gw"].units[-1].unit.service[2] == "122"
    net.submit()
    net.line(b'{"reply": "2"}\r')
    assert net.unit().text == "2"
    net.line(b'{"hangup": true}')
    assert isinstance(net.unit(), Abort) and net.centre.open_dialogues() == []


@pytest.mark.parametrize("line,message", [
    (b"hello", "not JSON"),
    (b'["dial"]', "not a JSON object"),
    (b'{"dial": "#122#"}', 'gives "dial"'),
    (b'{"dial": "#122#", "msisdn": 2250701020304}', 'gives "dial"'),
    (b'{"dial": "#122#", "reply": "1", "msisdn": "1"}', "more than one command"),
    (b'{"dial": "#122#", "msisdn": "2250701020304", "lang": "fr"}', "unknown key(s) 'lang'"),
    (b'{"hangup": false}', 'write {"hangup": true}'),
    (b'{"reply": 1}', "a reply is a string"),
    (b"{}", "no command"),
    (b"\xff{}", "not UTF-8"),
    (b'{"dial": "122", "msisdn": "2250701020304"}', "not a USSD code"),
    (b'{"dial": "#122#", "msisdn": "abc"}', "not a phone number"),
    (b'{"reply": "1"}', "no dialogue open: dial first"),
    (None, f"line longer than {MAX_LINE} octets"),
])
def test_handset_protocol_errors_are_answered_in_words(line: bytes | None, message: str) -> None:
    net = bound()
    event = net.line(line)
    assert isinstance(event, Failed) and message in event.message and not event.end
    assert net.centre.open_dialogues() == []


def test_handset_commands_out_of_turn_are_refused() -> None:
    net = bound()
    net.dial()
    net.type("1")
    assert net.screens["h"][-1] == Failed("the gateway has not answered yet: wait for the screen")
    net.dial()
    assert net.screens["h"][-1] == Failed("a dialogue is open on this handset: hang up first")
    net.submit()
    net.type("9" * 183)
    assert "a USSD string holds 182" in net.screens["h"][-1].message
    assert net.centre.open_dialogues() == [(SUBSCRIBER, 0)]


@pytest.mark.parametrize("text", ["9" * 183, "7" * 254, "8" * 255, "ы" * 81, "ы" * 128])
def test_a_centre_told_to_carry_long_replies_carries_them_whole(text: str) -> None:
    net = bound(reply_limit=400)
    net.dial()
    net.submit()
    net.type(text)
    delivered = net.gateways["gw"].events[-1].pdu
    octets = text.encode("utf-16-be") if text[0] == "ы" else text.encode("ascii")
    # past 254 octets the text goes in message_payload, short_message left empty, as SMPP says
    in_payload = len(octets) > 254
    assert (delivered.get("message_payload") is not None) == in_payload
    assert (delivered.get("short_message") or b"") == (b"" if in_payload else octets)
    assert isinstance(net.unit(), Reply) and net.unit().text == text
    net.submit()
    net.type("1" * 401)
    assert net.screens["h"][-1] == Failed("reply of 401 gsm7 units: this centre carries 400")


def test_no_gateway_bound_is_said() -> None:
    net = Net()
    assert net.line(b'{"dial": "#122#", "msisdn": "2250701020304"}') == Failed(
        "no gateway bound (as receiver or transceiver)")


def test_events_are_json_lines() -> None:
    assert encode_event(Screen("s", "Crédit", False, "gsm7", 6)) == \
        b'{"session": "s", "text": "Cr\\u00e9dit", "end": false, "coding": "gsm7", "units": 6}\n'
    assert encode_event(TimedOut("s", "step timeout")) == \
        b'{"session": "s", "end": true, "timeout": true, "text": "", "reason": "step timeout"}\n'
    assert encode_event(Failed("no gateway bound")) == b'{"error": "no gateway bound"}\n'
    assert encode_event(Failed("x", True, "s")) == b'{"error": "x", "end": true, "text": "", "session": "s"}\n'


def test_the_line_buffer_bounds_lines() -> None:
    lines = LineBuffer(8)
    assert lines.feed(b'{"a"}\n{"b') == [b'{"a"}']
    assert lines.feed(b'"}\r\n') == [b'{"b"}']
    assert lines.feed(b"x" * 9) == [None]
    assert lines.feed(b"y" * 100) == []
    assert lines.feed(b"z\nok\n") == [b"ok"]
    assert lines.feed(b"123456789\n") == [None]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=80).map(str.encode)
       | st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["dial", "msisdn", "reply", "hangup", "x"]), inner, max_size=4),
                      max_leaves=8).map(lambda v: __import__("json").dumps(v).encode()))
def test_fuzz_the_handset_parser_never_raises(line: bytes) -> None:
    command = parse_command(line)
    assert isinstance(command, (str, Dial, Type, Hangup))
    net = Net()
    net.bind()
    for piece in LineBuffer().feed(line + b"\n"):
        net.line(piece)
    for event in net.screens["h"]:
        assert encode_event(event).endswith(b"\n")


def test_each_step_s_time_from_deliver_sm_to_its_screen_is_kept() -> None:
    net = bound()
    net.now = 10.0
    net.dial()
    net.now = 10.25
    net.submit()
    net.now = 11.0
    net.type("1")
    net.now = 11.5
    net.submit(Response(net.unit().unit.session, "Fin", True))
    assert list(net.centre.latencies) == [0.25, 0.5]
    net.now = 12.0
    net.dial()
    net.centre.hangup("h", 12.0)  # a hang-up's abort is no step: nothing kept for it
    net.flush()
    assert list(net.centre.latencies) == [0.25, 0.5]
