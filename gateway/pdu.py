"""SMPP 3.4 PDUs as bytes: smpplib's codec, made fit for USSD and strict about what it reads.

smpplib (the design card's codec) builds and parses every PDU a USSD link uses, but it was written
for an ESME that trusts its centre: ``deliver_sm`` lacks ``ussd_service_op``, a ``sequence=`` given
to it is dropped in favour of a shared default client, an unknown TLV is logged and skipped (or
raises), and it reads past what ``command_length``, a C-octet string's NUL or a TLV's length says.
This module fixes the codec once, at import (:func:`register_tlv`), and checks every PDU's layout
against smpplib's own field tables before smpplib reads it (:func:`check`), so a PDU that breaks
the specification is refused with the status the specification names and a message saying where.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final, cast

from smpplib import command, command_codes, consts, smpp
from smpplib.command import Param
from smpplib.ptypes import flag, ostr

HEADER: Final = struct.Struct(">LLLL")
#: The largest PDU read: a submit_sm's mandatory part, every TLV once and a 64 KB message_payload
#: come to 65,915 octets; anything larger is not SMPP.
MAX_PDU: Final = 70_000

ROK: Final = consts.SMPP_ESME_ROK
RINVMSGLEN: Final = consts.SMPP_ESME_RINVMSGLEN
RINVCMDLEN: Final = consts.SMPP_ESME_RINVCMDLEN
RINVCMDID: Final = consts.SMPP_ESME_RINVCMDID
RINVBNDSTS: Final = consts.SMPP_ESME_RINVBNDSTS
RSYSERR: Final = consts.SMPP_ESME_RSYSERR
RINVSRCADR: Final = consts.SMPP_ESME_RINVSRCADR
RINVDSTADR: Final = consts.SMPP_ESME_RINVDSTADR
RBINDFAIL: Final = consts.SMPP_ESME_RBINDFAIL
RINVPASWD: Final = consts.SMPP_ESME_RINVPASWD
RINVSYSID: Final = consts.SMPP_ESME_RINVSYSID
RINVSERTYP: Final = consts.SMPP_ESME_RINVSERTYP
RTHROTTLED: Final = consts.SMPP_ESME_RTHROTTLED
RINVOPTPARSTREAM: Final = consts.SMPP_ESME_RINVOPTPARSTREAM
RINVPARLEN: Final = consts.SMPP_ESME_RINVPARLEN
RINVOPTPARAMVAL: Final = consts.SMPP_ESME_RINVOPTPARAMVAL
RALYBND: Final = consts.SMPP_ESME_RALYBND
RMSGQFUL: Final = consts.SMPP_ESME_RMSGQFUL
RX_T_APPN: Final = consts.SMPP_ESME_RX_T_APPN

GENERIC_NACK: Final = command_codes.commands["generic_nack"]
RESPONSE_BIT: Final = 0x80000000

#: What the link speaks: smpplib knows more commands, but an USSD link uses these (a request for
#: any other gets generic_nack ESME_RINVCMDID).
COMMANDS: Final[frozenset[str]] = frozenset({
    "bind_transmitter", "bind_transmitter_resp", "bind_receiver", "bind_receiver_resp",
    "bind_transceiver", "bind_transceiver_resp", "submit_sm", "submit_sm_resp", "deliver_sm",
    "deliver_sm_resp", "data_sm", "data_sm_resp", "enquire_link", "enquire_link_resp", "unbind",
    "unbind_resp", "generic_nack",
})
NAMES: Final[dict[int, str]] = {code: name for name, code in command_codes.commands.items() if name in COMMANDS}
CODES: Final[dict[str, int]] = {name: code for code, name in NAMES.items()}

#: The status a malformed mandatory field is refused with (others: ESME_RINVCMDLEN).
_FIELD_STATUS: Final[dict[str, int]] = {
    "source_addr": RINVSRCADR, "destination_addr": RINVDSTADR, "service_type": RINVSERTYP,
    "system_id": RINVSYSID, "password": RINVPASWD, "short_message": RINVMSGLEN, "sm_length": RINVMSGLEN,
}


def register_tlv(cls: type[command.Command], name: str, tag: int, param: Param) -> None:
    """Teach one of smpplib's command classes an optional parameter (idempotent)."""
    if consts.OPTIONAL_PARAMS.setdefault(name, tag) != tag:
        raise ValueError(f"TLV {name} is 0x{consts.OPTIONAL_PARAMS[name]:04x} already, not 0x{tag:04x}")
    if name not in cls.params:
        cls.params = {**cls.params, name: param}  # a class of its own: the parent keeps its table
    if name not in cls.params_order:
        cls.params_order = (*cls.params_order, name)
    for command_name, known in globals().get("_CLASSES", {}).items():
        if known is cls:
            _TLVS[command_name][tag] = (name, param)


