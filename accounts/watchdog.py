"""A bound on how long a store operation may wait for its server, whatever the server does.

The server's own timeouts (PostgreSQL's ``statement_timeout``, ``lock_timeout``) and TCP keepalives
end most waits, but not those of a server that stops answering while its host still acknowledges
every packet (a stopped or swapping process, a hung disk): the client would wait for ever. The
watchdog cuts such an operation's connection at its deadline (the driver then fails the operation
at once) and the store, seeing the cut, reports a timeout and opens a new connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Armed:
    """One operation under watch."""

    __slots__ = ("deadline", "cut", "fired")

    def __init__(self, deadline: float, cut: Callable[[], None]) -> None:
        self.deadline = deadline
        self.cut = cut
        self.fired = False


class Watchdog:
    """Operations of any thread, watched by one daemon thread that wakes every ``tick`` seconds
    while it lives (started on first use). Arming and disarming are one dict operation each."""

    def __init__(self, tick: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.tick = tick
        self.clock = clock
        self._armed: dict[Armed, None] = {}
        self._cutting = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def arm(self, seconds: float, cut: Callable[[], None]) -> Armed:
        """Watch an operation starting now: ``cut()`` is called if it outlives ``seconds``."""
        armed = Armed(self.clock() + seconds, cut)
        self._armed[armed] = None
        if self._thread is None:
            self._start()
        return armed

    def disarm(self, armed: Armed) -> bool:
        """The operation is over: True if it ended before its deadline. False means its connection
        was cut (this returns once the cut is done, so the connection may then be closed)."""
        if self._armed.pop(armed, False) is None:
            return True
        with self._cutting:
            return False

    def check(self) -> int:
        """Cut every operation past its deadline (what the thread does at each tick); how many."""
        now = self.clock()
        cut = 0
        for armed in [a for a in list(self._armed) if a.deadline <= now]:
            with self._cutting:
                if self._armed.pop(armed, False) is not None:
                    continue  # it ended meanwhile
                armed.fired = True
                try:
                    armed.cut()
                except Exception:  # the connection may be gone already: nothing is waiting on it
                    log.debug("cutting a connection failed", exc_info=True)
                cut += 1
        return cut

    def close(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-watchdog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.check()
