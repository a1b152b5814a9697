"""The fake USSD centre: what QA, the tests and the benchmarks dial through instead of the operator's.

A handset dials; the centre opens a dialogue, carries it to a bound gateway (an ESME) as
``deliver_sm`` in the configured dialect, and checks every ``submit_sm`` that comes back against
that dialogue, strictly: a gateway that passes here writes what a real centre reads, and each
fault is refused with the status SMPP names and recorded (:attr:`Centre.violations`). Network
timers end the dialogues a gateway is too slow for, on both sides.

The core, :class:`Centre`, is sans-IO (as python-hyper's h11): bytes from links and commands from
handsets go in with the time, and bytes for links, events for handsets and closings come out of
:meth:`Centre.outputs`; timers run when :meth:`Centre.tick` is told the time, so tests drive it with
plain floats. The SMPP side is :class:`gateway.smpp_session.SmppSession` in the ``smsc`` role (it
frames, refuses malformed PDUs, answers ``enquire_link`` and ``unbind``); the USSD side is the
gateway's own :class:`~gateway.ussd_smpp.Dialect`, read the other way round.

The Twisted shell (:class:`CentreFactory`) serves one TCP port for both: a connection whose first
octet is 0x00 speaks SMPP (a ``command_length`` under 16 MB), any other speaks the handset protocol,
one JSON object a line::

    handset -> centre  {"dial": "#122#", "msisdn": "2250701020304"}  {"reply": "1"}  {"hangup": true}
    centre -> handset  {"session": "...", "text": "...", "end": false, "coding": "gsm7", "units": 12}
                       {"session": "...", "end": true, "timeout": true, "text": "", "reason": "step timeout"}
                       {"error": "no gateway bound"}    (with "end": true when it ended the dialogue)

``dial`` and ``reply`` get exactly one line each (a screen, a timeout or an error); ``hangup`` gets
none. A timer that ends a dialogue while the subscriber is reading sends its line unasked, and a
reply that crossed it is dropped, so a blocking client (:mod:`simulator.centre_client`) never reads
an answer meant for an earlier command.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import signal
import sys
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, Literal

from smpplib import consts
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from gateway import pdu as codec
from gateway.pdu import Pdu, vendor_tlv
from gateway.smpp_session import Answer, Faulty, Request, SmppSession, State, Unbound
from gateway.tcp import no_delay
from gateway.ussd_smpp import DIALECTS, MAX_SHORT_MESSAGE, Dialect, write_text
from ussd import gsm
from ussd.inputs import normalise_phone
from ussd.loader import split_short_code
from ussd.model import PhoneRule

log = logging.getLogger("simulator.centre")

RSUBMITFAIL: Final = consts.SMPP_ESME_RSUBMITFAIL
RMISSINGOPTPARAM: Final = consts.SMPP_ESME_RMISSINGOPTPARAM
RINVDSTTON: Final = consts.SMPP_ESME_RINVDSTTON
RINVDSTNPI: Final = consts.SMPP_ESME_RINVDSTNPI
#: The longest handset line read; past it the line is dropped up to its end.
MAX_LINE: Final = 4096
#: Session numbers of one subscriber (its_session_info's first octet).
SESSION_NUMBERS: Final = 256
_ITS = "its_session_info"
#: A GSM 7-bit escape not followed by a code of the extension table (at the end, or before any other).
_BAD_ESCAPE: Final = re.compile(b"\x1b(?![" + re.escape(bytes(sorted(gsm.EXTENSION_TABLE))) + b"])")


#: Step latencies a centre keeps (the latest).
LATENCIES_KEPT: Final = 200_000
#: How the centre writes subscribers' numbers unless told otherwise: Côte d'Ivoire's (+225).
DEFAULT_PHONE: Final = PhoneRule()


@dataclass(frozen=True, slots=True)
class CentreConfig:
    """How the centre behaves; the defaults are a lenient-about-binds, strict-about-USSD centre."""

    dialect: Dialect = DIALECTS["default"]
    #: None: any system_id (password) binds; else only this one (ESME_RINVSYSID / ESME_RINVPASWD).
    system_id: str | None = None
    password: str | None = None
    #: Seconds the gateway has to answer each handset input (dial or reply).
    step_timeout: float = 30.0
    #: Seconds a whole dialogue may last.
    max_duration: float = 180.0
    #: Seconds of silence on a link before an enquire_link; as long again for its answer (else the
    #: link is closed), and for a new connection to bind. None: no keep-alive.
    enquire_interval: float | None = 30.0
    #: At most this many submit_sm a second on one link (more: ESME_RTHROTTLED); None: no limit.
    throttle: int | None = None
    #: The system_id the centre answers binds with.
    name: str = "ussd-centre"
    #: deliver_sm in flight on one link at once.
    window: int = 10
    #: The longest reply carried, in GSM 7-bit or UCS-2 units; None: a USSD string's own (182
    #: septets, 80 UCS-2 units), as handsets and the network allow. QA may raise it to see how a
    #: gateway takes what some centres pass on (a text over 254 octets goes in message_payload).
    reply_limit: int | None = None
    #: What goes round the gateway's receiving binds: whole ``dialogues`` (each keeps its bind
    #: while it receives, as most centres do), or each ``steps``' unit to the next bind (several
    #: gateway nodes sharing their dialogues each take steps of one dialogue in turn).
    spread: Literal["dialogues", "steps"] = "dialogues"


# -- what comes out ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Screen:
    """A screen the gateway sent, for the handset to show."""

    session: str
    text: str
    end: bool
    coding: Literal["gsm7", "ucs2"]
    #: Septets (gsm7) or UTF-16 units (ucs2), as on the air.
    units: int


@dataclass(frozen=True, slots=True)
class TimedOut:
    """A network timer ended the dialogue (``reason``: "step timeout" or "dialogue limit")."""

    session: str
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A handset command the centre could not carry out; ``end``: the dialogue is over too."""

    message: str
    end: bool = False
    session: str | None = None


