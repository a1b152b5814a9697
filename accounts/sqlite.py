"""The embedded store: one SQLite file, created with its schema on first use.

Writes take the database's write lock up front (``BEGIN IMMEDIATE``) so that two processes or
threads debiting the same subscriber queue up instead of both reading the old balance; WAL lets
readers go on while one writes. Each thread has its own connection (see :mod:`accounts.sql`),
except for ``:memory:``, a database that lives in one connection: its threads take turns.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, ContextManager, Iterator, Sequence

from .sql import SqlAccountStore
from .store import (DEFAULT_TIMEOUT_S, StoreDenied, StoreError, StoreRefused, StoreSchemaMissing, StoreTimeout,
                    StoreUnreachable)

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


class SQLiteAccountStore(SqlAccountStore):
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(url, timeout)
        self.path = sqlite_path(url)
        self._memory = self.path == ":memory:"
        self._shared: sqlite3.Connection | None = None
        self._turns: ContextManager[Any] = threading.RLock() if self._memory else nullcontext()
        try:
            if not self._memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnreachable(f"cannot open {url}: {exc}") from exc
        with self._errors(f"cannot open {url}: "):
            self.migrate()

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
        reader = getattr(self._local, "reader", None)  # reused by every read: one less object per lookup
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
