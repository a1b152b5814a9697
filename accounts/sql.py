"""What the SQLite and PostgreSQL stores share: the schema, the queries, and the debit transaction.

Queries are written once with ``?`` placeholders; a dialect says how to open a connection and a
write transaction, lock a subscriber's row, spell its placeholders and name its driver's errors.
Instants are BIGINT epoch seconds in both.

The gateway runs engine steps on worker threads, and a connection runs one transaction at a time:
each thread has a connection of its own, opened on its first operation (a broken one is dropped
and the next operation opens another).
"""

from __future__ import annotations

import abc
import json
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

from .backend import (
    SUCCESS,
    AccountStore,
    DebitRecord,
    DebitResult,
    Listed,
    StoreError,
    UnknownSubscriber,
    decide_debit,
    first_request,
    keep,
    redact,
)
from .model import (
    Bucket,
    DuplicateRequest,
    Instant,
    InternetPlus,
    Invoice,
    MainAccount,
    Offer,
    OfferType,
    Purchase,
    Status,
    Subscriber,
    Usage,
)

SCHEMA_VERSION = 3
#: What takes a schema of an older version to the next one.
UPGRADES = {
    1: ["ALTER TABLE subscribers ADD COLUMN services TEXT NOT NULL DEFAULT '{}'"],
    2: ["ALTER TABLE debits ADD COLUMN seq BIGINT NOT NULL DEFAULT 0"],
}

