"""SMPP PDUs on bytes: smpplib's codec as fixed at import, the strict layout check, the framer.
The fuzz properties hold for any bytes: a PDU is read or refused with a status, nothing else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import pdu
from gateway.pdu import PduError


def deliver(**overrides: object) -> bytes:
    fields: dict[str, object] = dict(service_type="USSD", source_addr_ton=1, source_addr_npi=1,
                                     source_addr="2250701020304", destination_addr="122", short_message=b"#122#",
                                     ussd_service_op=1, its_session_info=0x0500)
    fields.update(overrides)
    return pdu.encode("deliver_sm", 7, **fields)


#: The octets of a USSD deliver_sm as the specification lays it out (built by hand, not by the codec).
DELIVER_BYTES = bytes.fromhex(
    "00000045" "00000005" "00000000" "00000007"  # header: 69 octets, deliver_sm, ROK, sequence 7
    "5553534400" "01" "01" "3232353037303130323033303400"  # service_type USSD, TON 1, NPI 1, source
    "00" "00" "31323200"  # destination TON, NPI, "122"
    "00" "00" "00" "00" "00" "00" "00" "00" "00"  # esm_class .. sm_default_msg_id (two empty C-strings)
    "05" "2331323223"  # sm_length 5, "#122#"
    "1383" "0002" "0500"  # its_session_info: session 5, sequence 0, not the end
    "0501" "0001" "01"  # ussd_service_op 1: PSSR indication
)


def test_a_ussd_deliver_sm_is_read_field_by_field() -> None:
    read = pdu.decode(DELIVER_BYTES)
    assert (read.command, read.status, read.sequence) == ("deliver_sm", 0, 7)
    assert read.fields["ussd_service_op"] == 1 and read.fields["its_session_info"] == 0x0500
    assert read.fields["source_addr"] == b"2250701020304" and read.fields["short_message"] == b"#122#"
    assert deliver() == DELIVER_BYTES  # and the codec writes the same octets


def test_the_sequence_given_is_the_sequence_sent() -> None:
    """smpplib's shared default client drops ``sequence=`` and sends 0: not here."""
    assert [pdu.header(pdu.encode("enquire_link", n))[3] for n in (1, 42, 0x7FFFFFFF)] == [1, 42, 0x7FFFFFFF]


def test_a_submit_sm_in_ucs2_round_trips() -> None:
    text = "Écran d’accueil: 1 250 F"
    data = pdu.encode("submit_sm", 9, service_type="USSD", source_addr="122", destination_addr="2250701020304",
                      data_coding=8, short_message=text.encode("utf-16-be"), ussd_service_op=2,
                      its_session_info=0x0501)
    read = pdu.decode(data)
    assert read.fields["short_message"].decode("utf-16-be") == text
    fields = read.fields
    assert (fields["data_coding"], fields["ussd_service_op"], fields["its_session_info"]) == (8, 2, 0x0501)


def test_vendor_tlvs_are_kept_apart_and_unknown_ones_do_not_stop_the_read() -> None:
    data = DELIVER_BYTES + struct.pack(">HHB", 0x3FF0, 1, 0x81) + struct.pack(">HH", 0x0600, 0)
    data = struct.pack(">L", len(data)) + data[4:]
    read = pdu.decode(data)
    assert read.unknown_tlvs == {0x3FF0: b"\x81", 0x0600: b""} and read.fields["ussd_service_op"] == 1


VENDOR_TAG = 0x1402
VENDOR = pdu.vendor_tlv(VENDOR_TAG)


@given(st.sampled_from(["submit_sm", "deliver_sm", "data_sm"]), st.binary(max_size=255))
def test_vendor_tlv_values_of_any_length_round_trip(command: str, value: bytes) -> None:
    """Length 0 included: a TLV of tag, length 0 and no value is written, read and checked as given."""
    data = pdu.encode(command, 3, source_addr="2250701020304", destination_addr="122", **{VENDOR: value})
    assert data.endswith(struct.pack(">HH", VENDOR_TAG, len(value)) + value)
    read = pdu.decode(data)
    assert read.fields[VENDOR] == value and read.unknown_tlvs == {}


def with_length(data: bytes) -> bytes:
    return struct.pack(">L", len(data)) + data[4:]


