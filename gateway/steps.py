"""Engine steps off the reactor: a bounded set of worker threads, the steps of one dialogue one
after the other in the order they arrived, every result back on the reactor thread.

Why not Twisted's ThreadPool: a step is about 100 µs of Python, and the pool's hop (its team
coordinator, the call context, a thread woken per step, one waker write per result) cost more
than the step, mostly in hand-offs of the interpreter lock: with the interpreter lock only one
thread runs Python at a time, so every extra worker woken is a context switch and nothing more.
So workers are woken lazily: a step goes to a ready queue, and a sleeping worker is woken only
when no worker is awake, or when the ready queue has made no progress for :data:`WATCH_S` (the
awake ones are waiting on a slow store: then one more joins, and so on up to ``workers``). A
worker that finishes appends to a deque and wakes the reactor only if no wake-up is already on
its way, so a burst of screens costs one wake-up. The ordering per dialogue is plain bookkeeping
on the reactor thread, which alone touches it.

A step may bring I/O done on the reactor around it (:class:`StepIO`: a shared session store's
reads before it, its writes after); the dialogue's next step waits until that is done too.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

from .reactor import ThreadedClock, Timer

T = TypeVar("T")

#: How long the ready queue may sit without a worker taking a step before another worker is woken
#: (the awake ones are then waiting on the store, not computing).
WATCH_S = 0.005


class StepSkipped(Exception):
    """A step not run: the runner was closing when its turn came."""


def as_failure(exc: BaseException | None = None) -> Failure:
    """``exc`` as a Failure; by default, the exception being handled, with its traceback."""
    return Failure(exc)  # type: ignore[no-untyped-call]  # Twisted's constructor is unannotated


class StepIO(Protocol):
    """I/O a step needs, done on the reactor's thread around it (see ``gateway.session_io``).
    Plain callbacks, not Deferreds: they are on every step's path."""

    def before(self, then: Callable[[], None]) -> None:
        """Calls ``then()`` once what the step reads is at hand (or known to be out of reach)."""

    def within(self, work: Callable[[], T]) -> T:
        """(On the worker.) Runs the step with what :meth:`before` fetched."""

    def after(self, value: Any, then: Callable[[Any], None]) -> None:
        """Calls ``then`` with the step's result, a :class:`Redo` or a Failure, once what it
        wrote is written."""


@dataclass(frozen=True, slots=True)
class Redo:
    """What :meth:`StepIO.after` fires with when the step's result cannot stand (it lost a race
    for the dialogue): this runs instead, in the dialogue's turn still."""

    work: Callable[[], Any]
    io: StepIO | None = None


class _Step:
    """One step: what to run, for which dialogue, and the Deferred its caller holds."""

    __slots__ = ("key", "work", "io", "done", "ticket", "ok", "value")

    def __init__(self, key: str, work: Callable[[], Any], ticket: int, io: StepIO | None = None) -> None:
        self.key = key
        self.work = work
        self.io = io
        self.done: defer.Deferred[Any] = defer.Deferred()
        self.ticket = ticket
        self.ok = False
        self.value: Any = None


class _Gate:
    """Where a worker sleeps: a pipe it reads a byte from. Not a lock: releasing a lock wakes the
    sleeper while the waker holds the interpreter lock, and the two then switch back and forth for
    it; a pipe's write and read both let go of the interpreter lock in the system call (sampled
    at 1,000 live dialogues: a lock's release was 16% of the time the interpreter lock was held;
    with a pipe, the time it was held fell by a tenth)."""

    __slots__ = ("_read", "_write")

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def wait(self) -> None:
        os.read(self._read, 1)

    def open(self) -> None:
        os.write(self._write, b"\0")

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


