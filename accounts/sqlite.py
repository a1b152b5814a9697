"""The embedded store: one SQLite file, created with its schema on first use.

Writes take the database's write lock up front (``BEGIN IMMEDIATE``) so that two processes debiting
the same subscriber queue up instead of both reading the old balance; WAL lets readers go on while
one process writes.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .sql import SqlAccountStore
from .store import StoreError

BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/x.db`` -> ``relative/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    path = url.removeprefix("sqlite:///")
    if not path:
        raise StoreError(f"no file in {url!r}: expected sqlite:///PATH")
    return path


class SQLiteAccountStore(SqlAccountStore):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        path = sqlite_path(url)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                       check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self.migrate()
            self._reader = self._db.cursor()  # reused by every read: one less object per lookup
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open {url}: {exc}") from exc

    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._reader.execute(query, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        cur = self._db.cursor()
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

    def close(self) -> None:
        self._db.close()