@pytest.mark.parametrize("data, status, says", [
    (DELIVER_BYTES[:10], pdu.RINVCMDLEN, "16-octet header"),
    (struct.pack(">L", 80) + DELIVER_BYTES[4:], pdu.RINVCMDLEN, "command_length says 80"),
    # replace_sm: not on a USSD link
    (with_length(DELIVER_BYTES[:4] + b"\x00\x00\x00\x07" + DELIVER_BYTES[8:]), pdu.RINVCMDID, "0x00000007"),
    (with_length(DELIVER_BYTES[:4] + b"\x00\x01\x02\x00" + DELIVER_BYTES[8:]), pdu.RINVCMDID, "unknown"),
    (with_length(DELIVER_BYTES[:16] + b"USSD"), pdu.RINVSERTYP, "service_type: no NUL"),
    (with_length(DELIVER_BYTES[:23] + b"2" * 30 + b"\x00" + DELIVER_BYTES[37:]), pdu.RINVSRCADR, "source_addr"),
    (with_length(DELIVER_BYTES[:52] + b"\x40" + DELIVER_BYTES[53:]), pdu.RINVMSGLEN, "sm_length says 64"),
    (with_length(DELIVER_BYTES[:-5] + b"\x05\x01\x00\x02\x01\x00"), pdu.RINVPARLEN, "ussd_service_op (0x0501) has 2"),
    (with_length(DELIVER_BYTES[:-11] + b"\x13\x83\x00\x01\x05" + DELIVER_BYTES[-5:]), pdu.RINVPARLEN, "has 1 octet"),
    (with_length(DELIVER_BYTES + b"\x05\x01\x00\x01\x02"), pdu.RINVOPTPARSTREAM, "given twice"),
    (with_length(DELIVER_BYTES + b"\x14\x01\x00\x09\x00"), pdu.RINVOPTPARSTREAM, "says 9 octets"),
    (with_length(DELIVER_BYTES + b"\x14"), pdu.RINVOPTPARSTREAM, "a TLV header has 4"),
    (with_length(DELIVER_BYTES + b"\x04\x24\x00\x01x"), pdu.RINVOPTPARAMVAL,
     "both in short_message and in message_payload"),
])
def test_a_pdu_that_breaks_the_specification_is_refused_and_named(data: bytes, status: int, says: str) -> None:
    with pytest.raises(PduError) as refused:
        pdu.decode(data)
    assert refused.value.status == status and says in str(refused.value)


def test_an_error_response_may_come_without_its_body() -> None:
    data = struct.pack(">LLLL", 16, pdu.CODES["submit_sm_resp"], pdu.RTHROTTLED, 5)
    read = pdu.decode(data)
    assert (read.command, read.status, read.sequence) == ("submit_sm_resp", pdu.RTHROTTLED, 5)
    with pytest.raises(PduError):  # but a successful one has its message_id
        pdu.decode(struct.pack(">LLLL", 16, pdu.CODES["submit_sm_resp"], 0, 5))


def test_generic_nack_is_sixteen_octets() -> None:
    assert pdu.encode_nack(9, pdu.RINVCMDID) == bytes.fromhex("00000010800000000000000300000009")
    assert pdu.decode(pdu.encode_nack(9, pdu.RINVCMDID)).command == "generic_nack"


# -- the framer ------------------------------------------------------------------------------

def test_the_framer_cuts_pdus_however_the_bytes_arrive() -> None:
    stream = pdu.encode("enquire_link", 1) + DELIVER_BYTES + pdu.encode("enquire_link", 2)
    whole = pdu.Framer().feed(stream)
    framer = pdu.Framer()
    bytewise = [frame for i in range(len(stream)) for frame in framer.feed(stream[i:i + 1])]
    assert whole == bytewise == [stream[:16], DELIVER_BYTES, stream[-16:]] and framer.pending == 0


@pytest.mark.parametrize("length", [0, 8, 15, pdu.MAX_PDU + 1, 2**32 - 1])
def test_a_length_no_pdu_has_ends_the_framing(length: int) -> None:
    with pytest.raises(PduError, match=f"command_length {length}"):
        pdu.Framer().feed(struct.pack(">LLLL", length, 0x15, 0, 3))


# -- fuzz: any bytes are read or refused, nothing else escapes --------------------------------

VALID = [DELIVER_BYTES, pdu.encode("enquire_link", 3), pdu.encode("submit_sm_resp", 4, message_id="m1"),
         pdu.encode("bind_transceiver", 1, system_id="gw", password="pw", system_type="USSD"),
         pdu.encode("submit_sm", 9, source_addr="122", destination_addr="2250701020304", short_message=b"Menu",
                    ussd_service_op=2, its_session_info=0x0501)]


@settings(max_examples=3000)
@given(st.binary(max_size=120))
def test_any_bytes_are_a_pdu_or_a_pdu_error(data: bytes) -> None:
    try:
        pdu.decode(data)
    except PduError as exc:
        assert 0 < exc.status <= 0xFF
    try:
        pdu.decode(with_length(data) if len(data) >= 16 else data)
    except PduError:
        pass


@settings(max_examples=3000)
@given(st.sampled_from(VALID), st.data())
def test_mutated_pdus_are_read_or_refused(base: bytes, data: st.DataObject) -> None:
    mutated = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(4, max(4, len(mutated) - 1)))
        if kind == "flip" and at < len(mutated):
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del mutated[at:at + data.draw(st.integers(1, 8))]
        else:
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        read = pdu.decode(with_length(bytes(mutated)) if len(mutated) >= 16 else bytes(mutated))
    except PduError:
        return
    assert read.command in pdu.COMMANDS


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_the_framer_takes_any_bytes(chunks: list[bytes]) -> None:
    framer = pdu.Framer()
    try:
        for chunk in chunks:
            for frame in framer.feed(chunk):
                assert 16 <= len(frame) <= pdu.MAX_PDU and int.from_bytes(frame[:4], "big") == len(frame)
    except PduError as exc:
        assert exc.status == pdu.RINVCMDLEN
