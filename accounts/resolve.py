"""What a subscriber has at an instant: per sub-account and rubrique, the usable total, its lines
and the nearest expiry. Pure function of (subscriber, instant, policy).

Lines are ordered by expiry, then label and amount, so the result does not depend on the order in
which a store returned the buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from .model import RUBRIQUES, Instant, MainAccount, Subscriber, to_datetime
from .policy import Policy, Window


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    scope: str | None
    amount: int
    expires: Instant


@dataclass(frozen=True, slots=True)
class RubriqueView:
    account: str
    rubrique: str
    total: int
    next_expiry: Instant
    usable_now: bool
    window: Window | None
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    msisdn: str
    status: str
    main: MainAccount
    #: account -> rubrique -> view, only rubriques holding a counting bucket, in the help page's
    #: order; empty for inactive and deactivated subscribers.
    accounts: Mapping[str, Mapping[str, RubriqueView]]
    restricted: bool

    def total(self, account: str) -> int:
        return sum(view.total for view in self.accounts.get(account, {}).values())


def resolve(subscriber: Subscriber, now: Instant, policy: Policy) -> Resolution:
    if not subscriber.active:
        return Resolution(subscriber.msisdn, subscriber.status, subscriber.main, {}, True)
    grouped: dict[tuple[str, str], list[Line]] = {}
    label = policy.label
    for bucket in subscriber.buckets:
        if bucket.counts_at(now):
            key = (bucket.account, bucket.rubrique)
            line = Line(label(bucket.account, bucket.rubrique, bucket.scope, bucket.line),
                        bucket.scope, bucket.amount, bucket.expires)
            grouped.setdefault(key, []).append(line)
    local: datetime | None = None
    accounts: dict[str, dict[str, RubriqueView]] = {}
    for account, rubriques in RUBRIQUES.items():
        views: dict[str, RubriqueView] = {}
        for rubrique in rubriques:
            lines = grouped.get((account, rubrique))
            if not lines:
                continue
            lines.sort(key=_line_order)
            window = policy.rubriques[(account, rubrique)].window
            if window is None:
                usable = True
            else:
                if local is None:
                    local = to_datetime(now, policy.tz)
                usable = window.contains(local)
            views[rubrique] = RubriqueView(account, rubrique, sum(line.amount for line in lines),
                                           lines[0].expires, usable, window, tuple(lines))
        if views:
            accounts[account] = views
    return Resolution(subscriber.msisdn, subscriber.status, subscriber.main, accounts, False)


def _line_order(line: Line) -> tuple[Any, ...]:
    return (line.expires, line.label, line.amount, line.scope or "")


def iso(instant: Instant, policy: Policy) -> str:
    """ISO 8601 with the operator's offset, to the second."""
    return to_datetime(instant, policy.tz).isoformat(timespec="seconds")


def as_json(resolution: Resolution, policy: Policy) -> dict[str, Any]:
    """The shape ``ussd accounts show --json`` prints (and other tools read)."""
    out: dict[str, Any] = {
        "msisdn": resolution.msisdn,
        "status": resolution.status,
        "main": {"balance": resolution.main.balance, "expires": iso(resolution.main.expires, policy)},
    }
    if resolution.restricted:
        return out
    for account in RUBRIQUES:
        out[account] = {
            rubrique: {
                "total": view.total,
                "next_expiry": iso(view.next_expiry, policy),
                "usable_now": view.usable_now,
                "lines": [
                    {"label": line.label, "scope": line.scope, "amount": line.amount, "expires": iso(line.expires, policy)}
                    for line in view.lines
                ],
            }
            for rubrique, view in resolution.accounts.get(account, {}).items()
        }
    return out