def vendor_tlv(tag: int) -> str:
    """Read and write the vendor TLV ``tag`` (an octet string) on the USSD messages, for a dialect
    that ties a dialogue's units by it; the name it goes by in a PDU's fields."""
    if not 0x1400 <= tag <= 0x3FFF:
        raise ValueError(f"0x{tag:04x} is not a vendor TLV tag (0x1400-0x3FFF)")
    name = f"vendor_{tag:04x}"
    for cls in (command.SubmitSM, command.DeliverSM, command.DataSM):
        register_tlv(cls, name, tag, Param(type=ostr, max=255))
    return name


# smpplib's deliver_sm and data_sm lack the USSD operation (its submit_sm has it).
for _cls in (command.DeliverSM, command.DataSM):
    register_tlv(_cls, "ussd_service_op", 0x0501, Param(type=int, size=1))


def _generate_ostring_tlv(self: command.Command, name: str) -> bytes | None:
    """An octet-string TLV, written whenever it is given. smpplib's own writes it only if its value
    is truthy, so ``b""`` was dropped: yet tag, length 0 and no value is a legal TLV, and one a
    centre sends (a vendor TLV a dialogue is tied by) must be echoed as it came. ``None`` is absent."""
    value: bytes | None = getattr(self, name, None)
    if value is None:
        return None
    return struct.pack(">HH", command.get_optional_code(name), len(value)) + value


command.Command._generate_ostring_tlv = _generate_ostring_tlv


def _is_optional(cls: type[command.Command], name: str) -> bool:
    """What smpplib itself treats as a TLV (``Command.field_is_optional``)."""
    return name in consts.OPTIONAL_PARAMS and name not in getattr(cls, "mandatory_fields", ())


_CLASSES: Final[dict[str, type[command.Command]]] = {
    name: type(smpp.make_pdu(name, client=None, sequence=0)) for name in COMMANDS
}
#: Per command: tag -> (name, param) of the TLVs smpplib reads for it.
_TLVS: Final[dict[str, dict[int, tuple[str, Param]]]] = {
    name: {consts.OPTIONAL_PARAMS[f]: (f, p) for f, p in cls.params.items() if _is_optional(cls, f)}
    for name, cls in _CLASSES.items()
}