SCHEMA = [
    # A subscriber's buckets live in its row (a flat JSON list, Bucket's fields in order): #122#
    # reads a subscriber far more often than it changes one, and one row is one index lookup,
    # where a bucket table costs a lookup per bucket. Writes lock the row and rewrite the list.
    """CREATE TABLE IF NOT EXISTS subscribers (
        msisdn TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        offer_name TEXT NOT NULL,
        offer_type TEXT NOT NULL,
        language TEXT NOT NULL,
        balance BIGINT NOT NULL CHECK (balance >= 0),
        main_expires BIGINT NOT NULL,
        favourites TEXT NOT NULL DEFAULT '[]',
        buckets TEXT NOT NULL DEFAULT '[]',
        services TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE IF NOT EXISTS debits (
        msisdn TEXT NOT NULL,
        request_id TEXT NOT NULL,
        amount BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        balance BIGINT NOT NULL,
        at BIGINT NOT NULL,
        -- the order of a subscriber's debits (1, 2, ...), for those recorded within one second
        seq BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (msisdn, request_id)
    )""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
]

_SUBSCRIBER = ("SELECT status, offer_name, offer_type, language, balance, main_expires, favourites, buckets, "
               "services FROM subscribers WHERE msisdn = ?")
_UPSERT = (
    "INSERT INTO subscribers (msisdn, status, offer_name, offer_type, language, balance, main_expires, "
    "favourites, buckets, services) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msisdn) DO UPDATE SET "
    "status = excluded.status, offer_name = excluded.offer_name, offer_type = excluded.offer_type, "
    "language = excluded.language, balance = excluded.balance, main_expires = excluded.main_expires, "
    "favourites = excluded.favourites, buckets = excluded.buckets, services = excluded.services"
)
_RECORDED = "SELECT outcome, balance FROM debits WHERE msisdn = ? AND request_id = ?"
# Run with the subscriber's row locked, so no other debit of it takes the same seq.
_RECORD = ("INSERT INTO debits (msisdn, request_id, amount, outcome, balance, at, seq) VALUES (?, ?, ?, ?, ?, ?, "
           "(SELECT COALESCE(MAX(seq), 0) + 1 FROM debits WHERE msisdn = ?))")
_DEBITS = "SELECT request_id, amount, outcome, balance, at FROM debits WHERE msisdn = ? ORDER BY at DESC, seq DESC"
_LISTED = "SELECT msisdn, status, offer_name, offer_type FROM subscribers"
_dumps = json.JSONEncoder(separators=(",", ":")).encode


_WIDTH = len(Bucket._fields)


def _buckets_text(buckets: Iterable[Bucket]) -> str:
    """One flat JSON list, Bucket's fields one bucket after another: the fastest to read back."""
    return _dumps([value for bucket in buckets for value in bucket])


def _services_text(sub: Subscriber) -> str:
    """Usage, invoices, internet+ and duplicate requests (read by a few screens only) as one JSON
    object."""
    out: dict[str, Any] = {}
    if sub.usage is not None:
        out["usage"] = list(sub.usage)
    if sub.invoices:
        out["invoices"] = [list(i) for i in sub.invoices]
    if sub.internet_plus is not None:
        out["internet_plus"] = [sub.internet_plus.active, [list(p) for p in sub.internet_plus.purchases]]
    if sub.duplicates:
        out["duplicates"] = [list(d) for d in sub.duplicates]
    return _dumps(out)


def _services_of(text: str) -> dict[str, Any]:
    if text == "{}":
        return {}
    raw = json.loads(text)
    out: dict[str, Any] = {}
    if "usage" in raw:
        out["usage"] = Usage(*raw["usage"])
    if "invoices" in raw:
        out["invoices"] = tuple(Invoice(*i) for i in raw["invoices"])
    if "internet_plus" in raw:
        active, purchases = raw["internet_plus"]
        out["internet_plus"] = InternetPlus(active, tuple(Purchase(*p) for p in purchases))
    if "duplicates" in raw:
        out["duplicates"] = tuple(DuplicateRequest(*d) for d in raw["duplicates"])
    return out


def _buckets_of(text: str) -> tuple[Bucket, ...]:
    flat = json.loads(text)
    make = tuple.__new__
    return tuple([make(Bucket, flat[i:i + _WIDTH]) for i in range(0, len(flat), _WIDTH)])


class Cursor(Protocol):
    """What the queries need of a driver's cursor (``sqlite3`` and ``psycopg`` alike)."""

    def execute(self, query: str, params: Sequence[Any] = ..., /) -> object: ...

    def executemany(self, query: str, params: Iterable[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...


class SqlAccountStore(AccountStore):
    placeholder = "?"

    #: Subscribers whose parsed buckets are kept (see :meth:`_buckets`).
    parsed_limit = 4096

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        #: The longest any operation may wait, in seconds (see :class:`accounts.store.StoreTimeout`).
        self.timeout = timeout
        self._sql: dict[str, str] = {}
        self._parsed: dict[str, tuple[str, tuple[Bucket, ...]]] = {}
        self._local = threading.local()
        #: Every thread's connection, so that ``close`` closes them all.
        self._opened: list[Any] = []
        self._opening = threading.Lock()

    # -- connections -------------------------------------------------------------------------

    @abc.abstractmethod
    def _open(self) -> Any:
        """A new connection, set up for this store (its timeouts, its pragmas)."""

    def _connection(self) -> Any:
        """This thread's connection, opened on its first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            with self._opening:
                self._opened.append(conn)
            self._local.conn = conn
        return conn

    def _discard(self, conn: Any) -> None:
        """Close a connection that cannot be trusted any more (lost, cut, half-way through a
        transaction); its thread's next operation opens a new one."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._opening:
            if conn in self._opened:
                self._opened.remove(conn)
        try:
            conn.close()
        except Exception:  # already broken: closing is only tidying up
            pass

    def close(self) -> None:
        with self._opening:
            opened, self._opened = self._opened, []
        self._local = threading.local()
        for conn in opened:
            try:
                conn.close()
            except Exception:
                pass

    def _buckets(self, msisdn: str, text: str) -> tuple[Bucket, ...]:
        """The buckets stored as ``text``, parsed once per distinct text: a dialogue reads the same
        subscriber at every step, and parsing is most of a read. Keyed by content, so a change
        made by any process is seen at once."""
        cached = self._parsed.get(msisdn)
        if cached is not None and cached[0] == text:
            return cached[1]
        return keep(self._parsed, msisdn, (text, _buckets_of(text)), self.parsed_limit)[1]

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
    def _write(self) -> AbstractContextManager[Cursor]:
        """One write transaction, yielding a cursor; commits or rolls back."""

    def _lock_subscriber(self, cur: Cursor, msisdn: str) -> tuple[Any, ...] | None:
        """(balance, buckets, main_expires) of the subscriber, read so that no other writer can
        change them before this transaction commits."""
        cur.execute(self.q("SELECT balance, buckets, main_expires FROM subscribers WHERE msisdn = ?"), (msisdn,))
        return cur.fetchone()

    # -- the interface -----------------------------------------------------------------------

    def migrate(self) -> None:
        with self._write() as cur:
            for statement in SCHEMA:
                cur.execute(statement)
            cur.execute("SELECT version FROM schema_version")
            row = cur.fetchone()
            if row is None:
                cur.execute(self.q("INSERT INTO schema_version (version) VALUES (?)"), (SCHEMA_VERSION,))
                return
            for version in range(row[0], SCHEMA_VERSION):
                for statement in UPGRADES[version]:
                    cur.execute(statement)
            cur.execute(self.q("UPDATE schema_version SET version = ?"), (SCHEMA_VERSION,))

    def get(self, msisdn: str) -> Subscriber | None:
        rows = self._read(self.q(_SUBSCRIBER), (msisdn,))
        if not rows:
            return None
        status, offer_name, offer_type, language, balance, main_expires, favourites, buckets, services = rows[0]
        status, offer_type = self._enums(msisdn, status, offer_type)
        favourites = () if favourites == "[]" else tuple(json.loads(favourites))
        subscriber = Subscriber(msisdn, status, Offer(offer_name, offer_type), language,
                                MainAccount(balance, main_expires), favourites, self._buckets(msisdn, buckets))
        return subscriber if services == "{}" else replace(subscriber, **_services_of(services))

    def _enums(self, msisdn: str, status: str, offer_type: str) -> tuple[Status, OfferType]:
        """A row's status and offer type as the model's enums; text this store never writes (a row
        edited by hand) is the store's error, naming the row, not a traceback."""
        try:
            return Status(status), OfferType(offer_type)
        except ValueError as exc:
            raise StoreError(f"{redact(self.url)}: subscriber {msisdn}: {exc}") from None

    def _listed(self, rows: Iterable[tuple[Any, ...]]) -> list[Listed]:
        out = []
        for msisdn, status, offer_name, offer_type in rows:
            status, offer_type = self._enums(msisdn, status, offer_type)
            out.append(Listed(msisdn, status, offer_name, offer_type))
        return out

    def put_many(self, subscribers: Iterable[Subscriber]) -> int:
        batch = list({s.msisdn: s for s in subscribers}.values())
        if not batch:
            return 0
        rows = [(s.msisdn, s.status, s.offer.name, s.offer.type, s.language, s.main.balance, s.main.expires,
                 _dumps(list(s.favourites)), _buckets_text(s.buckets), _services_text(s)) for s in batch]
        with self._write() as cur:
            cur.executemany(self.q(_UPSERT), rows)
        return len(batch)

    def _locked(self, cur: Cursor, msisdn: str) -> tuple[int, tuple[Bucket, ...], Instant]:
        """(balance, buckets, main account expiry), locked for this transaction."""
        row = self._lock_subscriber(cur, msisdn)
        if row is None:
            raise UnknownSubscriber(msisdn)
        return row[0], _buckets_of(row[1]), row[2]

    def grant(self, msisdn: str, bucket: Bucket) -> None:
        with self._write() as cur:
            _, buckets, _ = self._locked(cur, msisdn)
            cur.execute(self.q("UPDATE subscribers SET buckets = ? WHERE msisdn = ?"),
                        (_buckets_text(buckets + (bucket,)), msisdn))

    def _locked_services(self, cur: Cursor, msisdn: str) -> dict[str, Any]:
        """The subscriber's services as stored (JSON lists), its row locked until the transaction ends."""
        self._lock_subscriber(cur, msisdn)
        cur.execute(self.q("SELECT services FROM subscribers WHERE msisdn = ?"), (msisdn,))
        row = cur.fetchone()
        if row is None:
            raise UnknownSubscriber(msisdn)
        services: dict[str, Any] = json.loads(row[0])
        return services

    def _set_services(self, cur: Cursor, msisdn: str, services: dict[str, Any]) -> None:
        cur.execute(self.q("UPDATE subscribers SET services = ? WHERE msisdn = ?"), (_dumps(services), msisdn))

    def set_internet_plus(self, msisdn: str, active: bool) -> None:
        with self._write() as cur:
            services = self._locked_services(cur, msisdn)
            services["internet_plus"] = [active, services.get("internet_plus", [True, []])[1]]
            self._set_services(cur, msisdn, services)

    def request_duplicate(self, msisdn: str, month: str, at: Instant, since: Instant,
                          until: Instant | None = None) -> bool:
        with self._write() as cur:
            services = self._locked_services(cur, msisdn)
            requests = services.get("duplicates", [])
            if first_request((DuplicateRequest(*r) for r in requests), month, since, until) is not None:
                return False
            services["duplicates"] = [*requests, [month, at]]
            self._set_services(cur, msisdn, services)
            return True

    def set_favourites(self, msisdn: str, favourites: Sequence[str]) -> None:
        with self._write() as cur:
            self._locked(cur, msisdn)
            cur.execute(self.q("UPDATE subscribers SET favourites = ? WHERE msisdn = ?"),
                        (_dumps(list(favourites)), msisdn))

    def debit(self, msisdn: str, request_id: str, amount: int, grants: Sequence[Bucket] = (),
              at: Instant = 0) -> DebitResult:
        if amount <= 0:
            raise ValueError(f"a debit must be a positive amount, not {amount}")
        with self._write() as cur:
            balance, buckets, expires = self._locked(cur, msisdn)
            cur.execute(self.q(_RECORDED), (msisdn, request_id))
            recorded = cur.fetchone()
            if recorded is not None:
                return DebitResult(recorded[0], recorded[1], replayed=True)
            result = decide_debit(balance, amount, expires, at)
            if result.outcome == SUCCESS:
                cur.execute(self.q("UPDATE subscribers SET balance = ?, buckets = ? WHERE msisdn = ?"),
                            (result.balance, _buckets_text(buckets + tuple(grants)), msisdn))
            cur.execute(self.q(_RECORD), (msisdn, request_id, amount, result.outcome, result.balance, at, msisdn))
            return result

    def subscribers(self, status: Status | None = None) -> Iterator[Listed]:
        if status is None:
            rows = self._read(f"{_LISTED} ORDER BY msisdn", ())
        else:
            rows = self._read(self.q(f"{_LISTED} WHERE status = ? ORDER BY msisdn"), (status,))
        return iter(self._listed(rows))

    def search(self, text: str, limit: int) -> list[Listed]:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"  # the text's own % and _ match only themselves
        rows = self._read(self.q(f"{_LISTED} WHERE msisdn LIKE ? ESCAPE '\\' ORDER BY msisdn LIMIT ?"),
                          (pattern, max(limit, 0)))
        return self._listed(rows)

    def debits(self, msisdn: str) -> list[DebitRecord]:
        return [DebitRecord(*row) for row in self._read(self.q(_DEBITS), (msisdn,))]

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM subscribers", ())[0][0])
