"""What the SQLite and PostgreSQL stores share: the schema, the queries, and the debit transaction.

Queries are written once with ``?`` placeholders; a dialect says how to open a write transaction,
lock a subscriber's row and spell its placeholders. Instants are BIGINT epoch seconds in both.
"""

from __future__ import annotations

import abc
import json
from typing import Any, Iterable, Sequence

from .model import Bucket, Instant, MainAccount, Offer, Subscriber
from .store import SUCCESS, AccountStore, DebitResult, UnknownSubscriber, decide_debit

SCHEMA_VERSION = 1

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS subscribers (
        msisdn TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        offer_name TEXT NOT NULL,
        offer_type TEXT NOT NULL,
        language TEXT NOT NULL,
        balance BIGINT NOT NULL CHECK (balance >= 0),
        main_expires BIGINT NOT NULL,
        favourites TEXT NOT NULL DEFAULT '[]'
    )""",
    """CREATE TABLE IF NOT EXISTS buckets (
        id {serial} PRIMARY KEY,
        msisdn TEXT NOT NULL REFERENCES subscribers(msisdn) ON DELETE CASCADE,
        account TEXT NOT NULL,
        rubrique TEXT NOT NULL,
        scope TEXT,
        line TEXT,
        amount BIGINT NOT NULL,
        granted BIGINT,
        expires BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS buckets_by_msisdn ON buckets (msisdn)",
    """CREATE TABLE IF NOT EXISTS debits (
        msisdn TEXT NOT NULL,
        request_id TEXT NOT NULL,
        amount BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        balance BIGINT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (msisdn, request_id)
    )""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
]

_SUBSCRIBER = ("SELECT status, offer_name, offer_type, language, balance, main_expires, favourites "
               "FROM subscribers WHERE msisdn = ?")
_BUCKETS = "SELECT account, rubrique, amount, expires, scope, granted, line FROM buckets WHERE msisdn = ?"
_UPSERT = (
    "INSERT INTO subscribers (msisdn, status, offer_name, offer_type, language, balance, main_expires, favourites) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msisdn) DO UPDATE SET status = excluded.status, "
    "offer_name = excluded.offer_name, offer_type = excluded.offer_type, language = excluded.language, "
    "balance = excluded.balance, main_expires = excluded.main_expires, favourites = excluded.favourites"
)
_INSERT_BUCKET = ("INSERT INTO buckets (msisdn, account, rubrique, scope, line, amount, granted, expires) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_RECORDED = "SELECT outcome, balance FROM debits WHERE msisdn = ? AND request_id = ?"
_RECORD = "INSERT INTO debits (msisdn, request_id, amount, outcome, balance, at) VALUES (?, ?, ?, ?, ?, ?)"


def _bucket_row(msisdn: str, b: Bucket) -> tuple[Any, ...]:
    return (msisdn, b.account, b.rubrique, b.scope, b.line, b.amount, b.granted, b.expires)


class SqlAccountStore(AccountStore):
    placeholder = "?"
    serial = "INTEGER"

    def __init__(self, url: str) -> None:
        self.url = url
        self._sql: dict[str, str] = {}

    def q(self, query: str) -> str:
        """The query in this dialect's placeholder style (kept once converted)."""
        found = self._sql.get(query)
        if found is None:
            found = self._sql[query] = query.replace("?", self.placeholder) if self.placeholder != "?" else query
        return found

    # -- dialect -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read outside any write transaction."""

    @abc.abstractmethod
    def _write(self) -> Any:
        """A context manager: one write transaction, yielding a cursor; commits or rolls back."""

    def _lock_subscriber(self, cur: Any, msisdn: str) -> tuple[Any, ...] | None:
        """Read the subscriber's balance so that no other writer can change it before commit."""
        cur.execute(self.q("SELECT balance FROM subscribers WHERE msisdn = ?"), (msisdn,))
        return cur.fetchone()

    @abc.abstractmethod
    def _delete_buckets(self, cur: Any, msisdns: list[str]) -> None: ...

    # -- the interface -----------------------------------------------------------------------

    def migrate(self) -> None:
        with self._write() as cur:
            for statement in SCHEMA:
                cur.execute(statement.format(serial=self.serial))
            cur.execute("SELECT version FROM schema_version")
            if cur.fetchone() is None:
                cur.execute(self.q("INSERT INTO schema_version (version) VALUES (?)"), (SCHEMA_VERSION,))

    def get(self, msisdn: str) -> Subscriber | None:
        rows = self._read(self.q(_SUBSCRIBER), (msisdn,))
        if not rows:
            return None
        status, offer_name, offer_type, language, balance, main_expires, favourites = rows[0]
        buckets = tuple(Bucket(*row) for row in self._read(self.q(_BUCKETS), (msisdn,)))
        return Subscriber(msisdn, status, Offer(offer_name, offer_type), language,
                          MainAccount(balance, main_expires), tuple(json.loads(favourites)), buckets)

    def put_many(self, subscribers: Iterable[Subscriber]) -> int:
        batch = list({s.msisdn: s for s in subscribers}.values())
        if not batch:
            return 0
        rows = [(s.msisdn, s.status, s.offer.name, s.offer.type, s.language, s.main.balance, s.main.expires,
                 json.dumps(list(s.favourites))) for s in batch]
        buckets = [_bucket_row(s.msisdn, b) for s in batch for b in s.buckets]
        with self._write() as cur:
            cur.executemany(self.q(_UPSERT), rows)
            self._delete_buckets(cur, [s.msisdn for s in batch])
            if buckets:
                cur.executemany(self.q(_INSERT_BUCKET), buckets)
        return len(batch)

    def grant(self, msisdn: str, bucket: Bucket) -> None:
        with self._write() as cur:
            if self._lock_subscriber(cur, msisdn) is None:
                raise UnknownSubscriber(msisdn)
            cur.execute(self.q(_INSERT_BUCKET), _bucket_row(msisdn, bucket))

    def set_favourites(self, msisdn: str, favourites: Sequence[str]) -> None:
        with self._write() as cur:
            if self._lock_subscriber(cur, msisdn) is None:
                raise UnknownSubscriber(msisdn)
            cur.execute(self.q("UPDATE subscribers SET favourites = ? WHERE msisdn = ?"),
                        (json.dumps(list(favourites)), msisdn))

    def debit(self, msisdn: str, request_id: str, amount: int, grants: Sequence[Bucket] = (),
              at: Instant = 0) -> DebitResult:
        if amount <= 0:
            raise ValueError(f"a debit must be a positive amount, not {amount}")
        with self._write() as cur:
            row = self._lock_subscriber(cur, msisdn)
            if row is None:
                raise UnknownSubscriber(msisdn)
            cur.execute(self.q(_RECORDED), (msisdn, request_id))
            recorded = cur.fetchone()
            if recorded is not None:
                return DebitResult(recorded[0], recorded[1], replayed=True)
            result = decide_debit(row[0], amount)
            if result.outcome == SUCCESS:
                cur.execute(self.q("UPDATE subscribers SET balance = ? WHERE msisdn = ?"), (result.balance, msisdn))
                if grants:
                    cur.executemany(self.q(_INSERT_BUCKET), [_bucket_row(msisdn, b) for b in grants])
            cur.execute(self.q(_RECORD), (msisdn, request_id, amount, result.outcome, result.balance, at))
            return result

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM subscribers", ())[0][0])
