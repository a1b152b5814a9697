"""What every account store is built on: the ``AccountStore`` interface, its errors, and the rules
every store follows.

Every store applies the same debit rule (:func:`decide_debit`) inside its own atomic section, and
keeps a record per (subscriber, request id), so a retried purchase is answered from the record and
never debits twice. Invoice duplicate requests follow one rule too (:func:`first_request`),
checked and recorded in one atomic section, so two requests at once are recorded once.

The stores import this module, never :mod:`accounts.store`, which imports them to pick one by URL.
"""

from __future__ import annotations

import abc
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar
from urllib.parse import unquote

from ussd import Unavailable

from .model import Bucket, DuplicateRequest, Instant, OfferType, Status, Subscriber

K = TypeVar("K")
V = TypeVar("V")

SUCCESS = "success"
INSUFFICIENT_FUNDS = "insufficient_funds"
#: The main account's validity has ended: its balance cannot be spent (on passes or anything else)
#: until it is recharged.
MAIN_EXPIRED = "main_expired"


#: How long a store operation may wait (seconds): a row lock held elsewhere, a slow statement, a
#: server that stopped answering. A USSD screen has a few seconds, not twenty.
DEFAULT_TIMEOUT_S = 3.0


class StoreError(Unavailable):
    """The store could not be reached or used; the message names the URL (without password).
    ``kind`` says which, the same for every store, for logs and metrics. To the engine it is an
    outage (:class:`ussd.errors.Unavailable`): never mistaken for an unknown subscriber."""

    kind = "error"


class StoreUnreachable(StoreError):
    """No connection: the server is down, restarting, or the connection was lost."""

    kind = "unreachable"


class StoreTimeout(StoreError):
    """The operation did not finish within the store's bound (a lock held elsewhere, a slow
    statement, a server that stopped answering)."""

    kind = "timeout"


class StoreConflict(StoreError):
    """The server refused a transaction that raced another (serialization failure, deadlock)."""

    kind = "conflict"


class StoreDenied(StoreError):
    """The store's user may not do this (privileges, a read-only database)."""

    kind = "denied"


class StoreSchemaMissing(StoreError):
    """The database has no schema (or an older one than this release needs)."""

    kind = "schema"


class StoreRefused(StoreError, ValueError):
    """The data breaks a rule of the schema (a negative balance): nothing was written."""

    kind = "refused"


class UnknownSubscriber(KeyError):
    def __init__(self, msisdn: str) -> None:
        super().__init__(msisdn)
        self.msisdn = msisdn

    def __str__(self) -> str:
        return f"unknown subscriber {self.msisdn}"


_USERINFO_PASSWORD = re.compile(r"(://[^:/@]*):([^@]*)@")
_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword=)([^&\s]*)")


def _passwords(url: str) -> set[str]:
    """Every password written in ``url``, as written and percent-decoded."""
    found = {m.group(2) for m in _USERINFO_PASSWORD.finditer(url)}
    found |= {m.group(2) for m in _PASSWORD_PARAMETER.finditer(url)}
    return {form for secret in found if secret for form in (secret, unquote(secret))}


