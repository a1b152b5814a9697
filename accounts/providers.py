"""The accounts as menu data: the ``subscriber`` and ``bonus`` providers and the ``buy_pass`` action.

Menus see plain mappings and lists (what the template language can read); instants become aware
datetimes for the ``date`` filter. Both providers of one step share a single read of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ussd.registry import ActionCall, Outcome, ProviderCall, Registry

from .model import RUBRIQUES, Bucket, Subscriber, to_datetime, to_instant
from .policy import Policy
from .resolve import Resolution, resolve
from .store import SUCCESS, AccountStore, UnknownSubscriber

LANGUAGES = ("fr", "en")

#: Passes the demo menu sells (price in F CFA, the bucket granted, its validity in days).
PASSES: dict[str, dict[str, Any]] = {
    "internet_500": {"price": 500, "account": "internet", "rubrique": "special", "amount": 500 * 1024 * 1024, "days": 3},
    "mix_1000": {"price": 1000, "account": "credit", "rubrique": "special", "scope": "all", "amount": 1500, "days": 7},
}


def _languages(text: Mapping[str, str]) -> dict[str, str]:
    """A policy text ({"*": x} or per language) as one entry per menu language."""
    fallback = text.get("*") or text.get("fr") or next(iter(text.values()), "")
    return {lang: text.get(lang, fallback) for lang in LANGUAGES}


@dataclass
class AccountProviders:
    store: AccountStore
    policy: Policy
    #: The last step's read: the engine hands every provider of one step the same call object.
    _last: tuple[ProviderCall, Subscriber | None] | None = field(default=None, repr=False)

    def _read(self, call: ProviderCall) -> Subscriber | None:
        last = self._last
        if last is not None and last[0] is call:
            return last[1]
        subscriber = self.store.get(call.msisdn)
        self._last = (call, subscriber)
        return subscriber

    def subscriber(self, call: ProviderCall) -> dict[str, Any] | None:
        sub = self._read(call)
        if sub is None:
            return None
        tz = self.policy.tz
        return {
            "msisdn": sub.msisdn,
            "status": sub.status,
            "active": sub.active,
            "offer": {"name": sub.offer.name, "type": sub.offer.type},
            "language": sub.language,
            "main": {"balance": sub.main.balance, "expires": to_datetime(sub.main.expires, tz)},
            "favourites": list(sub.favourites),
        }

    def bonus(self, call: ProviderCall) -> Mapping[str, Any]:
        sub = self._read(call)
        resolution = resolve(sub, to_instant(call.at, self.policy.tz), self.policy) if sub is not None else None
        return BonusView(resolution, self.policy)

    def buy_pass(self, call: ActionCall) -> Outcome:
        """Debit the main account and grant the pass, once per dialogue and pass."""
        offer = PASSES.get(str(call.args.get("pass")))
        if offer is None:
            return Outcome("error")
        at = to_instant(call.at, self.policy.tz)
        grant = Bucket(offer["account"], offer["rubrique"], offer["amount"], at + offer["days"] * 86400,
                       offer.get("scope"), at)
        self._last = None  # what the next screen reads must include this purchase
        try:
            result = self.store.debit(call.msisdn, f"{call.session_id}:{call.args.get('pass')}",
                                      offer["price"], [grant], at)
        except UnknownSubscriber:
            return Outcome("error")
        data = {"balance": result.balance, "price": offer["price"]}
        return Outcome("success" if result.outcome == SUCCESS else "insufficient_funds", data)

    def register(self, registry: Registry) -> Registry:
        registry.provider("subscriber", self.subscriber)
        registry.provider("bonus", self.bonus)
        registry.action("buy_pass", self.buy_pass, {"success", "insufficient_funds"})
        return registry


class BonusView(Mapping[str, Any]):
    """``bonus.credit``, ``bonus.minutes``, ``bonus.internet``: each built when a template first
    reads it, since a screen shows one sub-account and the others would be built for nothing."""

    __slots__ = ("_resolution", "_policy", "_built")

    def __init__(self, resolution: Resolution | None, policy: Policy) -> None:
        self._resolution = resolution
        self._policy = policy
        self._built: dict[str, dict[str, Any]] = {}

    def __getitem__(self, account: str) -> dict[str, Any]:
        built = self._built.get(account)
        if built is None:
            if account not in RUBRIQUES:
                raise KeyError(account)
            built = self._built[account] = self._build(account)
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(RUBRIQUES)

    def __len__(self) -> int:
        return len(RUBRIQUES)

    def _build(self, account: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"total": 0, "lines": [], "rubriques": {}}
        if self._resolution is None:
            return entry
        policy = self._policy
        tz = policy.tz
        for rubrique, view in self._resolution.accounts.get(account, {}).items():
            lines = [{"label": line.label, "scope": line.scope, "amount": line.amount,
                      "expires": to_datetime(line.expires, tz), "rubrique": rubrique} for line in view.lines]
            rule = policy.rubriques[(account, rubrique)]
            entry["rubriques"][rubrique] = {
                "title": _languages(rule.title),
                "total": view.total,
                "next_expiry": to_datetime(view.next_expiry, tz),
                "usable_now": view.usable_now,
                "window": _languages(view.window.label) if view.window else None,
                "lines": lines,
            }
            entry["total"] += view.total
            entry["lines"].extend(lines)
        entry["lines"].sort(key=lambda line: line["expires"])
        return entry

