"""USSD over SMPP, sans-IO: deliver_sm in, engine events out; engine responses in, submit_sm out.

SMPP 3.4 carries USSD in ``deliver_sm``/``submit_sm`` with two optional parameters:
``ussd_service_op`` (what the message is: 1 PSSR indication opens a dialogue, 2 USSR request asks,
18 USSR confirm answers, 17 PSSR response ends) and ``its_session_info`` (octet 1 the dialogue's
session number, octet 2 a unit sequence number in bits 7..1 and the end-of-session flag in bit 0).
Centres differ (other op codes, other correlation, other data codings): a :class:`Dialect` names
what one does.

The mapping keeps no state. A dialogue's engine session id is built from what every unit of it
carries (the centre's name, the subscriber, the session number), so any link and any gateway node
reaches the same dialogue in the session store; what a response must echo travels with the event
(:class:`Unit`). Session numbers are recycled: the engine gives each dialogue its own id for what
must never repeat (a debit), and a new dialogue on a recycled number replaces the ended one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from ussd import gsm
from ussd.engine import Response
from ussd.inputs import normalise_phone
from ussd.model import PhoneRule

from .pdu import RINVOPTPARAMVAL, RINVSRCADR, Pdu, vendor_tlv

PSSR_INDICATION: Final = 1
USSR_REQUEST: Final = 2
PSSR_RESPONSE: Final = 17
USSR_CONFIRM: Final = 18

#: How a centre ties the units of one dialogue together.
Correlation = Literal["its_session_info", "user_message_reference", "vendor_tlv", "msisdn"]
CORRELATIONS: Final[tuple[str, ...]] = ("its_session_info", "user_message_reference", "vendor_tlv", "msisdn")
#: data_coding values read as the GSM 7-bit default alphabet (0: the centre's default, 15: the
#: USSD DCS "GSM 7-bit, language unspecified"), as IA5 (ASCII), as Latin-1, and as UCS-2.
GSM7_CODINGS: Final = frozenset({0, 15})
IA5_CODING: Final = 1
LATIN1_CODING: Final = 3
UCS2_CODING: Final = 8
#: The longest message short_message carries; longer ones go in message_payload.
MAX_SHORT_MESSAGE: Final = 254
#: How numbers are read when the mapping is given no rule: Côte d'Ivoire's.
DEFAULT_PHONE: Final = PhoneRule()


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one USSD centre does: its op codes, how it ties a dialogue's units together, its
    data codings. The default is SMPP 3.4 with ``its_session_info``, as most centres do."""

    name: str = "default"
    #: Ops of a deliver_sm that opens a dialogue, and of one that answers a screen.
    begin_ops: frozenset[int] = frozenset({PSSR_INDICATION})
    reply_ops: frozenset[int] = frozenset({USSR_CONFIRM})
    #: Vendor ops that mean the subscriber or the network abandoned the dialogue.
    abort_ops: frozenset[int] = frozenset()
    #: Ops of a submit_sm that asks for an answer, and of the last one.
    ask_op: int = USSR_REQUEST
    end_op: int = PSSR_RESPONSE
    #: A deliver_sm with the end-of-session flag set aborts the dialogue, whatever its op and text.
    end_flag_aborts: bool = True
    correlation: Correlation = "its_session_info"
    #: The TLV tag of a ``vendor_tlv`` correlation.
    vendor_tag: int | None = None
    #: data_coding sent for GSM 7-bit and for UCS-2 text.
    gsm7_coding: int = 0
    ucs2_coding: int = UCS2_CODING
    service_type: str = "USSD"

    def __post_init__(self) -> None:
        if self.correlation not in CORRELATIONS:
            raise ValueError(f"correlation {self.correlation!r}: expected one of {', '.join(CORRELATIONS)}")
        if (self.correlation == "vendor_tlv") != (self.vendor_tag is not None):
            raise ValueError("vendor_tag is given with correlation vendor_tlv, and only then")
        if self.begin_ops & self.reply_ops or (self.begin_ops | self.reply_ops) & self.abort_ops:
            raise ValueError("an op cannot both open, answer and abort a dialogue")


#: Dialects of centres met in the field (see docs/smpp.md).
DIALECTS: Final[dict[str, Dialect]] = {
    "default": Dialect(),
    # Answers come as 0x12 (USSR confirm), a user abort as the vendor op 0x81, not by the end
    # flag; text in the USSD DCS 15.
    "vendor-0x81": Dialect("vendor-0x81", abort_ops=frozenset({0x81}), end_flag_aborts=False, gsm7_coding=15),
    # Ties units by user_message_reference, echoed in each submit_sm; no its_session_info.
    "umr": Dialect("umr", correlation="user_message_reference", end_flag_aborts=False),
    # One dialogue per subscriber at a time: nothing but the number ties the units.
    "msisdn": Dialect("msisdn", correlation="msisdn", end_flag_aborts=False),
}


@dataclass(frozen=True, slots=True)
class Unit:
    """What one deliver_sm said of its dialogue, for the response to echo."""

    #: The engine's session id for the dialogue.
    session: str
    #: The subscriber, E.164 digits (as the engine and the stores know them).
    msisdn: str
    #: The subscriber's address as the centre wrote it (the response goes back to it) and the
    #: service's (the response comes from it).
    address: tuple[int, int, str]
    service: tuple[int, int, str]
    session_number: int = 0
    sequence: int = 0
    user_message_reference: int | None = None
    vendor: bytes | None = None


@dataclass(frozen=True, slots=True)
class Begin:
    unit: Unit
    code: str  # what was dialled: "#122#", "*122*6#"


