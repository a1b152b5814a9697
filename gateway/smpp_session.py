"""One SMPP 3.4 session, sans-IO: bytes in, events out; requests and answers in, bytes out.

Both ends of a link use it: the gateway (an ESME, which binds) and the fake USSD centre (an SMSC,
which accepts binds). It frames the stream, reads every PDU strictly (:mod:`gateway.pdu`), numbers
requests, ties each response to its request, answers ``enquire_link`` and ``unbind`` itself,
refuses what breaks the specification with ``generic_nack`` or the request's own response and the
status that names the fault, and holds requests past the window of outstanding ones until answers
come. Timers (enquire_link, response timeouts, reconnection) belong to the shell that owns the
socket and the clock; the session only says what is outstanding and since when.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from . import pdu as codec
from .pdu import Pdu, PduError

Role = Literal["esme", "smsc"]
BIND_MODES: Final[dict[str, str]] = {"transceiver": "bind_transceiver", "transmitter": "bind_transmitter",
                                     "receiver": "bind_receiver"}
#: What each end may be asked once bound (anything else: ESME_RINVBNDSTS, or generic_nack if unknown).
_REQUESTS_TO: Final[dict[Role, frozenset[str]]] = {
    "esme": frozenset({"deliver_sm", "data_sm", "enquire_link", "unbind"}),
    "smsc": frozenset({"submit_sm", "data_sm", "enquire_link", "unbind", *BIND_MODES.values()}),
}
#: Requests that hold a place in the window (link keep-alives and unbinding never wait).
_WINDOWED: Final = frozenset({"submit_sm", "deliver_sm", "data_sm"})


class State(enum.Enum):
    OPEN = "open"  # connected, not bound
    BINDING = "binding"  # (esme) a bind sent, no answer yet
    BOUND = "bound"
    UNBINDING = "unbinding"  # an unbind sent, or answered: nothing more is taken
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Request:
    """A request from the peer that the application answers (:meth:`SmppSession.respond`)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Answer:
    """The peer's response to one of our requests (``tag``: what the caller said it was for)."""

    request: str
    tag: Any
    pdu: Pdu

    @property
    def status(self) -> int:
        return self.pdu.status


@dataclass(frozen=True, slots=True)
class Bound:
    mode: str
    system_id: str


@dataclass(frozen=True, slots=True)
class BindRefused:
    status: int


@dataclass(frozen=True, slots=True)
class Unbound:
    """The session is over (the peer unbound, or answered our unbind): close the connection."""


@dataclass(frozen=True, slots=True)
class Faulty:
    """The peer sent something that breaks the specification; it was answered as the
    specification says. ``fatal``: the stream cannot be read any more (close it)."""

    error: PduError
    fatal: bool = False


Event = Request | Answer | Bound | BindRefused | Unbound | Faulty


@dataclass(slots=True)
class Outstanding:
    name: str
    tag: Any
    since: float