class StepRunner:
    """Steps on ``workers`` threads: those of one dialogue (one ``key``) in order, others beside
    them; at most ``limit`` waiting in all (the caller refuses units past it: :attr:`full`).

    Only the reactor thread calls :meth:`run`, :meth:`drained` and reads :attr:`pending`; the
    ready queue and the workers' sleep are shared under ``_lock``; finished steps go back through
    a deque and one wake-up flag (under ``_wake_lock``)."""

    def __init__(self, reactor: ThreadedClock, workers: int, limit: int = 10_000) -> None:
        self.reactor = reactor
        self.workers = workers
        self.limit = limit
        self.pending = 0
        #: Once set, steps whose turn comes are skipped (StepSkipped), not run: a stop past its
        #: deadline makes no more debits whose screens could not be delivered.
        self.closing = False
        self._threads: list[threading.Thread] = []
        self._gates: list[_Gate] = []
        self._lock = threading.Lock()
        #: Steps whose turn has come, for the next free worker.
        self._ready: deque[_Step] = deque()
        #: The gates of sleeping workers: each blocks reading its pipe until a byte is written.
        self._sleeping: list[_Gate] = []
        self._awake = 0
        #: Steps taken by workers so far: the watch wakes another worker when it has not moved.
        self._taken = 0
        self._watch: Timer | None = None
        self._stopping = False
        #: Per dialogue with a step queued or running: the steps waiting behind it.
        self._behind: dict[str, deque[_Step]] = {}
        self._finished: deque[_Step] = deque()
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self._tickets = 0
        self._unfinished: set[int] = set()
        self._drains: list[tuple[int, defer.Deferred[bool]]] = []

    def start(self) -> None:
        for n in range(self.workers):
            gate = _Gate()
            with self._lock:
                self._sleeping.append(gate)
            self._gates.append(gate)
            thread = threading.Thread(target=self._work, args=(gate,), name=f"ussd-steps-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Skip what is still queued and stop the workers, joining them (the running steps finish
        first): call it off the reactor thread."""
        self.closing = True
        with self._lock:
            self._stopping = True
            while self._sleeping:
                self._wake_one()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        for gate in self._gates:
            gate.close()
        self._gates.clear()

    @property
    def full(self) -> bool:
        return self.pending >= self.limit

    def run(self, key: str, work: Callable[[], T], io: StepIO | None = None) -> defer.Deferred[T]:
        """``work()`` on a worker once the dialogue's earlier steps are done (with ``io`` around
        it); fires on the reactor."""
        self._tickets += 1
        step = _Step(key, work, self._tickets, io)
        self.pending += 1
        self._unfinished.add(step.ticket)
        behind = self._behind.get(key)
        if behind is None:
            self._behind[key] = deque()
            self._start(step)
        else:
            behind.append(step)
        return step.done

    def _start(self, step: _Step) -> None:
        """The dialogue's turn has come: its reads first, if any, then a worker."""
        if step.io is None:
            self._ready_to_run(step)
        else:
            step.io.before(lambda: self._ready_to_run(step))

    def _ready_to_run(self, step: _Step) -> None:
        with self._lock:
            stopping = self._stopping
            if not stopping:
                self._ready.append(step)
                if self._awake == 0 and self._sleeping:
                    self._wake_one()
        if stopping:  # the workers are gone or going: nobody would take it
            step.value = as_failure(StepSkipped(step.key))
            self._finish(step)
            return
        if self._watch is None:
            self._watch = self.reactor.callLater(WATCH_S, self._watch_ready, self._taken)

    def _wake_one(self) -> None:
        """(Under ``_lock``.) One sleeping worker to work."""
        self._awake += 1
        self._sleeping.pop().open()

    def _watch_ready(self, taken_before: int) -> None:
        """While steps wait: if none was taken in the last WATCH_S, the awake workers are held up
        (by the store): wake one more."""
        with self._lock:
            waiting = bool(self._ready)
            if waiting and self._taken == taken_before and self._sleeping:
                self._wake_one()
            taken = self._taken
        self._watch = self.reactor.callLater(WATCH_S, self._watch_ready, taken) if waiting else None

    def drained(self, deadline: float) -> defer.Deferred[bool]:
        """Fires with True when every step taken so far is done, or with False at ``deadline``
        seconds if some are still running (they are left alone: nothing is cancelled)."""
        result: defer.Deferred[bool] = defer.Deferred()
        if not self._unfinished:
            result.callback(True)
            return result
        self._drains.append((self._tickets, result))
        timer = self.reactor.callLater(deadline, self._settle, result, False)

        def settled(value: bool | Failure) -> bool | Failure:
            if timer.active():
                timer.cancel()
            return value

        result.addBoth(settled)
        return result

    # -- workers -----------------------------------------------------------------------------

    def _work(self, gate: _Gate) -> None:
        lock, ready = self._lock, self._ready
        gate.wait()  # asleep until woken
        while True:
            with lock:
                if ready:
                    step: _Step | None = ready.popleft()
                    self._taken += 1
                else:
                    step = None
                    self._awake -= 1
                    if self._stopping:
                        return
                    self._sleeping.append(gate)
            if step is None:
                gate.wait()  # asleep until woken
                continue
            try:
                if self.closing:
                    raise StepSkipped(step.key)
                step.value = step.work() if step.io is None else step.io.within(step.work)
                step.ok = True
            except BaseException:
                step.value = as_failure()
            self._finish(step)

    def _finish(self, step: _Step) -> None:
        """Hand a finished step back to the reactor (one wake-up for however many are waiting)."""
        self._finished.append(step)
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self.reactor.callFromThread(self._deliver)

    # -- back on the reactor -------------------------------------------------------------------

    def _deliver(self) -> None:
        """Every finished step's result to its caller, and each dialogue's next step queued."""
        with self._wake_lock:
            self._wake_pending = False
        finished = self._finished
        while finished:
            step = finished.popleft()
            if step.ok and step.io is not None:
                step.io.after(step.value, partial(self._written, step))
            else:
                self._complete(step)

    def _written(self, step: _Step, outcome: Any) -> None:
        if isinstance(outcome, Redo):
            step.work, step.io, step.ok = outcome.work, outcome.io, False
            self._start(step)
            return
        step.value, step.ok = outcome, not isinstance(outcome, Failure)
        self._complete(step)

    def _complete(self, step: _Step) -> None:
        """The step is done: the dialogue's next one may start, and the caller is told."""
        behind = self._behind.get(step.key)
        if behind:
            self._start(behind.popleft())
        elif behind is not None:
            del self._behind[step.key]
        self.pending -= 1
        self._unfinished.discard(step.ticket)
        if step.ok:
            step.done.callback(step.value)
        else:
            step.done.errback(step.value)
        if self._drains:
            self._check_drains()

    def _check_drains(self) -> None:
        oldest = min(self._unfinished, default=self._tickets + 1)
        for mark, waiter in list(self._drains):
            if oldest > mark:
                self._settle(waiter, True)

    def _settle(self, waiter: defer.Deferred[bool], value: bool) -> None:
        self._drains = [(m, w) for m, w in self._drains if w is not waiter]
        if not waiter.called:
            waiter.callback(value)
