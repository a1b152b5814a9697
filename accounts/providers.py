"""The accounts as menu data: the ``subscriber`` and ``bonus`` providers and the ``buy_pass`` action.

Menus see plain mappings and lists (what the template language can read); instants become aware
datetimes for the ``date`` filter. Every provider of one step shares a single read of the store.

What menus see of a subscriber is kept between steps as a :class:`Snapshot` while it cannot change:
the stored data is the same, no bucket has been granted or has expired since, and the same usage
windows are open. A dialogue's later steps then reuse the resolution and its views instead of
building them again. The values handed to templates are therefore shared between steps: the
template language cannot modify them, and filters registered in Python must not either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Mapping

from ussd.registry import ActionCall, Outcome, ProviderCall, Registry

from .billing import period_of
from .catalogue import Pass, load_catalogue
from .model import RUBRIQUES, Invoice, Subscriber, counting_span, to_datetime, to_instant
from .policy import Policy
from .resolve import Resolution, resolve
from .store import SUCCESS, AccountStore, UnknownSubscriber, keep

LANGUAGES = ("fr", "en")
YEAR = 365 * 86_400

def _languages(text: Mapping[str, str]) -> dict[str, str]:
    """A policy text ({"*": x} or per language) as one entry per menu language."""
    fallback = text.get("*") or text.get("fr") or next(iter(text.values()), "")
    return {lang: text.get(lang, fallback) for lang in LANGUAGES}


@dataclass(slots=True)
class Snapshot:
    """What menus see of one subscriber while ``sub`` is what the store holds; each part is built
    when a step first reads it. The bonus view also depends on time: it holds while ``now`` is in
    ``[start, end)`` (the same buckets count) and the same usage ``windows`` are open."""

    sub: Subscriber
    #: The ``subscriber`` provider's mapping.
    fields: dict[str, Any] | None = None
    bonus: BonusView | None = None
    start: float = 0.0
    end: float = 0.0
    windows: tuple[bool, ...] = ()


@dataclass
class AccountProviders:
    store: AccountStore
    policy: Policy
    catalogue: Mapping[str, Pass] = field(default_factory=load_catalogue)
    #: Subscribers whose snapshot is kept (the oldest goes first; 0 keeps none); a few kilobytes each.
    snapshot_limit: int = 4096
    #: The last step's read: the engine hands every provider of one step the same call object.
    _last: tuple[ProviderCall, Subscriber | None] | None = field(default=None, repr=False)
    #: The kept snapshots, by MSISDN.
    snapshots: dict[str, Snapshot] = field(default_factory=dict, repr=False)

    def _read(self, call: ProviderCall) -> Subscriber | None:
        last = self._last
        if last is not None and last[0] is call:
            return last[1]
        subscriber = self.store.get(call.msisdn)
        self._last = (call, subscriber)
        return subscriber

    def _snapshot(self, call: ProviderCall) -> Snapshot | None:
        """The subscriber's kept snapshot if the store still holds the same data, else a new one
        (see the module's docstring)."""
        sub = self._read(call)
        if sub is None:
            return None
        snapshot = self.snapshots.get(sub.msisdn)
        if snapshot is not None and (snapshot.sub is sub or snapshot.sub == sub):
            return snapshot
        return keep(self.snapshots, sub.msisdn, Snapshot(sub), self.snapshot_limit)

    def subscriber(self, call: ProviderCall) -> dict[str, Any] | None:
        snapshot = self._snapshot(call)
        if snapshot is None:
            return None
        if snapshot.fields is None:
            snapshot.fields = self._fields(snapshot.sub)
        return snapshot.fields

    def _fields(self, sub: Subscriber) -> dict[str, Any]:
        tz = self.policy.tz
        return {
            "msisdn": sub.msisdn,
            "status": sub.status,
            "active": sub.active,
            "offer": {"name": sub.offer.name, "type": sub.offer.type},
            "language": sub.language,
            "main": {"balance": sub.main.balance, "expires": to_datetime(sub.main.expires, tz)},
            "favourites": list(sub.favourites),
            "favourites_max": self.policy.favourites_max,
            "postpaid": sub.postpaid,
        }

    def bonus(self, call: ProviderCall) -> Mapping[str, Any]:
        snapshot = self._snapshot(call)
        policy = self.policy
        if snapshot is None:
            return BonusView(None, policy)
        now = to_instant(call.at, policy.tz)
        windows = policy.open_windows(now)
        if snapshot.bonus is None or not snapshot.start <= now < snapshot.end or snapshot.windows != windows:
            # built before anything is recorded: if resolving fails, nothing claims to be valid
            bonus = BonusView(resolve(snapshot.sub, now, policy), policy)
            snapshot.start, snapshot.end = counting_span(snapshot.sub.buckets, now)
            snapshot.windows, snapshot.bonus = windows, bonus
        return snapshot.bonus

    def passes(self, call: ProviderCall) -> list[dict[str, Any]]:
        return [{"id": p.id, "name": _languages(p.name), "price": p.price, "days": p.days}
                for p in self.catalogue.values()]

    def conso(self, call: ProviderCall) -> dict[str, Any] | None:
        sub = self._read(call)
        if sub is None or sub.usage is None:
            return None
        usage = sub.usage
        return {"since": to_datetime(usage.since, self.policy.tz), "voice": usage.voice, "sms": usage.sms,
                "data": usage.data, "spend": usage.spend}

    def invoices(self, call: ProviderCall) -> dict[str, Any]:
        """The last invoice, the last 12 months' (newest first), and those a duplicate may be asked
        for (24 months)."""
        sub = self._read(call)
        now = to_instant(call.at, self.policy.tz)
        tz = self.policy.tz
        issued = sorted((i for i in (sub.invoices if sub else ()) if i.issued <= now), key=lambda i: i.issued,
                        reverse=True)

        def view(i: Invoice) -> dict[str, Any]:
            return {"month": i.month, "label": f"{i.month[5:7]}/{i.month[:4]}", "amount": i.amount,
                    "issued": to_datetime(i.issued, tz), "due": to_datetime(i.due, tz), "paid": i.paid}

        return {
            "last": view(issued[0]) if issued else None,
            "recent": [view(i) for i in issued if i.issued > now - YEAR][:12],
            "duplicates": [view(i) for i in issued if i.issued > now - 2 * YEAR][:24],
        }

    def internet_plus(self, call: ProviderCall) -> dict[str, Any]:
        """Purchases of the current billing period (26th to 25th) and the six before it."""
        sub = self._read(call)
        tz = self.policy.tz
        now = to_instant(call.at, tz)
        plus = sub.internet_plus if sub is not None else None
        purchases = plus.purchases if plus is not None else ()

        def period(back: int) -> dict[str, Any]:
            start, end = period_of(now, tz, back)
            bought = sorted((p for p in purchases if start <= p.at < end), key=lambda p: p.at, reverse=True)
            return {
                "start": to_datetime(start, tz), "end": to_datetime(end - 1, tz),
                "total": sum(p.amount for p in bought), "count": len(bought),
                "purchases": [{"at": to_datetime(p.at, tz), "merchant": p.merchant, "amount": p.amount}
                              for p in bought],
            }

        current = period(0)
        return {"enabled": plus is not None, "active": bool(plus and plus.active), "current": current,
                "has_current": current["count"] > 0, "previous": [period(back) for back in range(1, 7)]}

    # -- actions ---------------------------------------------------------------------------

    def buy_pass(self, call: ActionCall) -> Outcome:
        """Debit the main account and grant the pass's buckets, once per dialogue and pass."""
        offer = self.catalogue.get(str(call.args.get("pass")))
        if offer is None:
            return Outcome("error")
        at = to_instant(call.at, self.policy.tz)
        self._last = None  # what the next screen reads must include this purchase
        try:
            result = self.store.debit(call.msisdn, f"{call.session_id}:{offer.id}", offer.price,
                                      offer.buckets(at), at)
        except UnknownSubscriber:
            return Outcome("error")
        data = {"balance": result.balance, "price": offer.price, "name": _languages(offer.name)}
        return Outcome("success" if result.outcome == SUCCESS else "insufficient_funds", data)

    def add_favourite(self, call: ActionCall) -> Outcome:
        number = str(call.args.get("number") or "")
        sub = self.store.get(call.msisdn)
        self._last = None
        if sub is None:
            return Outcome("error")
        if number == sub.msisdn:
            return Outcome("own_number", {"number": number})
        if number in sub.favourites:
            return Outcome("duplicate", {"number": number})
        if len(sub.favourites) >= self.policy.favourites_max:
            return Outcome("full", {"number": number, "max": self.policy.favourites_max})
        self.store.set_favourites(call.msisdn, (*sub.favourites, number))
        return Outcome("success", {"number": number})

    def remove_favourite(self, call: ActionCall) -> Outcome:
        number = str(call.args.get("number") or "")
        sub = self.store.get(call.msisdn)
        self._last = None
        if sub is None or number not in sub.favourites:
            return Outcome("not_found", {"number": number})
        self.store.set_favourites(call.msisdn, tuple(n for n in sub.favourites if n != number))
        return Outcome("success", {"number": number})

    def set_internet_plus(self, call: ActionCall) -> Outcome:
        active = bool(call.args.get("active"))
        self._last = None
        try:
            self.store.set_internet_plus(call.msisdn, active)
        except UnknownSubscriber:
            return Outcome("error")
        return Outcome("success", {"active": active})

    def invoice_duplicate(self, call: ActionCall) -> Outcome:
        """A duplicate is sent by SMS; the request only needs an invoice the subscriber may ask for."""
        month = str(call.args.get("month") or "")
        sub = self.store.get(call.msisdn)
        now = to_instant(call.at, self.policy.tz)
        if sub is None or not any(i.month == month and now - 2 * YEAR < i.issued <= now for i in sub.invoices):
            return Outcome("not_found", {"month": month})
        return Outcome("success", {"month": month})

    def register(self, registry: Registry) -> Registry:
        registry.provider("subscriber", self.subscriber)
        registry.provider("bonus", self.bonus)
        registry.provider("passes", self.passes)
        registry.provider("conso", self.conso)
        registry.provider("invoices", self.invoices)
        registry.provider("internet_plus", self.internet_plus)
        registry.action("buy_pass", self.buy_pass, {"success", "insufficient_funds"})
        registry.action("add_favourite", self.add_favourite, {"success", "own_number", "duplicate", "full"})
        registry.action("remove_favourite", self.remove_favourite, {"success", "not_found"})
        registry.action("set_internet_plus", self.set_internet_plus, {"success"})
        registry.action("invoice_duplicate", self.invoice_duplicate, {"success", "not_found"})
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

    def get(self, account: str, default: Any = None) -> Any:  # templates read through get(): one call
        built = self._built.get(account)
        if built is not None:
            return built
        return self[account] if account in RUBRIQUES else default

    def __iter__(self) -> Iterator[str]:
        return iter(RUBRIQUES)

    def __len__(self) -> int:
        return len(RUBRIQUES)

    def _build(self, account: str) -> dict[str, Any]:
        """``total``, ``lines`` (every counting line, by expiry), and per rubrique, in the help
        page's order (``all``, a list; ``rubriques``, by name): title, total, lines, next expiry,
        whether usable now, and the window's words. Rubriques with nothing count too, empty."""
        policy = self._policy
        tz = policy.tz
        views = self._resolution.accounts.get(account, {}) if self._resolution is not None else {}
        entry: dict[str, Any] = {"total": 0, "lines": [], "all": [], "rubriques": {}}
        titles, windows = _words(policy, account)
        for rubrique in RUBRIQUES[account]:
            view = views.get(rubrique)
            lines = [{"label": line.label, "scope": line.scope, "amount": line.amount,
                      "expires": to_datetime(line.expires, tz), "rubrique": rubrique}
                     for line in (view.lines if view is not None else ())]
            item = {
                "rubrique": rubrique,
                "title": titles[rubrique],
                "total": view.total if view is not None else 0,
                "next_expiry": to_datetime(view.next_expiry, tz) if view is not None else None,
                "usable_now": view.usable_now if view is not None else True,
                "window": windows[rubrique],
                "lines": lines,
            }
            entry["all"].append(item)
            entry["rubriques"][rubrique] = item
            entry["total"] += item["total"]
            entry["lines"].extend(lines)
        entry["lines"].sort(key=lambda line: line["expires"])
        return entry


@lru_cache(maxsize=64)
def _words(policy: Policy, account: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str] | None]]:
    """Each rubrique's title and window words per language: policy text, the same at every step."""
    rules = [policy.rubriques[(account, rubrique)] for rubrique in RUBRIQUES[account]]
    return ({r.rubrique: _languages(r.title) for r in rules},
            {r.rubrique: _languages(r.window.label) if r.window else None for r in rules})

