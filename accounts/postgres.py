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
    serial = "BIGSERIAL"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(url)}: {str(exc).strip()}") from exc

    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(query, params, prepare=True).fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise StoreError(f"{redact(self.url)} has no schema: run `ussd accounts migrate --db URL`") from exc

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._db.transaction():
            with self._db.cursor() as cur:
                yield cur

    def _lock_subscriber(self, cur: Any, msisdn: str) -> tuple[Any, ...] | None:
        cur.execute("SELECT balance FROM subscribers WHERE msisdn = %s FOR UPDATE", (msisdn,))
        return cur.fetchone()

    def _delete_buckets(self, cur: Any, msisdns: list[str]) -> None:
        cur.execute("DELETE FROM buckets WHERE msisdn = ANY(%s)", (msisdns,))

    def close(self) -> None:
        self._db.close()