HandsetEvent = Screen | TimedOut | Failed


@dataclass(frozen=True, slots=True)
class ToLink:
    link: Hashable
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseLink:
    """Close the connection (after writing what was sent to it before)."""

    link: Hashable


@dataclass(frozen=True, slots=True)
class ToHandset:
    handset: Hashable
    event: HandsetEvent


Output = ToLink | CloseLink | ToHandset


@dataclass(frozen=True, slots=True)
class Violation:
    """A submit_sm (or data_sm) refused: which rule it broke, the status it got, and why."""

    rule: str
    status: int
    message: str
    link: Hashable
    sequence: int

    def __str__(self) -> str:
        return f"{self.rule}: {self.message} (status 0x{self.status:02x}, PDU #{self.sequence})"


class _Refusal(Exception):
    def __init__(self, rule: str, status: int, message: str) -> None:
        super().__init__(message)
        self.rule, self.status = rule, status


# -- the handset protocol ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Dial:
    msisdn: str
    code: str


@dataclass(frozen=True, slots=True)
class Type:
    """The subscriber typed ``text`` and pressed send."""

    text: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Command = Dial | Type | Hangup
_KEYS: Final[dict[str, frozenset[str]]] = {
    "dial": frozenset({"dial", "msisdn"}), "reply": frozenset({"reply"}), "hangup": frozenset({"hangup"}),
}
_USAGE: Final = 'expected {"dial": CODE, "msisdn": NUMBER}, {"reply": TEXT} or {"hangup": true}'


def _shown(value: Any, limit: int = 40) -> str:
    """A value from the peer, for a message: quoted, and never long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_command(line: bytes) -> Command | str:
    """One handset line -> its command, or (a str) why it is none. Never raises."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8: a line is one JSON object in UTF-8"
    except (ValueError, RecursionError) as exc:
        return f"not JSON ({str(exc)[:60]}): {_USAGE}"
    if not isinstance(obj, dict):
        return f"not a JSON object: {_USAGE}"
    verbs = [verb for verb in _KEYS if verb in obj]
    if len(verbs) != 1:
        return f"{'no' if not verbs else 'more than one'} command in the line: {_USAGE}"
    verb = verbs[0]
    unknown = sorted(set(obj) - _KEYS[verb])
    if unknown:
        return f"unknown key(s) {', '.join(map(_shown, unknown[:3]))} in a {verb}: {_USAGE}"
    value = obj[verb]
    if verb == "dial":
        msisdn = obj.get("msisdn")
        if not isinstance(value, str) or not isinstance(msisdn, str):
            return 'a dial gives "dial" (the code) and "msisdn" (the number), both strings'
        return Dial(msisdn, value)
    if verb == "reply":
        return Type(value) if isinstance(value, str) else f"reply {_shown(value)}: a reply is a string"
    return Hangup() if value is True else f"hangup {_shown(value)}: write {{\"hangup\": true}}"


def encode_event(event: HandsetEvent) -> bytes:
    """A handset event as its JSON line (ASCII: whatever the text, the line is valid UTF-8)."""
    obj: dict[str, Any]
    if isinstance(event, Screen):
        obj = {"session": event.session, "text": event.text, "end": event.end, "coding": event.coding,
               "units": event.units}
    elif isinstance(event, TimedOut):
        obj = {"session": event.session, "end": True, "timeout": True, "text": "", "reason": event.reason}
    else:
        obj = {"error": event.message}
        if event.end:
            obj.update(end=True, text="", session=event.session)
    return json.dumps(obj).encode("ascii") + b"\n"


