"""Dialogue records and where they live between two steps.

A dialogue is a small plain record, not an object wired to a state machine: any process can load it,
step it on the shared machine, and store it back. The in-memory store is the embedded default; a
networked store (Redis) implements the same interface for several gateway nodes.
"""

from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Seconds, from an injected clock (``time.monotonic`` in a process, ``task.Clock.seconds`` in tests).
Clock = Callable[[], float]

DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_MAX_DURATION = 180.0
HISTORY_LIMIT = 32
#: Expired dialogues remembered (by id) so that a late reply is answered in the dialogue's own
#: language; the oldest is forgotten first. A few hundred bytes each.
ENDED_LIMIT = 4096


@dataclass(slots=True)
class Dialogue:
    id: str
    msisdn: str
    service: str  # the short-code number, "122"
    state: str  # the current screen id: the state machine's model attribute
    lang: str
    started: float
    touched: float
    page: int = 0
    pages: int = 1
    inputs: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    #: The pages of the current screen as first shown: paging within a screen shows these, so a
    #: list cannot shift under the subscriber (a bucket expiring between page 1 and page 2).
    shown: list[str] | None = None
    #: What the options of the menu on screen stood for when it was shown: key -> [option index,
    #: the values choosing it saves, or None when they could not be evaluated]. A reply picks
    #: what the subscriber saw, even if the list under it changed since (a period passing the
    #: 26th, a favourite removed in another dialogue, a pass withdrawn).
    offered: dict[str, list[Any]] | None = None
    #: Unique to this dialogue (``id`` is the network's session id, which may be recycled).
    uid: str = ""
    #: The version of the menus the dialogue began on (``MenuSet.version``): it finishes on them
    #: even if the menus are reloaded meanwhile. Empty: whatever is served now.
    menus: str = ""
    #: What the adapter that carries the dialogue keeps with it, so that any node can take its
    #: next step (the HTTP form convention: the replies so far, as the aggregator joins them).
    adapter: dict[str, Any] = field(default_factory=dict)
    #: The dropped dialogue this one offers to resume (its record), while the offer is on screen.
    resumable: dict[str, Any] | None = None
    #: How many times the record was stored: a store only replaces the revision it was read at
    #: (two nodes stepping one dialogue at once: one wins, :class:`SessionConflict`). 0: new.
    rev: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain values (changing it changes nothing of the record)."""
        return asdict(self)

    def to_row(self) -> list[Any]:
        """Every field but ``rev``, in order: the compact record a shared store keeps (the names
        are its format's, not repeated in each record: a step encodes and decodes it once, and
        it is 40% smaller than the same as a JSON object)."""
        return [getattr(self, name) for name in ROW_FIELDS]

    @classmethod
    def from_row(cls, row: list[Any], rev: int = 0) -> Dialogue:
        """The record :meth:`to_row` gave; raises TypeError when ``row`` is not one."""
        if not isinstance(row, list) or len(row) != len(ROW_FIELDS):
            raise TypeError(f"a row of {len(ROW_FIELDS)} fields expected")
        record = cls(*row)  # positional: as fast as decoding allows (a step does it once)
        record.rev = rev
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dialogue:
        return cls(**data)


#: The fields of :meth:`Dialogue.to_row`, in its order (``rev`` last, and left out of it).
ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Dialogue) if f.name != "rev")


class SessionConflict(Exception):
    """The dialogue was stored by another step since this one read it (two nodes, one dialogue):
    this step's result is not kept."""


