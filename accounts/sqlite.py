"""The embedded store: one SQLite file, created with its schema on first use.

Writes take the database's write lock up front (``BEGIN IMMEDIATE``) so that two processes or
threads debiting the same subscriber queue up instead of both reading the old balance; WAL lets
readers go on while one writes. Each thread has its own connection (see :mod:`accounts.sql`),
except for ``:memory:``, a database that lives in one connection: its threads take turns.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from .backend import (
    DEFAULT_TIMEOUT_S,
    StoreDenied,
    StoreError,
    StoreRefused,
    StoreSchemaMissing,
    StoreTimeout,
    StoreUnreachable,
)
from .model import Subscriber
from .sql import SqlAccountStore

#: SQLite's primary result codes (the low byte of ``sqlite_errorcode``) -> the store's error.
_ERRORS: dict[int, type[StoreError]] = {
    3: StoreDenied,  # SQLITE_PERM
    5: StoreTimeout,  # SQLITE_BUSY: another writer kept the lock past the busy timeout
    6: StoreTimeout,  # SQLITE_LOCKED
    8: StoreDenied,  # SQLITE_READONLY
    10: StoreUnreachable,  # SQLITE_IOERR
    13: StoreUnreachable,  # SQLITE_FULL
    14: StoreUnreachable,  # SQLITE_CANTOPEN
    19: StoreRefused,  # SQLITE_CONSTRAINT
    23: StoreDenied,  # SQLITE_AUTH
}


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/x.db`` -> ``relative/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    path = url.removeprefix("sqlite:///")
    if not path:
        raise StoreError(f"no file in {url!r}: expected sqlite:///PATH")
    return path


class Snapshots:
    """Subscribers as last read from the file, for the steps that read them again (a dialogue
    reads its subscriber at every step).

    Why: every SQLite statement gives up the interpreter lock twice (its step, and the step that
    finds no more rows), and on a gateway under load the reactor's thread takes it each time and
    the worker waits to get it back: measured on ``ussd serve --http``, the subscriber's read made
    a step cost the serving process about 330 µs of CPU instead of 210, more than the engine's
    whole step. Kept true by:

    - every write of this store (its commit) dropping them all; a read that raced a write is not
      kept (:attr:`generation`, under one lock with the drop);
    - writes of other processes (``ussd accounts import`` on the same file) found by asking
      SQLite's ``PRAGMA data_version``, on a connection of its own, at most every
      :attr:`check_every` seconds: such a write is seen that much later at most.
    """

    def __init__(self, changed: Callable[[], int], check_every: float = 0.05, limit: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        #: The file's change counter (``PRAGMA data_version``), asked when a check is due.
        self.changed = changed
        self.check_every = check_every
        self.limit = limit
        self.clock = clock
        self.generation = 0
        self._kept: dict[str, Subscriber | None] = {}
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._version: int | None = None

    def get(self, msisdn: str, read: Callable[[str], Subscriber | None]) -> Subscriber | None:
        """The subscriber, from what was kept if nothing may have changed since, else ``read``."""
        self._check()
        try:
            return self._kept[msisdn]  # None too: a number known not to be there
        except KeyError:
            pass
        generation = self.generation
        subscriber = read(msisdn)
        with self._lock:
            if self.generation == generation:
                if len(self._kept) >= self.limit:
                    del self._kept[next(iter(self._kept))]
                self._kept[msisdn] = subscriber
        return subscriber

    def written(self) -> None:
        """This store wrote: nothing kept holds any more."""
        with self._lock:
            self.generation += 1
            self._kept.clear()

    def _check(self) -> None:
        now = self.clock()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + self.check_every
            version = self.changed()
            if version != self._version:
                self._version = version
                self.generation += 1
                self._kept.clear()


class SQLiteAccountStore(SqlAccountStore):
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(url, timeout)
        self.path = sqlite_path(url)
        self._memory = self.path == ":memory:"
        self._shared: sqlite3.Connection | None = None
        self._turns: AbstractContextManager[Any] = threading.RLock() if self._memory else nullcontext()
        try:
            if not self._memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnreachable(f"cannot open {url}: {exc}") from exc
        #: The connection that asks whether the file changed (its own: ``data_version`` counts the
        #: commits of every connection but the one asking).
        self._watcher: sqlite3.Connection | None = None
        self.snapshots = Snapshots(self._data_version)
        with self._errors(f"cannot open {url}: "):
            self.migrate()

    def _data_version(self) -> int:
        """(Under the snapshots' lock.) SQLite's count of the commits made to the file by other
        connections than the watcher's."""
        with self._errors():
            if self._watcher is None:
                self._watcher = self._open() if not self._memory else self._connection()
            return int(self._watcher.execute("PRAGMA data_version").fetchone()[0])

    def get(self, msisdn: str) -> Subscriber | None:
        return self.snapshots.get(msisdn, super().get)

    def _open(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        with self._errors(f"cannot open {self.url}: "):
            db = sqlite3.connect(self.path, isolation_level=None, timeout=self.timeout, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            db.execute("PRAGMA foreign_keys = ON")
            if not self._memory:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
        if self._memory:
            self._shared = db
        return db

    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # reused by every read: one less object per lookup
        reader: sqlite3.Cursor | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = self._connection().cursor()
        with self._turns, self._errors():
            return reader.execute(query, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._turns, self._errors():
            cur = self._connection().cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
                self.snapshots.written()
            finally:
                cur.close()

    @contextmanager
    def _errors(self, prefix: str = "") -> Iterator[None]:
        """The driver's errors as the store's own, by SQLite's result code."""
        try:
            yield
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            kind = _ERRORS.get(code, StoreError)
            if "no such table" in str(exc):
                kind = StoreSchemaMissing
            raise kind(f"{prefix or self.url + ': '}{exc}") from exc

    def close(self) -> None:
        super().close()
        self._shared = None
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not self._memory:
            watcher.close()
        self.snapshots.written()
