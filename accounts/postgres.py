"""The store for several gateway nodes: PostgreSQL through psycopg 3.

A debit locks the subscriber's row (``SELECT ... FOR UPDATE``) for the length of its transaction,
so concurrent debits of one subscriber from any number of nodes apply one after the other.
The schema is created by ``ussd accounts migrate --db URL``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import psycopg

from .sql import SqlAccountStore
from .store import StoreError

CONNECT_TIMEOUT_S = 5


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresAccountStore(SqlAccountStore):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._schema_ready = False
        self._migrating = False
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(url)}: {' '.join(str(exc).split())}") from exc

    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._errors():
            return self._db.execute(query, params, prepare=True).fetchall()

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        if not self._schema_ready and not self._migrating:
            self._check_schema()
        with self._errors(), self._db.transaction(), self._db.cursor() as cur:
            yield cur

    def _check_schema(self) -> None:
        """Refuse writes to a database without the schema before starting one: a batch written in
        pipeline mode would otherwise fail half-way and leave psycopg complaining on stderr."""
        with self._errors():
            row = self._db.execute("SELECT to_regclass('subscribers')").fetchone()
        if row is None or row[0] is None:
            raise StoreError(f"{redact(self.url)} has no schema: run `ussd accounts migrate --db URL`")
        self._schema_ready = True

    def migrate(self) -> None:
        self._migrating = True
        try:
            super().migrate()
        finally:
            self._migrating = False
        self._schema_ready = True

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """The server's problems as one-line store errors (a missing schema, a lost connection)."""
        try:
            yield
        except psycopg.errors.UndefinedTable as exc:
            raise StoreError(f"{redact(self.url)} has no schema: run `ussd accounts migrate --db URL`") from exc
        except psycopg.OperationalError as exc:
            raise StoreError(f"{redact(self.url)}: {' '.join(str(exc).split())}") from exc

    def _lock_subscriber(self, cur: Any, msisdn: str) -> tuple[Any, ...] | None:
        cur.execute("SELECT balance, buckets, main_expires FROM subscribers WHERE msisdn = %s FOR UPDATE", (msisdn,))
        return cur.fetchone()

    def close(self) -> None:
        self._db.close()