class SessionStore(abc.ABC):
    """Holds live dialogues; forgets one idle longer than ``idle_timeout`` or older than
    ``max_duration`` seconds (both by the store's injected clock)."""

    def __init__(self, clock: Clock, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_duration: float = DEFAULT_MAX_DURATION) -> None:
        if idle_timeout <= 0 or max_duration <= 0:
            raise ValueError("idle_timeout and max_duration must be positive")
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration

    def now(self) -> float:
        return self.clock()

    def is_live(self, dialogue: Dialogue, now: float) -> bool:
        return now - dialogue.touched < self.idle_timeout and now - dialogue.started < self.max_duration

    @abc.abstractmethod
    def get(self, session_id: str) -> Dialogue | None:
        """The live dialogue, or None when unknown or expired (an expired one is dropped)."""

    @abc.abstractmethod
    def put(self, dialogue: Dialogue) -> None:
        """Store the dialogue, marking it touched now and bumping its ``rev``; raises
        :class:`SessionConflict` when the stored revision is no longer the one it was read at
        (a new dialogue, ``rev`` 0, replaces whatever was stored under its id)."""

    @abc.abstractmethod
    def delete(self, session_id: str) -> None: ...

    @abc.abstractmethod
    def ended(self, session_id: str) -> Dialogue | None:
        """The dialogue that expired under this id, while it is remembered: a reply that comes too
        late is told so in the dialogue's language, not the service's default."""

    @abc.abstractmethod
    def sweep(self) -> int:
        """Drop expired dialogues; returns how many were dropped."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raises when the store cannot be reached (``/healthz``)."""

    def deadline(self, dialogue: Dialogue) -> float:
        """When the dialogue expires if nothing more happens (the idle or the total limit)."""
        return min(dialogue.touched + self.idle_timeout, dialogue.started + self.max_duration)

    # -- dialogues that dropped, for resuming -----------------------------------------------------

    @abc.abstractmethod
    def drop(self, session_id: str) -> None:
        """The dialogue ended without its last screen (the network aborted it, or gave up
        waiting): no longer live, and kept as its subscriber's dropped dialogue of the service."""

    @abc.abstractmethod
    def end(self, dialogue: Dialogue) -> None:
        """The dialogue showed its last screen: no longer live, and nothing to resume."""

    @abc.abstractmethod
    def dropped(self, msisdn: str, service: str) -> tuple[Dialogue, float] | None:
        """The subscriber's last dialogue of ``service`` that dropped (a timeout, an abort), and
        when (the store's clock), while it is kept; None otherwise."""

    @abc.abstractmethod
    def forget_dropped(self, msisdn: str, service: str) -> None: ...


class MemorySessionStore(SessionStore):
    """Dialogues in a dict kept in touch order, so a sweep only looks at the expired front. Steps
    of different dialogues may run on different threads at once: each operation takes the lock."""

    def __init__(self, clock: Clock, idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_duration: float = DEFAULT_MAX_DURATION) -> None:
        super().__init__(clock, idle_timeout, max_duration)
        self._live: OrderedDict[str, Dialogue] = OrderedDict()
        self._ended: OrderedDict[str, Dialogue] = OrderedDict()
        #: (msisdn, service) -> the dialogue that dropped last, and when.
        self._dropped: OrderedDict[tuple[str, str], tuple[Dialogue, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Dialogue | None:
        dialogue = self._live.get(session_id)
        if dialogue is None:
            return None
        if not self.is_live(dialogue, self.clock()):
            with self._lock:
                self._expire(session_id)
            return None
        return dialogue

    def _expire(self, session_id: str, at: float | None = None) -> None:
        """Move a dialogue to the ended ones, and keep it as dropped at ``at`` (default: its
        deadline) (the lock held)."""
        dialogue = self._live.pop(session_id, None)
        if dialogue is None:  # another thread was first
            return
        ended = self._ended
        ended[session_id] = dialogue
        ended.move_to_end(session_id)
        if len(ended) > ENDED_LIMIT:
            ended.popitem(last=False)
        key = (dialogue.msisdn, dialogue.service)
        self._dropped.pop(key, None)
        self._dropped[key] = (dialogue, self.deadline(dialogue) if at is None else at)
        if len(self._dropped) > ENDED_LIMIT:
            self._dropped.popitem(last=False)

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._expire(session_id, self.clock())

    def end(self, dialogue: Dialogue) -> None:
        with self._lock:
            self._live.pop(dialogue.id, None)
            self._dropped.pop((dialogue.msisdn, dialogue.service), None)

    def dropped(self, msisdn: str, service: str) -> tuple[Dialogue, float] | None:
        return self._dropped.get((msisdn, service))

    def forget_dropped(self, msisdn: str, service: str) -> None:
        with self._lock:
            self._dropped.pop((msisdn, service), None)

    def ended(self, session_id: str) -> Dialogue | None:
        return self._ended.get(session_id)

    def ping(self) -> None:
        """Never raises: the dialogues are in this process."""

    def put(self, dialogue: Dialogue) -> None:
        dialogue.touched = self.clock()
        live = self._live
        with self._lock:
            stored = live.get(dialogue.id)
            if dialogue.rev and (stored is None or stored.rev != dialogue.rev):
                raise SessionConflict(dialogue.id)
            dialogue.rev += 1
            live[dialogue.id] = dialogue
            live.move_to_end(dialogue.id)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(session_id, None)

    def sweep(self) -> int:
        now = self.clock()
        live = self._live
        dropped = 0
        with self._lock:
            # The front is the least recently touched: stop at the first one still idle-live.
            while live:
                sid, dialogue = next(iter(live.items()))
                if now - dialogue.touched < self.idle_timeout:
                    break
                self._expire(sid)
                dropped += 1
            # The total-duration limit does not follow touch order: check the rest once.
            for sid in [s for s, d in live.items() if now - d.started >= self.max_duration]:
                self._expire(sid)
                dropped += 1
        return dropped

    def __len__(self) -> int:
        return len(self._live)