@dataclass(frozen=True, slots=True)
class Reply:
    unit: Unit
    text: str


@dataclass(frozen=True, slots=True)
class Abort:
    unit: Unit


@dataclass(frozen=True, slots=True)
class Refused:
    """A deliver_sm that is not a USSD unit this gateway can take: answered with ``status``."""

    status: int
    reason: str


Inbound = Begin | Reply | Abort | Refused


def read_text(pdu: Pdu) -> str:
    """The message of a deliver_sm as text, by its data_coding (message_payload if given)."""
    data = pdu.octets("message_payload") or pdu.octets("short_message") or b""
    coding = (pdu.number("data_coding") or 0) & 0xFF
    if coding == UCS2_CODING:
        return data.decode("utf-16-be", "replace")
    if coding == LATIN1_CODING:
        return data.decode("latin-1")
    if coding == IA5_CODING:
        return data.decode("ascii", "replace")
    return gsm.decode_gsm7(data)  # 0, 15 and anything unknown: the default alphabet


def write_text(text: str, coding: str, dialect: Dialect) -> tuple[int, bytes]:
    """(data_coding, octets) of a screen, in the coding the engine chose for it."""
    if coding == "gsm7":
        try:
            return dialect.gsm7_coding, gsm.encode_gsm7(text)
        except gsm.TextCodingError:
            pass  # measured GSM 7-bit, yet not: send it as it is, in UCS-2
    return dialect.ucs2_coding, text.encode("utf-16-be", "surrogatepass")


class UssdSmpp:
    """The USSD mapping of one centre (``peer``, the name its dialogues are known by)."""

    def __init__(self, dialect: Dialect = DIALECTS["default"], peer: str = "centre",
                 phone: PhoneRule = DEFAULT_PHONE) -> None:
        self.dialect = dialect
        self.peer = peer
        self.phone = phone
        self._vendor = vendor_tlv(dialect.vendor_tag) if dialect.vendor_tag is not None else None

    def receive(self, pdu: Pdu) -> Inbound:
        """What a deliver_sm means for a dialogue."""
        dialect = self.dialect
        op = pdu.number("ussd_service_op")
        if op is None:
            return Refused(RINVOPTPARAMVAL, "no ussd_service_op: not a USSD message")
        raw = pdu.text("source_addr")
        msisdn = normalise_phone(raw, self.phone)
        if msisdn is None:
            return Refused(RINVSRCADR, f"source_addr {raw[:24]!r} is not a subscriber's number")
        its = pdu.number("its_session_info")
        number, sequence, ended = (its >> 8, (its & 0xFF) >> 1, its & 1) if its is not None else (0, 0, 0)
        umr = pdu.number("user_message_reference")
        vendor = pdu.octets(self._vendor) if self._vendor is not None else None
        key = self._key(msisdn, number, umr, vendor)
        if isinstance(key, Refused):
            return key
        unit = Unit(f"smpp:{self.peer}:{key}", msisdn,
                    (pdu.number("source_addr_ton") or 0, pdu.number("source_addr_npi") or 0, raw),
                    (pdu.number("dest_addr_ton") or 0, pdu.number("dest_addr_npi") or 0, pdu.text("destination_addr")),
                    number, sequence, umr, vendor)
        if (ended and dialect.end_flag_aborts) or op in dialect.abort_ops:
            return Abort(unit)
        if op in dialect.begin_ops:
            return Begin(unit, read_text(pdu).strip())
        if op in dialect.reply_ops:
            return Reply(unit, read_text(pdu))
        return Refused(RINVOPTPARAMVAL, f"ussd_service_op {op} is none the {dialect.name} dialect takes from a centre")

    def _key(self, msisdn: str, number: int, umr: int | None, vendor: bytes | None) -> str | Refused:
        correlation = self.dialect.correlation
        if correlation == "its_session_info":
            return f"{msisdn}:{number}"
        if correlation == "user_message_reference":
            return f"{msisdn}:{umr}" if umr is not None else Refused(RINVOPTPARAMVAL, "no user_message_reference")
        if correlation == "vendor_tlv":
            if vendor is None:
                return Refused(RINVOPTPARAMVAL, f"no TLV 0x{self.dialect.vendor_tag:04x} to tie the dialogue by")
            return f"{msisdn}:{vendor.hex()}"
        return msisdn

    def submit(self, response: Response, unit: Unit) -> dict[str, Any]:
        """The fields of the submit_sm that shows ``response`` (the caller gives the sequence)."""
        dialect = self.dialect
        coding, data = write_text(response.text, response.coding, dialect)
        fields: dict[str, Any] = {
            "service_type": dialect.service_type,
            "source_addr_ton": unit.service[0], "source_addr_npi": unit.service[1], "source_addr": unit.service[2],
            "dest_addr_ton": unit.address[0], "dest_addr_npi": unit.address[1], "destination_addr": unit.address[2],
            "data_coding": coding,
            "ussd_service_op": dialect.end_op if response.end else dialect.ask_op,
        }
        if len(data) > MAX_SHORT_MESSAGE:
            fields["message_payload"] = data
        else:
            fields["short_message"] = data
        if dialect.correlation == "its_session_info" or unit.session_number or unit.sequence:
            fields["its_session_info"] = (unit.session_number << 8) | (((unit.sequence + 1) & 0x7F) << 1) | response.end
        if unit.user_message_reference is not None:
            fields["user_message_reference"] = unit.user_message_reference
        if unit.vendor is not None and self._vendor is not None:
            fields[self._vendor] = unit.vendor
        return fields
