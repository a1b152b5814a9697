"""What a subscriber has at an instant: per sub-account and rubrique, the usable total, its lines
and the nearest expiry. Pure function of (subscriber, instant, policy).

Lines are in the order of the policy's ``lines`` (the help page's: Crédit mensuel, Crédit Omoney,
Intra, Bonus...), then by expiry and amount, so the result does not depend on the order in which a
store returned the buckets, nor on how the labels sort.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .model import RUBRIQUES, Instant, MainAccount, Status, Subscriber, counting, to_datetime, to_iso
from .policy import Policy, Window


class Line(NamedTuple):
    """Fields in sort order: lines sort as tuples, by the policy's rank first, then expiry."""

    rank: int
    expires: Instant
    label: str
    amount: int
    scope: str | None
    #: The line's name per language (``label`` is the operator's first language).
    names: Mapping[str, str]


class RubriqueView(NamedTuple):
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
    status: Status
    main: MainAccount
    #: account -> rubrique -> view, only rubriques holding a counting bucket, in the help page's
    #: order; empty for inactive and deactivated subscribers.
    accounts: Mapping[str, Mapping[str, RubriqueView]]
    restricted: bool

    def total(self, account: str) -> int:
        return sum(view.total for view in self.accounts.get(account, {}).values())


#: Builds a named tuple from a plain one without its Python-level ``__new__`` (the loops below
#: run for every bucket at every step, and that call was their largest cost).
_make = tuple.__new__

#: Every (account, rubrique) in the help page's order, so a resolution lists them as menus do.
_KEYS = tuple((account, rubrique) for account, names in RUBRIQUES.items() for rubrique in names)


def resolve(subscriber: Subscriber, now: Instant, policy: Policy) -> Resolution:
    if not subscriber.active:
        return Resolution(subscriber.msisdn, subscriber.status, subscriber.main, {}, True)
    grouped: dict[tuple[str, str], list[Line]] = {}
    get = grouped.get
    labels = policy.labels
    make = _make
    for account, rubrique, amount, expires, scope, _, bucket_line in counting(subscriber.buckets, now):
        key = (account, rubrique)
        name = labels.get((account, rubrique, scope, bucket_line)) or policy.name(account, rubrique, scope, bucket_line)
        entry = make(Line, (name[0], expires, name[2], amount, scope, name[1]))
        found = get(key)
        if found is None:
            grouped[key] = [entry]
        else:
            found.append(entry)
    local: datetime | None = None
    accounts: dict[str, dict[str, RubriqueView]] = {}
    rules = policy.rubriques
    for key in _KEYS:
        lines = grouped.get(key)
        if lines is None:
            continue
        # Line's fields are in sort order: rank, expiry, then label and amount (one rubrique's
        # scopes are all text or all None). Names come last and are never compared with "<":
        # lines equal up to them have one rank, hence the very same names.
        lines.sort()
        window = rules[key].window
        if window is None:
            usable = True
        else:
            if local is None:
                local = to_datetime(now, policy.tz)
            usable = window.contains(local)
        account, rubrique = key
        total = 0
        soonest = lines[0][1]
        for line in lines:
            total += line[3]
            if line[1] < soonest:
                soonest = line[1]
        views = accounts.get(account)
        if views is None:
            views = accounts[account] = {}
        views[rubrique] = make(RubriqueView, (account, rubrique, total, soonest, usable, window, tuple(lines)))
    return Resolution(subscriber.msisdn, subscriber.status, subscriber.main, accounts, False)


def iso(instant: Instant, policy: Policy) -> str:
    """ISO 8601 with the operator's offset, to the second."""
    return to_iso(instant, policy.tz)


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
                    {"label": line.label, "scope": line.scope, "amount": line.amount,
                     "expires": iso(line.expires, policy)}
                    for line in view.lines
                ],
            }
            for rubrique, view in resolution.accounts.get(account, {}).items()
        }
    return out