def redact(url: str) -> str:
    """The URL without its passwords (in the user part or as a ``password=`` parameter), for
    messages and logs."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1:***@", url))


def scrub(message: str, url: str) -> str:
    """``message`` without a password: those of any URL it quotes, and ``url``'s own wherever it
    stands as a word (a driver's message may quote any part of the URL it could not read)."""
    message = redact(message)
    for secret in sorted(_passwords(url), key=len, reverse=True):
        message = re.sub(rf"(?<![\w%]){re.escape(secret)}(?![\w%])", "***", message)
    return message


#: Memos are shared by the gateway's worker threads: a lookup is one atomic dict operation, but
#: making room is several, so changes take turns.
_KEEPING = threading.Lock()


def keep(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """Put ``value`` in a memo of at most ``limit`` entries and return it; the entry put longest
    ago goes first (a replaced entry counts as new). Safe from any thread."""
    if limit <= 0:
        return value
    with _KEEPING:
        if memo.pop(key, None) is None and len(memo) >= limit:
            del memo[next(iter(memo))]
        memo[key] = value
    return value


@dataclass(frozen=True, slots=True)
class DebitResult:
    outcome: str  # success | insufficient_funds
    balance: int  # the main balance after the debit (or as it stands, when refused)
    replayed: bool = False  # answered from the record of an earlier request with the same id


class DebitRecord(NamedTuple):
    """A debit as the store recorded it: the request, what came of it, the balance after, when."""

    request_id: str
    amount: int
    outcome: str
    balance: int
    at: Instant


class Listed(NamedTuple):
    """A subscriber as ``subscribers()`` lists it."""

    msisdn: str
    status: Status
    offer_name: str
    offer_type: OfferType


def first_request(requests: Iterable[DuplicateRequest], month: str, since: Instant,
                  until: Instant | None = None) -> DuplicateRequest | None:
    """The rule: the first request for a duplicate of ``month`` made in ``[since, until)`` (the
    day's start and end; no end: any later one); while there is one, the duplicate is not asked
    for again. Another day's requests do not count, so a clock frozen in the past sees the past
    as it was, while two requests of one day count once in whatever order they are stored."""
    return min((r for r in requests if r.month == month and since <= r.at and (until is None or r.at < until)),
               key=lambda r: r.at, default=None)


def decide_debit(balance: int, amount: int, expires: Instant | None = None, at: Instant = 0) -> DebitResult:
    """The rule: a debit never takes the main balance below zero, nor spends it once the main
    account has expired (``at`` at or after ``expires``)."""
    if amount <= 0:
        raise ValueError(f"a debit must be a positive amount, not {amount}")
    if expires is not None and at >= expires:
        return DebitResult(MAIN_EXPIRED, balance)
    if balance < amount:
        return DebitResult(INSUFFICIENT_FUNDS, balance)
    return DebitResult(SUCCESS, balance - amount)


class AccountStore(abc.ABC):
    url: str = ""

    @abc.abstractmethod
    def get(self, msisdn: str) -> Subscriber | None: ...

    @abc.abstractmethod
    def put_many(self, subscribers: Iterable[Subscriber]) -> int:
        """Store subscribers, each replacing any earlier one with its number (buckets and all),
        in one transaction: all or nothing. Returns how many."""

    @abc.abstractmethod
    def grant(self, msisdn: str, bucket: Bucket) -> None: ...

    @abc.abstractmethod
    def set_favourites(self, msisdn: str, favourites: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def set_internet_plus(self, msisdn: str, active: bool) -> None:
        """Switch internet+ purchases off or on again (the purchases are kept)."""

    @abc.abstractmethod
    def debit(self, msisdn: str, request_id: str, amount: int, grants: Sequence[Bucket] = (),
              at: Instant = 0) -> DebitResult:
        """Debit the main account and grant ``grants`` atomically, exactly once per request id."""

    @abc.abstractmethod
    def request_duplicate(self, msisdn: str, month: str, at: Instant, since: Instant,
                          until: Instant | None = None) -> bool:
        """Record at ``at`` a request for the duplicate of ``month``'s invoice, unless one was
        recorded in ``[since, until)`` (then record nothing and return False), atomically."""

    @abc.abstractmethod
    def subscribers(self, status: Status | None = None) -> Iterator[Listed]:
        """Every subscriber (or those of one status), by MSISDN."""

    @abc.abstractmethod
    def search(self, text: str, limit: int) -> list[Listed]:
        """At most ``limit`` subscribers whose number holds ``text`` (anywhere: ``0701`` finds
        ``2250701020304``), by number: a picker's bounded look-up (``ussd web``), never a full list."""

    @abc.abstractmethod
    def debits(self, msisdn: str) -> list[DebitRecord]:
        """The debits recorded for ``msisdn``, newest first (none for an unknown number)."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def migrate(self) -> None:
        """Create the schema if it is missing."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of connections and files; the store is not used again."""

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