@dataclass
class SmppSession:
    role: Role
    #: Requests of ours in flight at once (submit_sm, deliver_sm); more wait their turn.
    window: int = 10
    max_pdu: int = codec.MAX_PDU
    state: State = State.OPEN
    #: Sequence -> our request awaiting its response.
    outstanding: dict[int, Outstanding] = field(default_factory=dict)
    _framer: codec.Framer = field(init=False)
    _out: bytearray = field(default_factory=bytearray)
    _waiting: deque[tuple[str, Any, dict[str, Any]]] = field(default_factory=deque)
    _sequence: int = 0
    _now: float = 0.0
    bind_mode: str = ""

    def __post_init__(self) -> None:
        self._framer = codec.Framer(self.max_pdu)

    # -- bytes ---------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """What to write to the socket now."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive(self, data: bytes, now: float = 0.0) -> list[Event]:
        """Bytes from the socket; the events they make, in order."""
        self._now = now
        if self.state is State.CLOSED:
            return []
        try:
            frames = self._framer.feed(data)
        except PduError as exc:  # the stream cannot be framed any more
            self._out += codec.encode_nack(exc.sequence, exc.status)
            self.state = State.CLOSED
            return [Faulty(exc, fatal=True)]
        events: list[Event] = []
        for frame in frames:
            event = self._frame(frame)
            if event is not None:
                events.append(event)
            if self.closed:  # the frame closed the session
                break
        return events

    # -- what we send --------------------------------------------------------------------------

    def bind(self, mode: str, system_id: str, password: str = "", system_type: str = "", now: float = 0.0) -> int:
        """(esme) Ask to bind as ``transceiver``, ``transmitter`` or ``receiver``."""
        if self.role != "esme" or self.state is not State.OPEN:
            raise RuntimeError(f"cannot bind: {self.role} in state {self.state.value}")
        self.state = State.BINDING
        self.bind_mode = mode
        return self._send(BIND_MODES[mode], None, dict(system_id=system_id, password=password,
                                                        system_type=system_type), now)

    def request(self, name: str, tag: Any = None, now: float = 0.0, **fields: Any) -> int | None:
        """Send a request (``tag`` comes back with its answer). Past the window it waits, and
        None is returned: it goes when an answer frees a place."""
        if self.state is not State.BOUND:
            raise RuntimeError(f"cannot send {name}: the session is {self.state.value}")
        if name in _WINDOWED and (self._in_window() >= self.window or self._waiting):
            self._waiting.append((name, tag, fields))
            return None
        return self._send(name, tag, fields, now)

    def unbind(self, now: float = 0.0) -> int | None:
        if self.state is not State.BOUND:
            return None
        self._waiting.clear()
        sequence = self._send("unbind", None, {}, now)
        self.state = State.UNBINDING
        return sequence

    def respond(self, request: Pdu, status: int = codec.ROK, **fields: Any) -> None:
        """Answer a :class:`Request` (its response command, the same sequence)."""
        self._out += codec.encode(f"{request.command}_resp", request.sequence, status, **fields)

    def accept_bind(self, request: Pdu, status: int = codec.ROK, system_id: str = "ussd-centre") -> Bound | None:
        """(smsc) Answer a bind request; bound if ``status`` is ROK."""
        self.respond(request, status, system_id=system_id)
        if status != codec.ROK:
            return None
        self.state = State.BOUND
        self.bind_mode = next(mode for mode, name in BIND_MODES.items() if name == request.command)
        return Bound(self.bind_mode, request.text("system_id"))

    @property
    def closed(self) -> bool:
        """Whether the session is over (read anew where ``state`` was narrowed before a call that
        may close the session)."""
        return self.state is State.CLOSED

    @property
    def waiting(self) -> int:
        """Requests held back by the window."""
        return len(self._waiting)

    def oldest(self) -> float | None:
        """When the oldest outstanding request was sent (for the shell's response timer)."""
        return min((o.since for o in self.outstanding.values()), default=None)

    # -- inside --------------------------------------------------------------------------------

    def _in_window(self) -> int:
        return sum(1 for o in self.outstanding.values() if o.name in _WINDOWED)

    def _send(self, name: str, tag: Any, fields: dict[str, Any], now: float) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        sequence = self._sequence
        self._out += codec.encode(name, sequence, **fields)
        self.outstanding[sequence] = Outstanding(name, tag, now)
        return sequence

    def _release(self) -> None:
        while self._waiting and self.state is State.BOUND and self._in_window() < self.window:
            name, tag, fields = self._waiting.popleft()
            self._send(name, tag, fields, self._now)

    def _frame(self, frame: bytes) -> Event | None:
        try:
            read = codec.decode(frame)
        except PduError as exc:
            return self._refuse(exc)
        if read.is_response:
            return self._answer(read)
        name = read.command
        if name == "enquire_link":
            self.respond(read)
            return None
        if name == "unbind":
            self.respond(read)
            self.state = State.CLOSED
            return Unbound()
        if name not in _REQUESTS_TO[self.role]:
            return self._refuse(PduError(codec.RINVCMDID, f"{name} is not sent to an {self.role.upper()}",
                                         read.command_id, read.sequence))
        if name in BIND_MODES.values():
            if self.state is not State.OPEN:
                return self._refuse(PduError(codec.RALYBND, "already bound",
                                             read.command_id, read.sequence))
            return Request(read)
        if self.state is not State.BOUND:
            return self._refuse(PduError(codec.RINVBNDSTS, f"{name} before a bind", read.command_id, read.sequence))
        return Request(read)

    def _answer(self, read: Pdu) -> Event | None:
        mine = self.outstanding.pop(read.sequence, None)
        if mine is None:
            # A response to nothing we sent (a wrong sequence number): named with the status it
            # carries, and not answered (a response is never answered).
            return Faulty(PduError(read.status, f"{read.command} #{read.sequence} answers no request of ours",
                                   read.command_id, read.sequence))
        expected = f"{mine.name}_resp"
        if read.command not in (expected, "generic_nack"):
            if mine.name in BIND_MODES.values():  # a bind answered by something else: no bind
                self.state = State.CLOSED
                return BindRefused(codec.RINVCMDID)
            self._release()
            return Faulty(PduError(codec.RINVCMDID, f"{read.command} answers our {mine.name} #{read.sequence}",
                                   read.command_id, read.sequence))
        if mine.name in BIND_MODES.values():
            if read.status == codec.ROK:
                self.state = State.BOUND
                self._release()
                return Bound(self.bind_mode, read.text("system_id"))
            self.state = State.CLOSED
            return BindRefused(read.status)
        if mine.name == "unbind":
            self.state = State.CLOSED
            return Unbound()
        self._release()
        return Answer(mine.name, mine.tag, read)

    def _refuse(self, error: PduError) -> Faulty | BindRefused:
        """Answer a bad PDU as SMPP 3.4 says: an unknown command, a wrong length or a command this
        end does not take gets generic_nack; another fault in a request, the request's own
        response with the status; a response gets nothing."""
        command_id = error.command_id
        if command_id & codec.RESPONSE_BIT:
            mine = self.outstanding.pop(error.sequence, None)
            if mine is not None and mine.name in BIND_MODES.values():  # an unreadable answer to a bind
                self.state = State.CLOSED
                return BindRefused(error.status)
            if mine is not None:
                self._release()
            return Faulty(error)
        name = codec.NAMES.get(command_id)
        if name is None or error.status in (codec.RINVCMDID, codec.RINVCMDLEN):
            self._out += codec.encode_nack(error.sequence, error.status)
        else:
            self._out += codec.encode(f"{name}_resp", error.sequence, error.status)
        return Faulty(error)