class LineBuffer:
    """Bytes in, lines out (without their end); a line longer than ``max_line`` comes out as None,
    once, and is dropped up to its end, so a peer that never sends a newline costs bounded memory."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        buffer = self._buffer
        buffer += data
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > self.max_line:
                    if not self._skipping:
                        out.append(None)
                    self._skipping = True
                    buffer.clear()
                return out
            line = bytes(buffer[:end]).rstrip(b"\r")
            del buffer[:end + 1]
            if self._skipping:
                self._skipping = False
            elif len(line) > self.max_line:
                out.append(None)
            else:
                out.append(line)


# -- the core ------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Link:
    key: Hashable
    session: SmppSession
    opened: float
    #: When anything last came from the ESME.
    heard: float
    system_id: str = ""
    #: Bytes received while the centre is frozen, read when it thaws.
    held: bytearray = field(default_factory=bytearray)
    closing: bool = False
    #: When this link's recent submit_sm passed the throttle.
    submits: deque[float] = field(default_factory=deque)
    #: When our unanswered enquire_link went.
    enquiring: float | None = None

    @property
    def bound(self) -> bool:
        return self.session.state is State.BOUND and not self.closing

    @property
    def receives(self) -> bool:
        return self.bound and self.session.bind_mode in ("transceiver", "receiver")

    @property
    def transmits(self) -> bool:
        return self.session.bind_mode in ("transceiver", "transmitter")


@dataclass(eq=False)
class _Dialogue:
    id: int
    handset: Hashable
    msisdn: str
    code: str
    #: The service's address: the digits of the code (destination_addr of our units).
    service: str
    number: int
    started: float
    #: Whose turn it is: the gateway's (it owes a screen) or the subscriber's.
    turn: Literal["esme", "handset"] = "esme"
    #: The last unit's sequence (its_session_info bits 7..1), ours or the gateway's.
    sequence: int = 0
    link: Hashable | None = None
    step_deadline: float | None = None
    vendor: bytes | None = None
    #: When the unit now awaiting its screen went to the gateway (for ``Centre.latencies``).
    delivered_at: float | None = None

    @property
    def session(self) -> str:
        return f"centre:{self.msisdn}:{self.number}"

    def deadline(self, max_duration: float) -> float:
        total = self.started + max_duration
        return total if self.step_deadline is None else min(total, self.step_deadline)


class Centre:
    """The USSD centre's dialogues and links, sans-IO. Links and handsets are any hashable keys
    the caller picks (the shell uses its protocol objects); every method that takes ``now`` may
    leave outputs, which :meth:`outputs` hands over."""

    def __init__(self, config: CentreConfig = CentreConfig(), phone: PhoneRule = DEFAULT_PHONE) -> None:
        self.config = config
        self.dialect = config.dialect
        self.phone = phone
        self._vendor = vendor_tlv(self.dialect.vendor_tag) if self.dialect.vendor_tag is not None else None
        #: Every submit_sm refused for breaking a rule, in order (tests assert on it).
        self.violations: list[Violation] = []
        #: Every other fault of a peer (a malformed PDU, a refused deliver_sm, a dead link), in words.
        self.faults: list[str] = []
        #: submit_sm answered ESME_RTHROTTLED.
        self.throttled = 0
        #: Seconds from each unit's deliver_sm to its screen's submit_sm (the gateway's time per
        #: step, as the network sees it), the latest ones.
        self.latencies: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self._links: dict[Hashable, _Link] = {}
        self._turn = 0
        self._open: dict[str, dict[int, _Dialogue]] = {}  # msisdn -> session number -> dialogue
        self._by_id: dict[int, _Dialogue] = {}
        self._handsets: dict[Hashable, _Dialogue] = {}
        #: Handsets told unasked that their dialogue ended: a reply that crossed that line is dropped.
        self._crossed: set[Hashable] = set()
        self._events: list[ToHandset] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._frozen = False
        self._stopping = False

    # -- what the caller sees ----------------------------------------------------------------

    def outputs(self) -> list[Output]:
        """Everything to write or close since the last call (a link's bytes before its closing)."""
        out: list[Output] = list(self._events)
        self._events.clear()
        for link in list(self._links.values()):
            if not self._frozen or link.closing:
                data = link.session.data_to_send()
                if data:
                    out.append(ToLink(link.key, data))
            if link.closing:
                out.append(CloseLink(link.key))
                del self._links[link.key]
        return out

    def open_dialogues(self) -> list[tuple[str, int]]:
        """(subscriber, session number) of each open dialogue."""
        return sorted((d.msisdn, d.number) for d in self._by_id.values())

    @property
    def links(self) -> int:
        """Connections the centre holds (bound or not)."""
        return len(self._links)

    def bound_links(self) -> dict[Hashable, str]:
        """Bound links and their modes."""
        return {link.key: link.session.bind_mode for link in self._links.values() if link.bound}

    # -- links -------------------------------------------------------------------------------

    def open_link(self, link: Hashable, now: float) -> None:
        """A new SMPP connection."""
        self._links[link] = _Link(link, SmppSession("smsc", window=self.config.window), now, now)
        if self._stopping:
            self._links[link].closing = True

    def link_data(self, link: Hashable, data: bytes, now: float) -> None:
        """Bytes from an SMPP connection."""
        state = self._links.get(link)
        if state is None or state.closing:
            return
        state.heard = now
        if self._frozen:
            state.held += data
            return
        for event in state.session.receive(data, now):
            self._link_event(state, event, now)

    def close_link(self, link: Hashable, now: float) -> None:
        """The connection is gone. Its dialogues stay: their next units go by another link."""
        state = self._links.pop(link, None)
        if state is not None and state.bound:
            log.info("link %s (%s %s) lost", link, state.session.bind_mode, state.system_id)

    def _link_event(self, link: _Link, event: Any, now: float) -> None:
        if isinstance(event, Request):
            read = event.pdu
            if read.command.startswith("bind_"):
                self._bind(link, read)
            elif read.command == "submit_sm":
                self._submit(link, read, now)
            else:  # data_sm: the dialects carry USSD in submit_sm
                refusal = _Refusal("data_sm", codec.RINVCMDID,
                                   f"data_sm: the {self.dialect.name} dialect carries USSD in submit_sm")
                self._refuse(link, read, refusal)
        elif isinstance(event, Answer):
            self._answered(link, event)
        elif isinstance(event, Unbound):
            log.info("link %s (%s) unbound", link.key, link.system_id)
            link.closing = True
        elif isinstance(event, Faulty):
            closed = " (closed: the stream cannot be read)" if event.fatal else ""
            self._fault(f"link {link.key}: {event.error}{closed}")
            if event.fatal:
                link.closing = True

    def _bind(self, link: _Link, read: Pdu) -> None:
        config = self.config
        system_id = read.get("system_id", b"").decode("latin-1")
        status = codec.ROK
        if config.system_id is not None and system_id != config.system_id:
            status = codec.RINVSYSID
        elif config.password is not None and read.get("password", b"").decode("latin-1") != config.password:
            status = codec.RINVPASWD
        if link.session.accept_bind(read, status, system_id=config.name) is None:
            self._fault(f"link {link.key}: {read.command} of {_shown(system_id)} refused (status 0x{status:02x})")
            return
        link.system_id = system_id
        log.info("link %s bound as %s by %s", link.key, link.session.bind_mode, _shown(system_id))

    def _answered(self, link: _Link, answer: Answer) -> None:
        if answer.request == "enquire_link":
            link.enquiring = None
            return
        if answer.request != "deliver_sm" or answer.status == codec.ROK:
            return
        dialogue_id, kind = answer.tag
        self._fault(f"link {link.key}: the gateway refused our {kind} deliver_sm #{answer.pdu.sequence} "
                    f"({answer.pdu.command} status 0x{answer.status:02x})")
        dialogue = self._by_id.get(dialogue_id)
        if dialogue is not None and kind != "abort" and dialogue.turn == "esme":
            self._tell(dialogue.handset, Failed(f"the gateway refused the dialogue (status 0x{answer.status:02x})",
                                                True, dialogue.session))
            self._close(dialogue)

    def _fault(self, message: str) -> None:
        self.faults.append(message)
        log.warning("%s", message)

    # -- handsets ----------------------------------------------------------------------------

    def handset_line(self, handset: Hashable, line: bytes | None, now: float) -> None:
        """One line of the handset protocol (None: one too long, dropped)."""
        if line is None:
            self._tell(handset, Failed(f"line longer than {MAX_LINE} octets: ignored"))
            return
        if not line.strip():
            return
        command = parse_command(line)
        if isinstance(command, str):
            log.info("handset %s: %s", handset, command)
            self._tell(handset, Failed(command))
        elif isinstance(command, Dial):
            self.dial(handset, command.msisdn, command.code, now)
        elif isinstance(command, Type):
            self.reply(handset, command.text, now)
        else:
            self.hangup(handset, now)

    def dial(self, handset: Hashable, msisdn: str, code: str, now: float) -> None:
        """The subscriber ``msisdn`` dials ``code`` on ``handset`` (one dialogue at a time)."""
        self._crossed.discard(handset)
        admitted = self._admit(handset, msisdn, code)
        if isinstance(admitted, str):
            self._tell(handset, Failed(admitted))
            return
        subscriber, service, number = admitted
        dialogue = _Dialogue(next(self._ids), handset, subscriber, code.strip(), service, number, now,
                             step_deadline=now + self.config.step_timeout)
        dialogue.vendor = dialogue.id.to_bytes(4, "big") if self._vendor is not None else None
        self._open.setdefault(subscriber, {})[number] = dialogue
        self._by_id[dialogue.id] = self._handsets[handset] = dialogue
        self._deliver(dialogue, min(self.dialect.begin_ops), dialogue.code, "begin", now)

    def _admit(self, handset: Hashable, msisdn: str, code: str) -> tuple[str, str, int] | str:
        """(subscriber, service address, session number) of a new dialogue, or why there is none."""
        if self._stopping:
            return "the centre is shutting down"
        if handset in self._handsets:
            return "a dialogue is open on this handset: hang up first"
        subscriber = normalise_phone(msisdn, self.phone) or msisdn.lstrip("+")
        if not (subscriber.isascii() and subscriber.isdigit() and 6 <= len(subscriber) <= 15):
            return f"msisdn {_shown(msisdn)}: not a phone number (international digits, as 2250701020304)"
        parsed = split_short_code(code) if len(code) <= gsm.MAX_SEPTETS else None
        if parsed is None:
            return f"dial {_shown(code)}: not a USSD code (as #122# or *122*6#)"
        if self._receiver(None, peek=True) is None:
            return "no gateway bound (as receiver or transceiver)"
        mine = self._open.get(subscriber, {})
        if mine and self.dialect.correlation == "msisdn":
            return (f"{subscriber} has a dialogue open: the {self.dialect.name} dialect ties units by the "
                    "subscriber alone")
        number = next((n for n in range(SESSION_NUMBERS) if n not in mine), None)
        if number is None:
            return f"{subscriber} has {SESSION_NUMBERS} dialogues open: no session number free"
        return subscriber, parsed[0], number

    def reply(self, handset: Hashable, text: str, now: float) -> None:
        """The subscriber answered the screen shown."""
        dialogue = self._handsets.get(handset)
        if dialogue is None:
            if handset in self._crossed:  # it crossed the line saying the dialogue ended
                self._crossed.discard(handset)
            else:
                self._tell(handset, Failed("no dialogue open: dial first"))
            return
        if dialogue.turn == "esme":
            self._tell(handset, Failed("the gateway has not answered yet: wait for the screen"))
            return
        measured = gsm.measure(text)
        limit = measured.limit if self.config.reply_limit is None else self.config.reply_limit
        if measured.units > limit:
            held = f"a USSD string holds {limit}" if self.config.reply_limit is None else f"this centre carries {limit}"
            self._tell(handset, Failed(f"reply of {measured.units} {measured.coding} units: {held}"))
            return
        dialogue.turn = "esme"
        dialogue.step_deadline = now + self.config.step_timeout
        dialogue.sequence = (dialogue.sequence + 1) & 0x7F
        self._deliver(dialogue, min(self.dialect.reply_ops), text, "reply", now)

    def hangup(self, handset: Hashable, now: float) -> None:
        """The subscriber hung up (nothing open: nothing to do, as a phone's red key)."""
        self._crossed.discard(handset)
        dialogue = self._handsets.get(handset)
        if dialogue is not None:
            log.info("%s hung up", dialogue.session)
            self._abort(dialogue, now)
            self._close(dialogue)

    def handset_gone(self, handset: Hashable, now: float) -> None:
        """The handset's connection is gone: a hang-up."""
        self.hangup(handset, now)
        self._crossed.discard(handset)

    def _tell(self, handset: Hashable, event: HandsetEvent) -> None:
        self._events.append(ToHandset(handset, event))

    # -- units to the gateway ----------------------------------------------------------------

    def _receiver(self, preferred: Hashable | None, peek: bool = False) -> _Link | None:
        """The link a dialogue's unit goes by: its own while it receives, else the next one round."""
        link = self._links.get(preferred) if preferred is not None and self.config.spread == "dialogues" else None
        if link is not None and link.receives:
            return link
        candidates = [link for link in self._links.values() if link.receives]
        if not candidates:
            return None
        chosen = candidates[self._turn % len(candidates)]
        if not peek:
            self._turn += 1
        return chosen

    def _deliver(self, dialogue: _Dialogue, op: int, text: str, kind: str, now: float, end: bool = False) -> None:
        link = self._receiver(dialogue.link)
        if link is None:
            if kind != "abort":
                self._tell(dialogue.handset, Failed("no gateway bound (as receiver or transceiver)", True,
                                                    dialogue.session))
                self._close(dialogue)
            return
        dialect = self.dialect
        dialogue.link = link.key
        coding, data = write_text(text, gsm.measure(text).coding, dialect)
        fields: dict[str, Any] = dict(
            service_type=dialect.service_type, source_addr_ton=1, source_addr_npi=1, source_addr=dialogue.msisdn,
            dest_addr_ton=0, dest_addr_npi=0, destination_addr=dialogue.service, data_coding=coding,
            ussd_service_op=op, **({"short_message": data} if len(data) <= MAX_SHORT_MESSAGE
                                   else {"message_payload": data}))
        if dialect.correlation == _ITS or (end and dialect.end_flag_aborts):
            fields[_ITS] = (dialogue.number << 8) | (dialogue.sequence << 1) | int(end)
        if dialect.correlation == "user_message_reference":
            fields["user_message_reference"] = dialogue.number
        if self._vendor is not None:
            fields[self._vendor] = dialogue.vendor
        link.session.request("deliver_sm", tag=(dialogue.id, kind), now=now, **fields)
        if kind != "abort":
            dialogue.delivered_at = now

    def _abort(self, dialogue: _Dialogue, now: float) -> None:
        """Tell the gateway the dialogue is over, as the dialect does (if it can)."""
        dialect = self.dialect
        if dialect.abort_ops:
            op = min(dialect.abort_ops)
        elif dialect.end_flag_aborts:
            op = min(dialect.reply_ops)
        else:
            return  # this centre has no abort: the gateway's own timers forget the dialogue
        dialogue.sequence = (dialogue.sequence + 1) & 0x7F
        self._deliver(dialogue, op, "", "abort", now, end=True)

    def _close(self, dialogue: _Dialogue) -> None:
        """Forget a dialogue: its session number is free again."""
        self._by_id.pop(dialogue.id, None)
        mine = self._open.get(dialogue.msisdn, {})
        if mine.get(dialogue.number) is dialogue:
            del mine[dialogue.number]
        if not mine:
            self._open.pop(dialogue.msisdn, None)
        if self._handsets.get(dialogue.handset) is dialogue:
            del self._handsets[dialogue.handset]

    # -- submit_sm, strictly -----------------------------------------------------------------

    def _submit(self, link: _Link, read: Pdu, now: float) -> None:
        try:
            if not link.transmits:
                raise _Refusal("bind_state", codec.RINVBNDSTS,
                               f"submit_sm on a {link.session.bind_mode} bind: a receiver only receives")
            if self._throttled(link, now):
                self.throttled += 1
                log.info("link %s: submit_sm #%d throttled (more than %d a second)", link.key, read.sequence,
                         self.config.throttle)
                link.session.respond(read, codec.RTHROTTLED)
                return
            dialogue, end, sequence = self._judge(read)
            text, coding, units = self._text(read)
        except _Refusal as refusal:
            self._refuse(link, read, refusal)
            return
        link.session.respond(read, message_id=f"{next(self._message_ids):08x}")
        if dialogue.delivered_at is not None:
            self.latencies.append(now - dialogue.delivered_at)
            dialogue.delivered_at = None
        dialogue.sequence = sequence
        self._tell(dialogue.handset, Screen(dialogue.session, text, end, coding, units))
        if end:
            self._close(dialogue)
        else:
            dialogue.turn = "handset"
            dialogue.step_deadline = None

    def _throttled(self, link: _Link, now: float) -> bool:
        limit = self.config.throttle
        if limit is None:
            return False
        recent = link.submits
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= limit:
            return True
        recent.append(now)
        return False

    def _refuse(self, link: _Link, read: Pdu, refusal: _Refusal) -> None:
        violation = Violation(refusal.rule, refusal.status, str(refusal), link.key, read.sequence)
        self.violations.append(violation)
        log.warning("link %s: %s refused: %s", link.key, read.command, violation)
        link.session.respond(read, refusal.status, message_id="")

    def _judge(self, read: Pdu) -> tuple[_Dialogue, bool, int]:
        """The dialogue a submit_sm continues, whether it ends it and the unit's sequence; or
        :class:`_Refusal` naming the first rule it breaks."""
        dialect = self.dialect

        def text_of(name: str) -> str:
            value: bytes = read.get(name, b"")
            return value.decode("latin-1")

        service_type = text_of("service_type")
        if service_type != dialect.service_type:
            raise _Refusal("service_type", codec.RINVSERTYP,
                           f"service_type {_shown(service_type)}: the {dialect.name} dialect's is "
                           f"{dialect.service_type!r}")
        op = read.get("ussd_service_op")
        if op is None:
            raise _Refusal("ussd_service_op", RMISSINGOPTPARAM, "no ussd_service_op: not a USSD message")
        if op not in (dialect.ask_op, dialect.end_op):
            raise _Refusal("ussd_service_op", codec.RINVOPTPARAMVAL,
                           f"ussd_service_op {op}: the {dialect.name} dialect asks with {dialect.ask_op} "
                           f"and ends with {dialect.end_op}")
        ton, npi = read.get("dest_addr_ton", 0), read.get("dest_addr_npi", 0)
        if ton != 1:
            raise _Refusal("dest_addr_ton", RINVDSTTON, f"dest_addr_ton {ton}: the subscriber is international (1)")
        if npi != 1:
            raise _Refusal("dest_addr_npi", RINVDSTNPI, f"dest_addr_npi {npi}: the subscriber is ISDN/E.164 (1)")
        destination = text_of("destination_addr")
        mine = self._open.get(destination)
        if not mine:
            known = normalise_phone(destination, self.phone)
            hint = f" (the centre wrote it {known})" if known in self._open and known != destination else ""
            raise _Refusal("destination_addr", codec.RINVDSTADR,
                           f"destination_addr {_shown(destination)} is no subscriber in a dialogue{hint}")
        dialogue = self._correlate(read, destination, mine)
        source = text_of("source_addr")
        if source != dialogue.service:
            raise _Refusal("source_addr", codec.RINVSRCADR,
                           f"source_addr {_shown(source)}: the subscriber dialled {dialogue.service}")
        if dialogue.turn != "esme":
            raise _Refusal("out_of_turn", RSUBMITFAIL,
                           f"{dialogue.session} waits for the subscriber's answer: one screen per input")
        end = op == dialect.end_op
        sequence = (dialogue.sequence + 1) & 0x7F
        if dialect.correlation == _ITS:
            its = read.get(_ITS)
            if bool(its & 1) != end:
                raise _Refusal("end_flag", codec.RINVOPTPARAMVAL,
                               f"its_session_info end flag {its & 1} with ussd_service_op {op}: the flag is set "
                               f"with {dialect.end_op} (the last screen) and only then")
            if (its & 0xFF) >> 1 != sequence:
                raise _Refusal("sequence", codec.RINVOPTPARAMVAL,
                               f"its_session_info sequence {(its & 0xFF) >> 1}: {dialogue.session} expects {sequence} "
                               f"(the last unit's, {dialogue.sequence}, plus one)")
        return dialogue, end, sequence

    def _correlate(self, read: Pdu, destination: str, mine: dict[int, _Dialogue]) -> _Dialogue:
        """Which of the subscriber's dialogues a submit_sm continues, by what the dialect ties units by."""
        dialect = self.dialect
        if dialect.correlation == "msisdn":
            return next(iter(mine.values()))  # one dialogue per subscriber: nothing else to match
        tlv: str
        found: _Dialogue | None
        if dialect.correlation == _ITS:
            tlv, its = _ITS, read.get(_ITS)
            key: Any = None if its is None else its >> 8
            found = None if key is None else mine.get(key)
        elif dialect.correlation == "user_message_reference":
            tlv = "user_message_reference"
            key = read.get(tlv)
            found = mine.get(key)
        else:
            assert self._vendor is not None
            tlv, key = f"TLV 0x{dialect.vendor_tag:04x}", read.get(self._vendor)
            found = next((d for d in mine.values() if d.vendor == key), None)
        if key is None:
            raise _Refusal("correlation", RMISSINGOPTPARAM,
                           f"no {tlv}: the {dialect.name} dialect ties the units of a dialogue by it")
        if found is None:
            shown = key.hex() if isinstance(key, bytes) else key
            raise _Refusal("unknown_dialogue", RSUBMITFAIL,
                           f"{destination} has no open dialogue {_shown(shown)} (by {tlv})")
        return found

    def _text(self, read: Pdu) -> tuple[str, Literal["gsm7", "ucs2"], int]:
        """A submit_sm's message: its text, coding and size on the air, checked."""
        dialect = self.dialect
        data: bytes = read.get("message_payload") or read.get("short_message", b"")
        coding = read.get("data_coding", 0)
        kind: Literal["gsm7", "ucs2"]
        if coding == dialect.gsm7_coding:
            bad = next((i for i, octet in enumerate(data) if octet >= 0x80), None)
            if bad is not None:
                raise _Refusal("text", RSUBMITFAIL, f"octet 0x{data[bad]:02x} at {bad} is no GSM 7-bit septet "
                                                    f"(data_coding {coding})")
            escape = _BAD_ESCAPE.search(data)
            if escape is not None:
                raise _Refusal("text", RSUBMITFAIL, f"escape at {escape.start()} not followed by a code of the "
                                                    "GSM 7-bit extension table")
            text, kind, units, limit = gsm.decode_gsm7(data), "gsm7", len(data), gsm.MAX_SEPTETS
        elif coding == dialect.ucs2_coding:
            if len(data) % 2:
                raise _Refusal("text", codec.RINVMSGLEN, f"{len(data)} octets of UCS-2: two an UTF-16 unit")
            try:
                text = data.decode("utf-16-be")
            except UnicodeDecodeError as exc:
                raise _Refusal("text", RSUBMITFAIL,
                               f"UCS-2 octets {exc.start}-{exc.end - 1}: a lone surrogate") from None
            kind, units, limit = "ucs2", gsm.ucs2_units(text), gsm.MAX_UCS2_UNITS
        else:
            raise _Refusal("data_coding", RSUBMITFAIL,
                           f"data_coding {coding}: the {dialect.name} dialect sends GSM 7-bit as {dialect.gsm7_coding} "
                           f"and UCS-2 as {dialect.ucs2_coding}")
        if units > limit:
            raise _Refusal("length", codec.RINVMSGLEN,
                           f"{units} {'septets' if kind == 'gsm7' else 'UTF-16 units'}: a USSD page holds {limit}")
        return text, kind, units

    # -- time ----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do next (None: nothing is timed)."""
        deadlines = [d.deadline(self.config.max_duration) for d in self._by_id.values()]
        interval = self.config.enquire_interval
        if interval is not None and not self._frozen:
            deadlines.extend(self._link_deadline(link, interval) for link in self._links.values()
                             if not link.closing)
        return min(deadlines, default=None)

    @staticmethod
    def _link_deadline(link: _Link, interval: float) -> float:
        if not link.bound:
            return link.opened + interval  # the time a new connection has to bind
        return (link.enquiring if link.enquiring is not None else link.heard) + interval

    def tick(self, now: float) -> None:
        """Run what is due at ``now``: network timers, keep-alives."""
        for dialogue in list(self._by_id.values()):
            if dialogue.step_deadline is not None and now >= dialogue.step_deadline:
                self._expire(dialogue, "step timeout", now)
            elif now >= dialogue.started + self.config.max_duration:
                self._expire(dialogue, "dialogue limit", now)
        interval = self.config.enquire_interval
        if interval is None or self._frozen:
            return
        for link in list(self._links.values()):
            if link.closing or now < self._link_deadline(link, interval):
                continue
            if not link.bound:
                self._fault(f"link {link.key}: not bound within {interval:g} s: closed")
                link.closing = True
            elif link.enquiring is not None:
                self._fault(f"link {link.key}: no enquire_link_resp within {interval:g} s: closed")
                link.closing = True
            else:
                link.session.request("enquire_link", tag="keep-alive", now=now)
                link.enquiring = now

    def _expire(self, dialogue: _Dialogue, reason: str, now: float) -> None:
        log.info("%s ended: %s", dialogue.session, reason)
        if dialogue.turn == "handset":  # unasked: a reply may be on its way
            self._crossed.add(dialogue.handset)
        self._tell(dialogue.handset, TimedOut(dialogue.session, reason))
        self._abort(dialogue, now)
        self._close(dialogue)

    # -- control -------------------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """Stop answering links: what they send waits unread, nothing goes to them (handsets and
        timers go on). For tests of a gateway whose centre stops answering."""
        if not self._frozen:
            log.warning("frozen: the links get no answers")
        self._frozen = True

    def thaw(self, now: float) -> None:
        """Read what the links sent meanwhile, and send what waited."""
        if not self._frozen:
            return
        self._frozen = False
        log.warning("thawed")
        for link in list(self._links.values()):
            link.heard = max(link.heard, now)
            link.opened = max(link.opened, now)
            held, link.held = bytes(link.held), bytearray()
            if held and not link.closing:
                for event in link.session.receive(held, now):
                    self._link_event(link, event, now)

    def shutdown(self, now: float) -> None:
        """End every dialogue (handsets told, gateways sent the abort) and unbind every link."""
        self.thaw(now)
        self._stopping = True
        log.info("shutting down: %d dialogue(s) ended, %d link(s) unbound", len(self._by_id),
                 sum(1 for link in self._links.values() if link.bound))
        for dialogue in list(self._by_id.values()):
            if dialogue.turn == "handset":
                self._crossed.add(dialogue.handset)
            self._tell(dialogue.handset, Failed("the centre is shutting down", True, dialogue.session))
            self._abort(dialogue, now)
            self._close(dialogue)
        for link in self._links.values():
            if link.bound:
                link.session.unbind(now)
            else:
                link.closing = True


# -- the Twisted shell ---------------------------------------------------------------------------

class CentreConnection(protocol.Protocol):
    """One TCP connection: SMPP or a handset, told by its first octet."""

    def __init__(self, factory: CentreFactory) -> None:
        self.factory = factory
        self.kind: Literal["smpp", "handset"] | None = None
        self._lines = LineBuffer()

    def connectionMade(self) -> None:
        no_delay(self.transport)

    def __repr__(self) -> str:
        peer = self.transport.getPeer() if self.transport is not None else None
        return f"{self.kind or 'conn'}@{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"

    def dataReceived(self, data: bytes) -> None:
        if not data:
            return
        centre, now = self.factory.centre, self.factory.clock.seconds()
        try:
            if self.kind is None:
                self.kind = "smpp" if data[0] == 0 else "handset"
                if self.kind == "smpp":
                    centre.open_link(self, now)
            if self.kind == "smpp":
                centre.link_data(self, data, now)
            else:
                for line in self._lines.feed(data):
                    centre.handset_line(self, line, now)
        except Exception as exc:  # a bug here must cost one connection's answer, never the process
            log.error("%r: internal error: %s: %s", self, type(exc).__name__, exc)
            if self.kind == "handset" and self.transport is not None:
                self.transport.write(encode_event(Failed(f"internal error: {type(exc).__name__}")))
        self.factory.pump()

    def connectionLost(self, reason: Any = None) -> None:
        centre, now = self.factory.centre, self.factory.clock.seconds()
        if self.kind == "smpp":
            centre.close_link(self, now)
        elif self.kind == "handset":
            centre.handset_gone(self, now)
        self.factory.connections.discard(self)
        self.factory.pump()


class CentreFactory(protocol.ServerFactory):
    """Serves a :class:`Centre` on a listening port: writes its outputs, runs its timers on the
    reactor's clock (``clock``: a :class:`twisted.internet.task.Clock` in tests)."""

    def __init__(self, centre: Centre, clock: IReactorTime | None = None, grace: float = 2.0) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        self.centre = centre
        self.clock: IReactorTime = clock
        self.grace = grace
        self.connections: set[CentreConnection] = set()
        self._timer: IDelayedCall | None = None
        self._stopped: defer.Deferred[None] | None = None

    def buildProtocol(self, addr: Any) -> CentreConnection:
        connection = CentreConnection(self)
        self.connections.add(connection)
        return connection

    def pump(self) -> None:
        """Write what the centre has to say, and set the timer for its next deadline."""
        for out in self.centre.outputs():
            key = out.handset if isinstance(out, ToHandset) else out.link
            # the shell hands the centre its connections as the keys of links and handsets
            transport = key.transport if isinstance(key, CentreConnection) else None
            if transport is None:
                continue
            if isinstance(out, ToHandset):
                transport.write(encode_event(out.event))
            elif isinstance(out, ToLink):
                transport.write(out.data)
            else:
                transport.loseConnection()
        self._schedule()
        if self._stopped is not None and not self._stopped.called and self.centre.links == 0:
            self._finish()

    def _schedule(self) -> None:
        deadline = self.centre.next_deadline()
        timer = self._timer
        if timer is not None and timer.active():
            if deadline is not None and timer.getTime() == deadline:
                return
            timer.cancel()
        self._timer = None
        if deadline is not None:
            self._timer = self.clock.callLater(max(0.0, deadline - self.clock.seconds()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.centre.tick(self.clock.seconds())
        self.pump()

    def freeze(self) -> None:
        self.centre.freeze()
        self.pump()

    def thaw(self) -> None:
        self.centre.thaw(self.clock.seconds())
        self.pump()

    def stop(self) -> defer.Deferred[None]:
        """End the dialogues, unbind the links; fires once they are closed (or after ``grace``)."""
        if self._stopped is None:
            self._stopped = defer.Deferred()
            self.clock.callLater(self.grace, self._finish)
            self.centre.shutdown(self.clock.seconds())
            self.pump()
        return self._stopped

    def _finish(self) -> None:
        if self._stopped is None or self._stopped.called:
            return
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.loseConnection()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._stopped.callback(None)


# -- ussd centre -----------------------------------------------------------------------------------

def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds, as 30 or 0.5") from None
    if not 0 < value < 1e7:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ussd centre", description="A fake USSD centre: SMPP binds and handsets "
                                "(JSON lines) on one TCP port. SIGUSR1 freezes it, SIGUSR2 thaws it.")
    p.add_argument("--port", type=int, default=2775, help="TCP port (0: any free one; the line on stdout says which)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--system-id", help="the only system_id that may bind (default: any)")
    p.add_argument("--password", help="the only password that may bind (default: any)")
    p.add_argument("--dialect", default="default", choices=sorted(DIALECTS), help="what the centre speaks")
    p.add_argument("--step-timeout", type=_positive, default=30.0, help="seconds the gateway has per input (30)")
    p.add_argument("--max-duration", type=_positive, default=180.0, help="seconds a dialogue may last (180)")
    p.add_argument("--enquire-interval", type=_positive, default=30.0, help="seconds between keep-alives (30)")
    p.add_argument("--throttle", type=_count, help="at most N submit_sm a second on one link (default: no limit)")
    p.add_argument("--reply-limit", type=_count, metavar="UNITS",
                   help="carry replies up to this many units (default: a USSD string's, 182 GSM 7-bit; "
                        "longer ones go in message_payload past 254 octets)")
    p.add_argument("--spread", choices=("dialogues", "steps"), default="dialogues",
                   help="round the binds go whole dialogues (default) or each step (nodes sharing dialogues)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``ussd centre``: serve until SIGTERM or SIGINT, then end the dialogues, unbind and exit 0."""
    args = parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"ussd centre: --port {args.port}: expected 0 to 65535", file=sys.stderr)
        return 2
    from gateway.logs import log_to

    log_to(sys.stderr)
    config = CentreConfig(DIALECTS[args.dialect], args.system_id, args.password, args.step_timeout,
                          args.max_duration, args.enquire_interval, args.throttle, reply_limit=args.reply_limit,
                          spread=args.spread)
    from twisted.internet import reactor
    from twisted.internet.address import IPv4Address, IPv6Address
    from twisted.internet.error import CannotListenError
    from twisted.internet.interfaces import IReactorThreads

    factory = CentreFactory(Centre(config), reactor)
    try:
        port = reactor.listenTCP(args.port, factory, interface=args.host)
    except CannotListenError as exc:
        print(f"ussd centre: cannot listen on {args.host}:{args.port}: {exc.socketError}", file=sys.stderr)
        return 1
    address = port.getHost()
    assert isinstance(address, IPv4Address | IPv6Address)  # a TCP port's
    print(f"ussd centre listening on {address.host}:{address.port} (dialect {args.dialect})", flush=True)
    reactor.addSystemEventTrigger("before", "shutdown", factory.stop)
    threads = IReactorThreads(reactor)

    def on_signal(action: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
        """A signal handler: ``action`` on the reactor's thread, at its next turn."""
        return lambda _signum, _frame: threads.callFromThread(action)

    signal.signal(signal.SIGUSR1, on_signal(factory.freeze))
    signal.signal(signal.SIGUSR2, on_signal(factory.thaw))
    reactor.run()  # its SIGINT and SIGTERM handlers stop it
    return 0


if __name__ == "__main__":
    sys.exit(main())
