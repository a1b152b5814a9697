"""Where subscribers live: ``open_store(url)`` picks a store (in memory, SQLite or PostgreSQL), and
the in-memory store itself.

The interface, its errors and the rules every store follows are in :mod:`accounts.backend`, which
the stores import (a store never imports this module, which imports them); callers import them
from here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from .backend import (
    DEFAULT_TIMEOUT_S,
    INSUFFICIENT_FUNDS,
    MAIN_EXPIRED,
    SUCCESS,
    AccountStore,
    DebitRecord,
    DebitResult,
    Listed,
    StoreConflict,
    StoreDenied,
    StoreError,
    StoreRefused,
    StoreSchemaMissing,
    StoreTimeout,
    StoreUnreachable,
    UnknownSubscriber,
    decide_debit,
    first_request,
    keep,
    redact,
    scrub,
)
from .model import Bucket, DuplicateRequest, Instant, InternetPlus, MainAccount, Status, Subscriber

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "INSUFFICIENT_FUNDS",
    "MAIN_EXPIRED",
    "SUCCESS",
    "AccountStore",
    "DebitRecord",
    "DebitResult",
    "Listed",
    "MemoryAccountStore",
    "StoreConflict",
    "StoreDenied",
    "StoreError",
    "StoreRefused",
    "StoreSchemaMissing",
    "StoreTimeout",
    "StoreUnreachable",
    "UnknownSubscriber",
    "db_url",
    "decide_debit",
    "default_db_url",
    "first_request",
    "keep",
    "open_store",
    "redact",
    "scrub",
]


def _newest_first(records: Iterable[DebitRecord]) -> list[DebitRecord]:
    """Debits by ``at``, newest first; of one instant, the one recorded last first (``records``
    come in the order they were recorded)."""
    return sorted(reversed(list(records)), key=lambda r: r.at, reverse=True)


class MemoryAccountStore(AccountStore):
    """Subscribers in a dict: for tests, benchmarks and one-process demos."""

    def __init__(self) -> None:
        self.url = "memory:"
        self._subscribers: dict[str, Subscriber] = {}
        #: msisdn -> request id -> record, in the order recorded.
        self._debits: dict[str, dict[str, DebitRecord]] = {}
        self._lock = threading.Lock()

    def get(self, msisdn: str) -> Subscriber | None:
        return self._subscribers.get(msisdn)

    def put_many(self, subscribers: Iterable[Subscriber]) -> int:
        batch = {s.msisdn: s for s in subscribers}
        for sub in batch.values():  # what the SQL stores' CHECK constraint refuses, refused here too
            if sub.main.balance < 0:
                raise StoreRefused(f"{sub.msisdn}: a main balance cannot be negative ({sub.main.balance})")
        with self._lock:
            self._subscribers.update(batch)
        return len(batch)

    def _change(self, msisdn: str) -> Subscriber:
        sub = self._subscribers.get(msisdn)
        if sub is None:
            raise UnknownSubscriber(msisdn)
        return sub

    def grant(self, msisdn: str, bucket: Bucket) -> None:
        with self._lock:
            sub = self._change(msisdn)
            self._subscribers[msisdn] = replace(sub, buckets=sub.buckets + (bucket,))

    def set_favourites(self, msisdn: str, favourites: Sequence[str]) -> None:
        with self._lock:
            self._subscribers[msisdn] = replace(self._change(msisdn), favourites=tuple(favourites))

    def set_internet_plus(self, msisdn: str, active: bool) -> None:
        with self._lock:
            sub = self._change(msisdn)
            current = sub.internet_plus or InternetPlus(active, ())
            self._subscribers[msisdn] = replace(sub, internet_plus=current._replace(active=active))

    def debit(self, msisdn: str, request_id: str, amount: int, grants: Sequence[Bucket] = (),
              at: Instant = 0) -> DebitResult:
        if amount <= 0:
            raise ValueError(f"a debit must be a positive amount, not {amount}")
        with self._lock:
            sub = self._change(msisdn)
            records = self._debits.setdefault(msisdn, {})
            recorded = records.get(request_id)
            if recorded is not None:
                return DebitResult(recorded.outcome, recorded.balance, replayed=True)
            result = decide_debit(sub.main.balance, amount, sub.main.expires, at)
            if result.outcome == SUCCESS:
                self._subscribers[msisdn] = replace(
                    sub, main=MainAccount(result.balance, sub.main.expires), buckets=sub.buckets + tuple(grants))
            records[request_id] = DebitRecord(request_id, amount, result.outcome, result.balance, at)
            return result

    def request_duplicate(self, msisdn: str, month: str, at: Instant, since: Instant,
                          until: Instant | None = None) -> bool:
        with self._lock:
            sub = self._change(msisdn)
            if first_request(sub.duplicates, month, since, until) is not None:
                return False
            self._subscribers[msisdn] = replace(sub, duplicates=sub.duplicates + (DuplicateRequest(month, at),))
            return True

    def subscribers(self, status: Status | None = None) -> Iterator[Listed]:
        with self._lock:  # a copy, so that writers may go on while the caller iterates
            chosen = [s for s in self._subscribers.values() if status is None or s.status == status]
        chosen.sort(key=lambda s: s.msisdn)
        return iter([Listed(s.msisdn, s.status, s.offer.name, s.offer.type) for s in chosen])

    def search(self, text: str, limit: int) -> list[Listed]:
        with self._lock:
            found = sorted((s for s in self._subscribers.values() if text in s.msisdn), key=lambda s: s.msisdn)
        return [Listed(s.msisdn, s.status, s.offer.name, s.offer.type) for s in found[:max(limit, 0)]]

    def debits(self, msisdn: str) -> list[DebitRecord]:
        with self._lock:
            return _newest_first(self._debits.get(msisdn, {}).values())

    def count(self) -> int:
        return len(self._subscribers)

    def migrate(self) -> None:
        """Nothing to do: a dict has no schema."""

    def close(self) -> None:
        """Nothing to do: the subscribers go with the object."""


def default_db_url() -> str:
    """The embedded default: one SQLite file under the user's data folder."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'ussd122' / 'accounts.sqlite3'}"


def db_url(url: str | None = None) -> str:
    """The store a command means: ``url``, else ``USSD_DB``, else the embedded default."""
    return url or os.environ.get("USSD_DB") or default_db_url()


def open_store(url: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> AccountStore:
    """``sqlite:///relative/path``, ``sqlite:////absolute/path``, ``sqlite:///:memory:``,
    ``postgresql://user@host:port/db`` or ``memory:``. SQLite creates its schema on first use;
    PostgreSQL needs ``ussd accounts migrate`` (tests and tools may call ``migrate()``). No
    operation waits longer than ``timeout`` seconds (:class:`StoreTimeout`)."""
    url = db_url(url)
    if not timeout > 0:
        raise StoreError(f"a store timeout must be a positive number of seconds, not {timeout!r}")
    if url == "memory:":
        return MemoryAccountStore()
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteAccountStore

        return SQLiteAccountStore(url, timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresAccountStore

        return PostgresAccountStore(url, timeout)
    raise StoreError(f"unknown database URL {redact(url)!r}: expected sqlite:///PATH, postgresql://... or memory:")
