"""The USSD mapping on SMPP PDUs, sans-IO: deliver_sm bytes in, engine events out; engine responses
in, submit_sm bytes out; for every dialect, and a whole #122# dialogue through the real engine."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import pdu
from gateway.ussd_smpp import DIALECTS, Abort, Begin, Dialect, Refused, Reply, Unit, UssdSmpp, read_text, write_text
from ussd import gsm
from ussd.engine import Response

SUBSCRIBER = "2250701020304"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def deliver_bytes(op: int | None, text: bytes = b"#122#", *, its: int | None = 0x0500, source: str = SUBSCRIBER,
                  coding: int = 0, **extra: object) -> bytes:
    fields: dict[str, object] = dict(service_type="USSD", source_addr_ton=1, source_addr_npi=1, source_addr=source,
                                     destination_addr="122", data_coding=coding, short_message=text)
    if op is not None:
        fields["ussd_service_op"] = op
    if its is not None:
        fields["its_session_info"] = its
    fields.update(extra)
    return pdu.encode("deliver_sm", 11, **fields)


def receive(mapping: UssdSmpp, data: bytes):  # type: ignore[no-untyped-def]
    return mapping.receive(pdu.decode(data))


def sent(mapping: UssdSmpp, response: Response, unit: Unit) -> pdu.Pdu:
    """The submit_sm the gateway would send, as bytes and read back."""
    return pdu.decode(pdu.encode("submit_sm", 12, **mapping.submit(response, unit)))


def test_a_dialogue_in_the_default_dialect() -> None:
    mapping = UssdSmpp()
    opened = receive(mapping, deliver_bytes(1, b"#122#", its=0x0500))
    assert isinstance(opened, Begin) and opened.code == "#122#"
    unit = opened.unit
    assert (unit.session, unit.msisdn, unit.session_number, unit.sequence) == \
        (f"smpp:centre:{SUBSCRIBER}:5", SUBSCRIBER, 5, 0)
    ask = sent(mapping, Response(unit.session, "1. Solde\n2. Bonus", False), unit)
    assert (ask.fields["ussd_service_op"], ask.fields["its_session_info"], ask.fields["data_coding"]) == (2, 0x0502, 0)
    assert ask.fields["destination_addr"] == SUBSCRIBER.encode() and ask.fields["source_addr"] == b"122"
    assert gsm.decode_gsm7(ask.fields["short_message"]) == "1. Solde\n2. Bonus"
    answer = receive(mapping, deliver_bytes(18, b"2", its=0x0504))
    assert isinstance(answer, Reply) and answer.text == "2" and answer.unit.session == unit.session
    last = sent(mapping, Response(unit.session, "Bonus: 500 F", True), answer.unit)
    assert (last.fields["ussd_service_op"], last.fields["its_session_info"]) == (17, 0x0507)  # sequence 3, end


@pytest.mark.parametrize("op", [1, 18, 2, 0x81])
def test_the_end_flag_from_the_centre_aborts_whatever_the_op(op: int) -> None:
    assert isinstance(receive(UssdSmpp(), deliver_bytes(op, b"", its=0x0505)), Abort)


def test_a_national_number_is_the_same_subscriber() -> None:
    event = receive(UssdSmpp(), deliver_bytes(1, source="0701020304"))
    assert isinstance(event, Begin) and event.unit.msisdn == SUBSCRIBER
    assert event.unit.address[2] == "0701020304"  # the answer goes back as the centre wrote it


@pytest.mark.parametrize("data, status, says", [
    (deliver_bytes(None), pdu.RINVOPTPARAMVAL, "no ussd_service_op"),
    (deliver_bytes(1, source="12ab"), pdu.RINVSRCADR, "not a subscriber's number"),
    (deliver_bytes(3), pdu.RINVOPTPARAMVAL, "ussd_service_op 3"),
])
def test_what_is_not_a_ussd_unit_is_refused_with_its_reason(data: bytes, status: int, says: str) -> None:
    event = receive(UssdSmpp(), data)
    assert isinstance(event, Refused) and event.status == status and says in event.reason


def test_text_is_read_and_written_in_its_coding() -> None:
    ucs2 = receive(UssdSmpp(), deliver_bytes(18, "Réponse ê".encode("utf-16-be"), coding=8, its=0x0502))
    assert isinstance(ucs2, Reply) and ucs2.text == "Réponse ê"
    assert read_text(pdu.decode(deliver_bytes(18, "é".encode("latin-1"), coding=3))) == "é"
    assert write_text("Prêt ?", "ucs2", DIALECTS["default"]) == (8, "Prêt ?".encode("utf-16-be"))
    assert write_text("€ [1]", "gsm7", DIALECTS["default"]) == (0, b"\x1be \x1b<1\x1b>")
    long = "é" * 200  # more than short_message holds: message_payload
    unit = receive(UssdSmpp(), deliver_bytes(1)).unit
    fields = UssdSmpp().submit(Response(unit.session, long, False, coding="ucs2"), unit)
    assert "short_message" not in fields and fields["message_payload"] == long.encode("utf-16-be")


def test_the_vendor_dialect_aborts_with_0x81_and_codes_text_as_dcs_15() -> None:
    mapping = UssdSmpp(DIALECTS["vendor-0x81"])
    unit = receive(mapping, deliver_bytes(1)).unit
    ask = sent(mapping, Response(unit.session, "Menu", False), unit)
    assert (ask.fields["ussd_service_op"], ask.fields["data_coding"]) == (2, 15)
    assert isinstance(receive(mapping, deliver_bytes(0x12, b"1", its=0x0502)), Reply)
    assert isinstance(receive(mapping, deliver_bytes(0x81, b"", its=0x0504)), Abort)
    assert isinstance(receive(mapping, deliver_bytes(0x12, b"1", its=0x0505)), Reply)  # its end flag means nothing


def test_the_umr_dialect_ties_units_by_user_message_reference_and_echoes_it() -> None:
    mapping = UssdSmpp(DIALECTS["umr"])
    first = receive(mapping, deliver_bytes(1, its=None, user_message_reference=4242))
    again = receive(mapping, deliver_bytes(18, b"1", its=None, user_message_reference=4242))
    other = receive(mapping, deliver_bytes(1, its=None, user_message_reference=7))
    assert first.unit.session == again.unit.session != other.unit.session
    ask = sent(mapping, Response(first.unit.session, "Menu", False), first.unit)
    assert ask.fields["user_message_reference"] == 4242 and ask.fields["its_session_info"] is None
    assert isinstance(receive(mapping, deliver_bytes(1, its=None)), Refused)


def test_a_vendor_tlv_dialect_reads_and_echoes_its_tlv() -> None:
    mapping = UssdSmpp(Dialect("tlv", correlation="vendor_tlv", vendor_tag=0x1401, end_flag_aborts=False))
    first = receive(mapping, deliver_bytes(1, its=None, vendor_1401=b"\x00\x2a"))
    assert isinstance(first, Begin) and first.unit.session == f"smpp:centre:{SUBSCRIBER}:002a"
    ask = sent(mapping, Response(first.unit.session, "Menu", False), first.unit)
    assert ask.fields["vendor_1401"] == b"\x00\x2a"


#: The submit_sm answering "Menu" in the ``tlv`` dialect to a deliver_sm whose TLV 0x1401 is empty,
#: as the specification lays it out (built by hand, not by the codec).
SUBMIT_EMPTY_VENDOR_BYTES = bytes.fromhex(
    "00000042" "00000004" "00000000" "0000000c"  # header: 66 octets, submit_sm, ROK, sequence 12
    "5553534400" "00" "00" "31323200"  # service_type USSD, the service: TON 0, NPI 0, "122"
    "01" "01" "3232353037303130323033303400"  # the subscriber: TON 1, NPI 1, as the centre wrote it
    "00" "00" "00" "00" "00" "00" "00" "00" "00"  # esm_class .. sm_default_msg_id (two empty C-strings)
    "04" "4d656e75"  # sm_length 4, "Menu" (GSM 7-bit, unpacked)
    "0501" "0001" "02"  # ussd_service_op 2: USSR request
    "1401" "0000"  # the vendor TLV, echoed as received: tag, length 0, no value
)


def test_a_zero_length_vendor_tlv_is_echoed_with_length_0() -> None:
    """A TLV of length 0 is legal and is the dialogue's tie: it goes back as it came, not dropped
    (smpplib's generator skips an empty octet string)."""
    mapping = UssdSmpp(Dialect("tlv", correlation="vendor_tlv", vendor_tag=0x1401, end_flag_aborts=False))
    data = deliver_bytes(1, its=None) + struct.pack(">HH", 0x1401, 0)
    first = receive(mapping, struct.pack(">L", len(data)) + data[4:])
    assert isinstance(first, Begin) and first.unit.vendor == b""
    out = pdu.encode("submit_sm", 12, **mapping.submit(Response(first.unit.session, "Menu", False), first.unit))
    assert out == SUBMIT_EMPTY_VENDOR_BYTES
    name, known, unknown = pdu.check(out)
    assert (name, unknown) == ("submit_sm", {}) and known.endswith(b"\x14\x01\x00\x00")
    assert pdu.decode(out).fields["vendor_1401"] == b""  # present, empty: not None


@given(value=st.binary(max_size=255))
def test_a_vendor_tlv_is_echoed_octet_for_octet(value: bytes) -> None:
    mapping = UssdSmpp(Dialect("tlv", correlation="vendor_tlv", vendor_tag=0x1401, end_flag_aborts=False))
    tlv = struct.pack(">HH", 0x1401, len(value)) + value
    data = deliver_bytes(1, its=None) + tlv
    unit = receive(mapping, struct.pack(">L", len(data)) + data[4:]).unit
    out = pdu.encode("submit_sm", 12, **mapping.submit(Response(unit.session, "Menu", True), unit))
    assert out.endswith(tlv) and pdu.decode(out).fields["vendor_1401"] == value


def test_the_msisdn_dialect_knows_one_dialogue_per_subscriber() -> None:
    mapping = UssdSmpp(DIALECTS["msisdn"])
    assert receive(mapping, deliver_bytes(1, its=None)).unit.session == f"smpp:centre:{SUBSCRIBER}"


@pytest.mark.parametrize("bad", [
    dict(correlation="by_luck"), dict(correlation="vendor_tlv"), dict(vendor_tag=0x1401),
    dict(reply_ops=frozenset({1})), dict(abort_ops=frozenset({18})),
])
def test_a_dialect_that_cannot_work_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Dialect("bad", **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_122_dialogue_through_the_engine_in_each_dialect(name: str) -> None:
    from simulator.clock import HandsetClock
    from simulator.demo import demo_engine

    engine = demo_engine(clock=HandsetClock(AT))
    dialect = DIALECTS[name]
    mapping = UssdSmpp(dialect)
    correlation = dict(its=0x0700) if dialect.correlation == "its_session_info" else dict(its=None)
    if dialect.correlation == "user_message_reference":
        correlation["user_message_reference"] = 9  # type: ignore[assignment]
    begin = receive(mapping, deliver_bytes(sorted(dialect.begin_ops)[0], b"#122#", **correlation))
    home = sent(mapping, engine.begin(begin.unit.msisdn, begin.code, AT, session_id=begin.unit.session), begin.unit)
    assert home.fields["ussd_service_op"] == dialect.ask_op and b"Mon offre" in home.fields["short_message"]
    reply = receive(mapping, deliver_bytes(sorted(dialect.reply_ops)[0], b"1", **correlation))
    shown = sent(mapping, engine.reply(reply.unit.session, reply.text, AT), reply.unit)
    assert shown.fields["ussd_service_op"] in (dialect.ask_op, dialect.end_op) and shown.fields["short_message"]


@given(op=st.integers(0, 255), its=st.one_of(st.none(), st.integers(0, 0xFFFF)), coding=st.integers(0, 255),
       text=st.binary(max_size=200), source=st.text(alphabet="0123456789+ab", max_size=20),
       dialect=st.sampled_from(sorted(DIALECTS)))
def test_any_deliver_sm_maps_to_an_event(op: int, its: int | None, coding: int, text: bytes, source: str,
                                         dialect: str) -> None:
    event = receive(UssdSmpp(DIALECTS[dialect]), deliver_bytes(op, text, its=its, source=source, coding=coding))
    assert isinstance(event, (Begin, Reply, Abort, Refused))
    if isinstance(event, (Begin, Reply)):
        unit = event.unit
        fields = UssdSmpp(DIALECTS[dialect]).submit(Response(unit.session, "ok", True), unit)
        assert pdu.decode(pdu.encode("submit_sm", 1, **fields)).fields["ussd_service_op"] == DIALECTS[dialect].end_op
