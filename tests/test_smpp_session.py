"""The SMPP session on bytes, both ends: binding, sequences, the window, keep-alives, unbinding,
and every fault answered as SMPP 3.4 says without ending the session."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import pdu
from gateway.smpp_session import Answer, BindRefused, Bound, Faulty, Request, SmppSession, State, Unbound


def link(window: int = 2) -> tuple[SmppSession, SmppSession]:
    """An ESME and an SMSC, bound to each other."""
    esme, smsc = SmppSession("esme", window=window), SmppSession("smsc")
    esme.bind("transceiver", "gw", "pw", "USSD")
    [request] = smsc.receive(esme.data_to_send())
    assert isinstance(request, Request) and request.pdu.command == "bind_transceiver"
    assert request.pdu.get("password") == b"pw"
    assert smsc.accept_bind(request.pdu) == Bound("transceiver", "gw")
    assert esme.receive(smsc.data_to_send()) == [Bound("transceiver", "ussd-centre")]
    assert esme.state is smsc.state is State.BOUND
    return esme, smsc


def deliver_fields(text: bytes = b"#122#") -> dict[str, object]:
    return dict(source_addr="2250701020304", destination_addr="122", short_message=text, ussd_service_op=1,
                its_session_info=0x0100)


def test_a_refused_bind_closes_the_session() -> None:
    esme, smsc = SmppSession("esme"), SmppSession("smsc")
    esme.bind("transceiver", "gw", "wrong")
    [request] = smsc.receive(esme.data_to_send())
    assert smsc.accept_bind(request.pdu, pdu.RINVPASWD) is None and smsc.state is State.OPEN
    assert esme.receive(smsc.data_to_send()) == [BindRefused(pdu.RINVPASWD)] and esme.state is State.CLOSED


def test_requests_and_answers_are_tied_by_sequence_with_their_tags() -> None:
    esme, smsc = link()
    smsc.request("deliver_sm", tag="d1", **deliver_fields())
    [delivered] = esme.receive(smsc.data_to_send())
    assert isinstance(delivered, Request) and delivered.pdu.get("short_message") == b"#122#"
    esme.respond(delivered.pdu)
    [answer] = smsc.receive(esme.data_to_send())
    assert isinstance(answer, Answer) and (answer.request, answer.tag, answer.status) == ("deliver_sm", "d1", 0)
    assert smsc.outstanding == {}


def test_the_window_holds_requests_until_answers_free_a_place() -> None:
    esme, smsc = link(window=2)
    sequences = [esme.request("submit_sm", tag=n, source_addr="122", destination_addr="225", short_message=b"x")
                 for n in range(5)]
    assert sequences[2:] == [None, None, None] and esme.waiting == 3
    events = smsc.receive(esme.data_to_send())
    assert [e.pdu.sequence for e in events if isinstance(e, Request)] == sequences[:2]
    for event in events:
        smsc.respond(event.pdu, message_id="m")
    answers = esme.receive(smsc.data_to_send())
    assert [a.tag for a in answers] == [0, 1] and esme.waiting == 1  # two more went out
    assert len(smsc.receive(esme.data_to_send())) == 2


def test_throttled_answers_come_back_with_their_status_for_the_caller_to_retry() -> None:
    esme, smsc = link()
    esme.request("submit_sm", tag="s", source_addr="122", destination_addr="225", short_message=b"x")
    [request] = smsc.receive(esme.data_to_send())
    smsc.respond(request.pdu, pdu.RTHROTTLED)
    [answer] = esme.receive(smsc.data_to_send())
    assert isinstance(answer, Answer) and answer.status == pdu.RTHROTTLED and answer.tag == "s"


def test_enquire_link_is_answered_by_the_session_itself_on_both_ends() -> None:
    esme, smsc = link()
    esme.request("enquire_link")
    assert smsc.receive(esme.data_to_send()) == []
    [answer] = esme.receive(smsc.data_to_send())
    assert isinstance(answer, Answer) and answer.request == "enquire_link"


def test_unbind_from_either_end_ends_the_session() -> None:
    esme, smsc = link()
    esme.unbind()
    assert smsc.receive(esme.data_to_send()) == [Unbound()] and smsc.state is State.CLOSED
    assert esme.receive(smsc.data_to_send()) == [Unbound()] and esme.state is State.CLOSED


def nack_of(data: bytes) -> tuple[str, int, int]:
    read = pdu.decode(data)
    return read.command, read.status, read.sequence


def _with_bad_tlv() -> bytes:
    """A deliver_sm whose ussd_service_op TLV has 2 octets instead of 1."""
    good = pdu.encode("deliver_sm", 9, **deliver_fields())
    bad = good[:-5] + b"\x05\x01\x00\x02\x01\x00"
    return struct.pack(">L", len(bad)) + bad[4:]


@pytest.mark.parametrize("bad, answer", [
    (struct.pack(">LLLL", 16, 0x00000007, 0, 9), ("generic_nack", pdu.RINVCMDID, 9)),  # replace_sm
    (struct.pack(">LLLL", 16, 0x00010203, 0, 9), ("generic_nack", pdu.RINVCMDID, 9)),  # vendor command
    (pdu.encode("submit_sm", 9, source_addr="1", destination_addr="2", short_message=b"x"),
     ("generic_nack", pdu.RINVCMDID, 9)),  # a submit_sm is not sent to an ESME
    (_with_bad_tlv(), ("deliver_sm_resp", pdu.RINVPARLEN, 9)),  # a known request: its own response says why
])
def test_a_bad_pdu_is_answered_and_the_session_goes_on(bad: bytes, answer: tuple[str, int, int]) -> None:
    esme, smsc = link()
    [fault] = esme.receive(bad)
    assert isinstance(fault, Faulty) and not fault.fatal
    assert nack_of(esme.data_to_send()) == answer
    assert esme.state is State.BOUND  # and the link carries on
    smsc.request("deliver_sm", **deliver_fields())
    assert isinstance(esme.receive(smsc.data_to_send())[0], Request)


def test_a_response_to_no_request_is_named_and_not_answered() -> None:
    esme, _ = link()
    [fault] = esme.receive(pdu.encode("submit_sm_resp", 77, message_id="m"))
    assert isinstance(fault, Faulty) and "answers no request" in str(fault.error)
    assert esme.data_to_send() == b""


def test_requests_before_a_bind_are_refused() -> None:
    smsc = SmppSession("smsc")
    [fault] = smsc.receive(pdu.encode("submit_sm", 3, source_addr="1", destination_addr="2", short_message=b"x"))
    assert isinstance(fault, Faulty) and nack_of(smsc.data_to_send()) == ("submit_sm_resp", pdu.RINVBNDSTS, 3)


def test_a_stream_that_cannot_be_framed_is_fatal() -> None:
    esme, _ = link()
    [fault] = esme.receive(struct.pack(">LLLL", 8, 0, 0, 4))
    assert isinstance(fault, Faulty) and fault.fatal and esme.state is State.CLOSED
    assert nack_of(esme.data_to_send()) == ("generic_nack", pdu.RINVCMDLEN, 4)


@settings(max_examples=1000)
@given(st.lists(st.binary(max_size=64), max_size=8), st.sampled_from(["esme", "smsc"]))
def test_any_bytes_make_events_and_valid_answers(chunks: list[bytes], role: str) -> None:
    esme, smsc = link()
    session = esme if role == "esme" else smsc
    for chunk in chunks:
        for event in session.receive(chunk):
            assert isinstance(event, (Request, Answer, Bound, BindRefused, Unbound, Faulty))
    out = session.data_to_send()
    for frame in pdu.Framer().feed(out):  # whatever it answers is itself a valid PDU
        assert pdu.decode(frame).command in pdu.COMMANDS


@pytest.mark.parametrize("answer", [
    pdu.encode("enquire_link_resp", 1),  # the wrong command
    struct.pack(">LLLL", 16, pdu.CODES["bind_transceiver_resp"], 0, 1),  # ROK without its system_id
])
def test_a_bind_answered_by_anything_but_its_response_is_no_bind(answer: bytes) -> None:
    esme = SmppSession("esme")
    esme.bind("transceiver", "gw", "pw")
    [event] = esme.receive(answer)
    assert isinstance(event, BindRefused) and esme.state is State.CLOSED