class PduError(Exception):
    """A PDU that breaks the specification: the status to answer with, and what is wrong where.
    ``command_id`` and ``sequence`` are those of the header, when it could be read (else 0)."""

    def __init__(self, status: int, message: str, command_id: int = 0, sequence: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence

    @property
    def command(self) -> str:
        return NAMES.get(self.command_id, f"0x{self.command_id:08x}")

    def __str__(self) -> str:
        return f"{self.command} #{self.sequence}: {self.args[0]} (status 0x{self.status:02x})"


class _Codec:
    """Stands in for smpplib's shared default client: no sequence of its own, so every PDU built
    carries the sequence it is given, and none is drawn behind the caller's back."""

    sequence = None

    def next_sequence(self) -> int:
        raise TypeError("a PDU needs its sequence number")


_CODEC: Final = _Codec()


#: A field's value as smpplib reads it: octets for strings, an int, None when absent.
FieldValue = bytes | int | None


@dataclass(slots=True)
class Pdu:
    """A PDU read: its header, its fields, and the TLVs smpplib does not know for this command
    (vendor ones a dialect may correlate on)."""

    command: str
    status: int
    sequence: int
    fields: dict[str, FieldValue] = field(default_factory=dict)
    unknown_tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def command_id(self) -> int:
        return CODES[self.command]

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def get(self, name: str, default: Any = None) -> Any:
        """A field as smpplib read it, ``default`` when absent (untyped: :meth:`number`,
        :meth:`octets` and :meth:`text` say what they return)."""
        value = self.fields.get(name)
        return default if value is None else value

    def number(self, name: str) -> int | None:
        """An integer field (None when absent)."""
        value = self.fields.get(name)
        return value if isinstance(value, int) else None

    def octets(self, name: str) -> bytes | None:
        """A string field's octets (None when absent)."""
        value = self.fields.get(name)
        return value if isinstance(value, bytes) else None

    def text(self, name: str) -> str:
        """A C-octet string field (an address, a system_id) as text; "" when absent."""
        return (self.octets(name) or b"").decode("latin-1")


def encode(name: str, sequence: int, status: int = ROK, **fields: Any) -> bytes:
    """One PDU as bytes. C-octet strings are ``str`` (ASCII), octet strings ``bytes``."""
    pdu = smpp.make_pdu(name, client=_CODEC, sequence=sequence, **fields)
    pdu.sequence = sequence
    pdu.status = status
    return cast(bytes, pdu.generate())


def encode_nack(sequence: int, status: int) -> bytes:
    """``generic_nack``: the answer to a PDU that cannot be answered in kind."""
    return HEADER.pack(16, GENERIC_NACK, status, sequence)


def header(data: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number)."""
    return HEADER.unpack_from(data)


def decode(data: bytes) -> Pdu:
    """A whole PDU (as :class:`Framer` cuts them), checked (:func:`check`) and read."""
    name, known, unknown = check(data)
    body = data if len(known) == len(data) - 16 else data[:16] + known
    parsed = smpp.parse_pdu(body, client=_CODEC, sequence=0)
    cls = _CLASSES[name]
    fields = {f: getattr(parsed, f, None) for f in cls.params}
    return Pdu(name, parsed.status, parsed.sequence, fields, unknown)


def check(data: bytes) -> tuple[str, bytes, dict[int, bytes]]:
    """Check a PDU's layout against the specification: its length, each mandatory field (a C-octet
    string ends with NUL within its size), each TLV (its length within the PDU and, for those the
    command knows, the size its type has); a known TLV given twice, or a message given both in
    ``short_message`` and ``message_payload``, is refused. Returns the command's name, the body
    with only the TLVs smpplib knows for it, and the others by tag; raises :class:`PduError`."""
    size = len(data)
    if size < 16:
        raise PduError(RINVCMDLEN, f"{size} octets: a PDU has a 16-octet header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != size:
        raise PduError(RINVCMDLEN, f"command_length says {length}, the PDU has {size} octets", command_id, sequence)
    name = NAMES.get(command_id)
    if name is None:
        raise PduError(RINVCMDID, f"unknown or unsupported command_id 0x{command_id:08x}", command_id, sequence)

    def refuse(code: int, message: str) -> PduError:
        return PduError(code, message, command_id, sequence)

    cls = _CLASSES[name]
    pos = 16
    mandatory = [f for f in cls.params_order if not _is_optional(cls, f)]
    if pos == size and mandatory and (command_id & RESPONSE_BIT) and status != ROK:
        mandatory = []  # an error response may come without its body
    values: dict[str, int] = {}
    for fname in mandatory:
        param = cls.params[fname]
        code = _FIELD_STATUS.get(fname, RINVCMDLEN)
        if param.type is int:
            width = param.size
            if pos + width > size:
                raise refuse(RINVCMDLEN, f"{fname}: the PDU ends before its {width} octet(s)")
            values[fname] = int.from_bytes(data[pos:pos + width], "big")
            pos += width
        elif param.type is str:
            limit: int = getattr(param, "max", 0) or getattr(param, "size", 1)
            end = data.find(b"\x00", pos, pos + limit)
            if end < 0:
                raise refuse(code, f"{fname}: no NUL within its {limit} octets (a C-octet string ends with one)")
            pos = end + 1
        elif param.type is ostr:
            width = values.get(param.len_field, 0)
            if width > 254:
                raise refuse(RINVMSGLEN, f"{param.len_field} {width}: at most 254 octets (longer: message_payload)")
            if pos + width > size:
                raise refuse(RINVMSGLEN, f"{fname}: {param.len_field} says {width} octets, "
                                         f"{size - pos} remain")
            pos += width
    known = bytearray(data[16:pos])
    unknown: dict[int, bytes] = {}
    seen: set[int] = set()
    tlvs = _TLVS[name]
    while pos < size:
        if pos + 4 > size:
            raise refuse(RINVOPTPARSTREAM, f"{size - pos} octet(s) after the last parameter: a TLV header has 4")
        tag, width = struct.unpack_from(">HH", data, pos)
        end = pos + 4 + width
        if end > size:
            raise refuse(RINVOPTPARSTREAM, f"TLV 0x{tag:04x} says {width} octets, {size - pos - 4} remain")
        spec = tlvs.get(tag)
        if spec is None:
            unknown[tag] = bytes(data[pos + 4:end])
        else:
            tname, param = spec
            if tag in seen:
                raise refuse(RINVOPTPARSTREAM, f"TLV {tname} (0x{tag:04x}) is given twice")
            seen.add(tag)
            expected = 0 if param.type is flag else getattr(param, "size", None) if param.type is int else None
            if expected is not None and width != expected:
                raise refuse(RINVPARLEN, f"TLV {tname} (0x{tag:04x}) has {width} octet(s), its type {expected}")
            if param.type is str and (width == 0 or data[end - 1] != 0):
                raise refuse(RINVPARLEN, f"TLV {tname} (0x{tag:04x}) is a C-octet string without its NUL")
            known += data[pos:end]
        pos = end
    if values.get("sm_length") and consts.OPTIONAL_PARAMS["message_payload"] in seen:
        raise refuse(RINVOPTPARAMVAL, "a message given both in short_message and in message_payload")
    return name, bytes(known), unknown


class Framer:
    """Bytes from a stream in, whole PDUs out (``command_length`` counts itself, so Twisted's
    length-prefixed receivers do not fit). A length no PDU can have means the stream cannot be
    framed any more: :class:`PduError`, after which the link is closed."""

    def __init__(self, max_pdu: int = MAX_PDU) -> None:
        self.max_pdu = max_pdu
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while len(buffer) >= 4:
            length = int.from_bytes(buffer[:4], "big")
            if length < 16 or length > self.max_pdu:
                sequence = int.from_bytes(buffer[12:16], "big") if len(buffer) >= 16 else 0
                raise PduError(RINVCMDLEN, f"command_length {length}: a PDU has 16 to {self.max_pdu:,} octets",
                               sequence=sequence)
            if len(buffer) < length:
                break
            out.append(bytes(buffer[:length]))
            del buffer[:length]
        return out

    @property
    def pending(self) -> int:
        """Octets received that do not make a whole PDU yet."""
        return len(self._buffer)
