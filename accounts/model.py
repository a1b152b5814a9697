"""Subscribers and their bonus buckets: plain values, no database, no clock.

Instants are whole seconds since the Unix epoch (UTC): exact to the second, cheap to compare in the
rules that run for every bucket at every step, and stored the same way by every store. They become
datetimes only where a person reads them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple

#: Seconds since the epoch, UTC.
Instant = int
#: The instants every store, zone and date formatter can represent (1970 to the end of 9999 UTC).
MIN_INSTANT: Instant = 0
MAX_INSTANT: Instant = 253_402_300_799


class Status(enum.StrEnum):
    """A subscriber's standing: only an active one sees its bonus. A ``StrEnum``, so it compares
    equal to and prints as its value, as menus (``subscriber.status == "active"``), exports and
    stores read it."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    DEACTIVATED = "deactivated"


class OfferType(enum.StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


#: Sub-accounts and their rubriques, in the order the help page lists them, then ``pass``: what
#: passes and options bought on #122# grant (the help page's rubriques hold bonus *offered*; the
#: policy's ``passes`` names where purchases go).
RUBRIQUES: dict[str, tuple[str, ...]] = {
    "credit": ("monthly", "omoney", "weekend", "special", "pass"),
    "minutes": ("monthly", "omoney", "weekend", "special", "pass"),
    "internet": ("monthly", "weekly", "night", "special", "family", "social", "pass"),
}
#: Scopes a bucket of each sub-account may have (internet buckets have none).
SCOPES: dict[str, tuple[str, ...]] = {
    "credit": ("intra", "all"),
    "minutes": ("intra", "all", "international"),
    "internet": (),
}
#: The values as text, for choices and messages.
STATUSES = tuple(s.value for s in Status)
OFFER_TYPES = tuple(t.value for t in OfferType)
#: The languages #122# speaks; a subscriber's is one of them.
LANGUAGES = ("fr", "en")


def scope_problem(account: str, scope: str | None) -> str | None:
    """What is wrong with ``scope`` for a bucket of ``account`` (credit and minutes need one of
    theirs, internet has none), or None."""
    scopes = SCOPES[account]
    if scope is None:
        return f"{account} needs a scope: {', '.join(scopes)}" if scopes else None
    if scope not in scopes:
        return f"{account} has no scope {scope!r}; it has: {', '.join(scopes) or 'none'}"
    return None


class Bucket(NamedTuple):
    """A named tuple rather than a dataclass: a store builds thousands per second from rows."""

    account: str
    rubrique: str
    amount: int
    expires: Instant
    scope: str | None = None
    granted: Instant | None = None
    #: The display line when the rubrique and scope do not say it alone (see policy.yaml `lines`).
    line: str | None = None


def counting(buckets: Iterable[Bucket], now: Instant) -> list[Bucket]:
    """The buckets that count at ``now``: granted (``granted <= now``), not yet expired
    (``now < expires``) and above zero. The one statement of the rule, written for speed: it runs
    for every bucket at every step (indexes: 2 amount, 3 expires, 5 granted)."""
    return [b for b in buckets if b[2] > 0 and now < b[3] and (b[5] is None or b[5] <= now)]


def counting_span(buckets: Iterable[Bucket], now: Instant) -> tuple[float, float]:
    """The interval ``[start, end)`` around ``now`` in which :func:`counting` keeps giving the same
    buckets: that set changes only at a grant or an expiry, so what is built from it at ``now``
    holds until the nearest one ahead (``-inf``/``inf`` when there is none on that side)."""
    start, end = -math.inf, math.inf
    for b in buckets:
        if b[2] <= 0:
            continue  # never counts, whatever the time
        for edge in (b[3], b[5]):
            if edge is None:
                continue
            if edge <= now:
                if edge > start:
                    start = edge
            elif edge < end:
                end = edge
    return start, end


class Offer(NamedTuple):
    name: str
    type: OfferType


class MainAccount(NamedTuple):
    balance: int  # F CFA
    expires: Instant


class Usage(NamedTuple):
    """Consumption of the current period (Suivi conso), since ``since``."""

    since: Instant
    voice: int = 0  # seconds
    sms: int = 0
    data: int = 0  # bytes
    spend: int = 0  # F CFA


class Invoice(NamedTuple):
    """A postpaid invoice; ``month`` is the month it was issued in, "2026-11" (in the operator's
    zone), which is how the menus and the subscriber name it."""

    month: str
    amount: int  # F CFA
    issued: Instant
    due: Instant
    paid: bool = False

    def overdue(self, now: Instant) -> bool:
        """Unpaid after its due date: screens say since when, not "to pay before"."""
        return not self.paid and self.due < now


class Purchase(NamedTuple):
    """An internet+ purchase: a digital service paid on the Orange bill."""

    at: Instant
    merchant: str
    amount: int  # F CFA


class InternetPlus(NamedTuple):
    active: bool = True
    purchases: tuple[Purchase, ...] = ()


class DuplicateRequest(NamedTuple):
    """A subscriber asked, at ``at``, for a duplicate of the invoice of ``month`` (put in the
    Espace client as a PDF)."""

    month: str
    at: Instant


@dataclass(frozen=True, slots=True)
class Subscriber:
    msisdn: str  # E.164 digits, no "+"
    status: Status
    offer: Offer
    language: str
    main: MainAccount
    favourites: tuple[str, ...] = ()
    buckets: tuple[Bucket, ...] = field(default=())
    usage: Usage | None = None
    invoices: tuple[Invoice, ...] = ()
    internet_plus: InternetPlus | None = None
    duplicates: tuple[DuplicateRequest, ...] = ()

    @property
    def postpaid(self) -> bool:
        return self.offer.type == OfferType.POSTPAID

    @property
    def active(self) -> bool:
        return self.status == Status.ACTIVE


def to_instant(moment: datetime, tz: tzinfo) -> Instant:
    """A datetime as epoch seconds; a naive one is taken in ``tz`` (the operator's zone).

    ``fold`` decides an ambiguous local time (the hour repeated when clocks go back) the way
    Python does: fold=0 is the first occurrence.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp())


def to_datetime(instant: Instant, tz: tzinfo = UTC) -> datetime:
    return datetime.fromtimestamp(instant, tz)


def to_iso(instant: Instant, tz: tzinfo) -> str:
    """ISO 8601 with the zone's offset, to the second: what people read and the importer reads back."""
    return to_datetime(instant, tz).isoformat(timespec="seconds")


def month_of(instant: Instant, tz: tzinfo) -> str:
    """The month holding ``instant`` in ``tz``, "2026-11" (how invoices are named)."""
    local = to_datetime(instant, tz)
    return f"{local.year:04d}-{local.month:02d}"
