"""The accounts as menu data: the ``subscriber`` and ``bonus`` providers and the ``buy_pass`` action.

Menus see plain mappings and lists (what the template language can read); instants become aware
datetimes for the ``date`` filter. Every provider of one step shares a single read of the store.

What menus see of a subscriber is kept between steps as a :class:`Snapshot` while it cannot change:
the stored data is the same, no bucket has been granted or has expired since, and the same usage
windows are open. A dialogue's later steps then reuse the resolution and its views instead of
building them again. The values handed to templates are therefore shared between steps: the
template language cannot modify them, and filters registered in Python must not either.

The gateway calls providers from several worker threads at once: each thread keeps its own last
read, and a snapshot's parts are each set in one assignment, so a thread sees a part whole or not
at all (two threads may build the same part; either result is right).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ussd import ActionCall, Outcome, ProviderCall, Registry

from .billing import billing_month, day_start, month_label, months_before, period_of
from .catalogue import Pass, load_catalogue
from .model import RUBRIQUES, Invoice, Subscriber, counting_span, to_datetime, to_instant
from .policy import Policy, per_language
from .resolve import Resolution, resolve
from .store import INSUFFICIENT_FUNDS, MAIN_EXPIRED, SUCCESS, AccountStore, UnknownSubscriber, first_request, keep

#: How far back a duplicate invoice may be asked for, in calendar months (help page 000).
DUPLICATE_MONTHS = 24
#: Billing periods of internet+ shown before the current one (help page 004: six months).
PERIODS_SHOWN = 6



class KeptBonus(NamedTuple):
    """A bonus view and when it holds: while ``now`` is in ``[start, end)`` (the same buckets
    count) and the same usage ``windows`` are open."""

    view: BonusView
    start: float
    end: float
    windows: tuple[bool, ...]


@dataclass(slots=True)
class Snapshot:
    """What menus see of one subscriber while ``sub`` is what the store holds; each part is built
    when a step first reads it."""

    sub: Subscriber
    #: The ``subscriber`` provider's mapping.
    fields: dict[str, Any] | None = None
    bonus: KeptBonus | None = None


@dataclass
class AccountProviders:
    store: AccountStore
    policy: Policy
    catalogue: Mapping[str, Pass] = field(default_factory=load_catalogue)
    #: Subscribers whose snapshot is kept (the oldest goes first; 0 keeps none); a few kilobytes each.
    snapshot_limit: int = 4096
    #: Per thread, its last step's read: the engine hands every provider of one step the same
    #: call object (and a new one after an action, which may have changed the store).
    _local: threading.local = field(default_factory=threading.local, repr=False)
    #: The kept snapshots, by MSISDN.
    snapshots: dict[str, Snapshot] = field(default_factory=dict, repr=False)

    def _read(self, call: ProviderCall) -> Subscriber | None:
        local = self._local
        last: tuple[ProviderCall, Subscriber | None] | None = getattr(local, "last", None)
        if last is not None and last[0] is call:
            return last[1]
        subscriber = self.store.get(call.msisdn)
        local.last = (call, subscriber)
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
        kept = snapshot.bonus
        if kept is None or not kept.start <= now < kept.end or kept.windows != windows:
            # built before anything is recorded: if resolving fails, nothing claims to be valid
            view = BonusView(resolve(snapshot.sub, now, policy), policy)
            kept = snapshot.bonus = KeptBonus(view, *counting_span(snapshot.sub.buckets, now), windows)
        return kept.view

    def passes(self, call: ProviderCall) -> list[dict[str, Any]]:
        return [{"id": p.id, "name": per_language(p.name), "price": p.price, "days": p.days}
                for p in self.catalogue.values()]

    def conso(self, call: ProviderCall) -> dict[str, Any] | None:
        sub = self._read(call)
        if sub is None or sub.usage is None:
            return None
        usage = sub.usage
        return {"since": to_datetime(usage.since, self.policy.tz), "voice": usage.voice, "sms": usage.sms,
                "data": usage.data, "spend": usage.spend}

    def invoices(self, call: ProviderCall) -> dict[str, Any]:
        """The last invoice, those of the last 12 months (newest first), those a duplicate may be
        asked for (issued within 24 months) and, after them, older ones (``too_old``). An invoice
        is named after the month it was issued in; ``overdue`` when unpaid past its due date."""
        sub = self._read(call)
        tz = self.policy.tz
        now = to_instant(call.at, tz)
        issued = sorted((i for i in (sub.invoices if sub else ()) if i.issued <= now), key=lambda i: i.issued,
                        reverse=True)
        year_ago, limit = months_before(now, tz, 12), months_before(now, tz, DUPLICATE_MONTHS)

        def view(i: Invoice) -> dict[str, Any]:
            return {"month": i.month, "label": month_label(i.month), "amount": i.amount,
                    "issued": to_datetime(i.issued, tz), "due": to_datetime(i.due, tz), "paid": i.paid,
                    "overdue": i.overdue(now), "too_old": i.issued <= limit}

        views = [view(i) for i in issued]
        return {
            "last": views[0] if views else None,
            "recent": [v for v, i in zip(views, issued, strict=True) if i.issued > year_ago][:12],
            "duplicates": [v for v in views if not v["too_old"]],
            "too_old": [v for v in views if v["too_old"]],
        }

    def internet_plus(self, call: ProviderCall) -> dict[str, Any]:
        """internet+ for a subscriber who has it (``enabled``): on or off (``active``), the
        current billing period (26th to 25th) and the six before it, each with the invoice that
        bills it and its purchases up to the dialogue's instant; ``periods`` by their ``key`` (the
        billing invoice's month), with one more: a period chosen just before the 26th can still
        be opened just after it."""
        sub = self._read(call)
        tz = self.policy.tz
        now = to_instant(call.at, tz)
        plus = sub.internet_plus if sub is not None else None
        purchases = [p for p in plus.purchases if p.at <= now] if plus is not None else []

        def period(back: int) -> dict[str, Any]:
            start, end = period_of(now, tz, back)
            bought = sorted((p for p in purchases if start <= p.at < end), key=lambda p: p.at, reverse=True)
            month = billing_month(start, tz)
            return {
                "key": month, "start": to_datetime(start, tz), "end": to_datetime(end - 1, tz),
                "invoice": month_label(month),
                "total": sum(p.amount for p in bought), "count": len(bought),
                "purchases": [{"at": to_datetime(p.at, tz), "merchant": p.merchant, "amount": p.amount}
                              for p in bought],
            }

        periods = [period(back) for back in range(PERIODS_SHOWN + 2)]
        return {"enabled": plus is not None, "active": bool(plus and plus.active), "current": periods[0],
                "has_current": periods[0]["count"] > 0, "previous": periods[1:PERIODS_SHOWN + 1],
                "periods": {p["key"]: p for p in periods}}

    # -- actions ---------------------------------------------------------------------------

    def buy_pass(self, call: ActionCall) -> Outcome:
        """Debit the main account and grant the pass's buckets, once per dialogue and pass (the
        request id is the dialogue's own id: a recycled network session number never replays
        another dialogue's purchase)."""
        offer = self.catalogue.get(str(call.args.get("pass")))
        if offer is None:
            return Outcome("error")
        at = to_instant(call.at, self.policy.tz)
        try:
            result = self.store.debit(call.msisdn, f"{call.dialogue_id}:{offer.id}", offer.price,
                                      offer.buckets(at, self.policy.pass_rubrique), at)
        except UnknownSubscriber:
            return Outcome("error")
        data = {"balance": result.balance, "price": offer.price, "name": per_language(offer.name)}
        return Outcome(result.outcome, data)

    def add_favourite(self, call: ActionCall) -> Outcome:
        number = str(call.args.get("number") or "")
        sub = self.store.get(call.msisdn)
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
        if sub is None or number not in sub.favourites:
            return Outcome("not_found", {"number": number})
        self.store.set_favourites(call.msisdn, tuple(n for n in sub.favourites if n != number))
        return Outcome("success", {"number": number})

    def set_internet_plus(self, call: ActionCall) -> Outcome:
        active = bool(call.args.get("active"))
        try:
            self.store.set_internet_plus(call.msisdn, active)
        except UnknownSubscriber:
            return Outcome("error")
        return Outcome("success", {"active": active})

    def invoice_duplicate(self, call: ActionCall) -> Outcome:
        """Record a request for a duplicate of an invoice issued within 24 months, once per
        invoice and day: a second request that day is answered with the first one's time."""
        month = str(call.args.get("month") or "")
        sub = self.store.get(call.msisdn)
        tz = self.policy.tz
        now = to_instant(call.at, tz)
        invoice = next((i for i in (sub.invoices if sub else ()) if i.month == month and i.issued <= now), None)
        if invoice is None:
            return Outcome("not_found", {"month": month})
        data: dict[str, Any] = {"month": month, "label": month_label(month), "at": call.at}
        if invoice.issued <= months_before(now, tz, DUPLICATE_MONTHS):
            return Outcome("too_old", data)
        since, until = day_start(now, tz), day_start(now, tz, 1)
        try:
            if self.store.request_duplicate(call.msisdn, month, now, since, until):
                return Outcome("success", data)
        except UnknownSubscriber:
            return Outcome("error")
        fresh = self.store.get(call.msisdn)
        first = first_request(fresh.duplicates if fresh else (), month, since, until)
        return Outcome("already", {**data, "at": to_datetime(first.at if first else now, tz)})

    def register(self, registry: Registry) -> Registry:
        registry.provider("subscriber", self.subscriber)
        registry.provider("bonus", self.bonus)
        registry.provider("passes", self.passes)
        registry.provider("conso", self.conso)
        registry.provider("invoices", self.invoices)
        registry.provider("internet_plus", self.internet_plus)
        registry.action("buy_pass", self.buy_pass, {SUCCESS, INSUFFICIENT_FUNDS, MAIN_EXPIRED})
        registry.action("add_favourite", self.add_favourite, {"success", "own_number", "duplicate", "full"})
        registry.action("remove_favourite", self.remove_favourite, {"success", "not_found"})
        registry.action("set_internet_plus", self.set_internet_plus, {"success"})
        registry.action("invoice_duplicate", self.invoice_duplicate, {"success", "already", "too_old", "not_found"})
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
        """The sub-account: ``total`` (everything held), ``usable`` (what can be spent now: the
        totals screens show), ``later`` (rubriques held but usable only in their window, e.g. at
        the weekend), ``empty`` (nothing held at all), ``lines`` (every counting line, by expiry),
        and per rubrique, in the help page's order (``all``, a list; ``rubriques``, by name):
        title, total, lines (in the policy's order, each named per language), next expiry,
        whether usable now, the window's words; ``listed``, the rubriques the menu lists: every
        one of the help page, and the one for passes once it holds something. Rubriques with
        nothing count too, empty."""
        policy = self._policy
        tz = policy.tz
        views = self._resolution.accounts.get(account, {}) if self._resolution is not None else {}
        entry: dict[str, Any] = {"total": 0, "usable": 0, "later": [], "empty": not views, "lines": [],
                                 "all": [], "listed": [], "rubriques": {}}
        titles, windows = policy.words(account)
        for rubrique in RUBRIQUES[account]:
            view = views.get(rubrique)
            lines = [{"label": line.names, "scope": line.scope, "amount": line.amount,
                      "expires": to_datetime(line.expires, tz), "rubrique": rubrique}
                     for line in (view.lines if view is not None else ())]
            usable = view.usable_now if view is not None else True
            total = view.total if view is not None else 0
            item = {
                "rubrique": rubrique,
                "title": titles[rubrique],
                "total": total,
                "next_expiry": to_datetime(view.next_expiry, tz) if view is not None else None,
                "usable_now": usable,
                "window": windows[rubrique],
                "lines": lines,
            }
            entry["all"].append(item)
            if rubrique != policy.pass_rubrique or view is not None:
                entry["listed"].append(item)
            entry["rubriques"][rubrique] = item
            entry["total"] += total
            if usable:
                entry["usable"] += total
            elif total > 0:
                entry["later"].append(item)
            entry["lines"].extend(lines)
        entry["lines"].sort(key=lambda line: line["expires"])
        return entry

