"""The demo population as menu data: a read-only, in-memory stand-in for the account stores.

It reads ``accounts/demo.yaml`` (the import format of the accounts issue) and offers what the menus
need today: the ``subscriber`` and ``bonus`` data providers and a ``buy_pass`` action that debits in
memory. The accounts layer (rules, stores, exactly-once debits) replaces it behind the same names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from ussd.registry import ActionCall, Outcome, ProviderCall, Registry

DEMO_FILE = Path(__file__).with_name("demo.yaml")
OPERATOR_TZ = ZoneInfo("Africa/Abidjan")

#: Display labels of the help page's lines, by sub-account, rubrique and scope.
LABELS: dict[tuple[str, str, str | None], str] = {
    ("credit", "monthly", "intra"): "Intra",
    ("credit", "monthly", "all"): "Bonus",
    ("credit", "omoney", "intra"): "OM intra",
    ("credit", "omoney", "all"): "OM Tous Réseaux",
    ("credit", "weekend", "intra"): "WES intra",
    ("credit", "weekend", "all"): "WES Tous Réseaux",
    ("credit", "special", "intra"): "Spécial Intra",
    ("credit", "special", "all"): "Spécial Tous Réseaux",
    ("internet", "monthly", None): "Bonus Mensuel",
    ("internet", "weekly", None): "Bonus Hebdo",
    ("internet", "night", None): "Bonus Nuit",
    ("internet", "special", None): "Spécial internet",
    ("internet", "family", None): "Family Data",
    ("internet", "social", None): "Réseaux sociaux",
}
SCOPE_LABELS = {"intra": "Intra", "all": "Tous Réseaux", "international": "International"}

#: The passes the demo action sells: price in F CFA and the bucket granted.
PASSES: dict[str, dict[str, Any]] = {
    "internet_500": {"price": 500, "account": "internet", "rubrique": "special", "amount": 500 * 1024 * 1024, "days": 3},
    "mix_1000": {"price": 1000, "account": "credit", "rubrique": "special", "scope": "all", "amount": 1500, "days": 7},
}


def parse_time(value: str | datetime, tz: tzinfo = OPERATOR_TZ) -> datetime:
    """ISO 8601; without an offset, the operator's zone."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=tz)


def label_of(bucket: dict[str, Any]) -> str:
    account, rubrique, scope = bucket["account"], bucket["rubrique"], bucket.get("scope")
    key = (account, rubrique, scope if account != "internet" else None)
    if key in LABELS:
        return LABELS[key]
    return f"{rubrique.capitalize()} {SCOPE_LABELS.get(scope or '', '')}".strip()


@dataclass
class DemoAccounts:
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path = DEMO_FILE) -> "DemoAccounts":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out = cls()
        for raw in data.get("subscribers", []):
            sub = dict(raw)
            sub["main"] = {**sub["main"], "expires": parse_time(sub["main"]["expires"])}
            sub["buckets"] = [
                {**b, "expires": parse_time(b["expires"]),
                 "granted": parse_time(b["granted"]) if "granted" in b else None}
                for b in sub.get("buckets", [])
            ]
            sub["buckets"].sort(key=lambda b: b["expires"])
            sub.setdefault("favourites", [])
            out.subscribers[str(sub["msisdn"])] = sub
        return out

    # -- providers -------------------------------------------------------------------------

    def subscriber(self, call: ProviderCall) -> dict[str, Any] | None:
        sub = self.subscribers.get(call.msisdn)
        if sub is None:
            return None
        return {k: sub[k] for k in ("msisdn", "status", "offer", "language", "main", "favourites")}

    def bonus(self, call: ProviderCall) -> dict[str, Any]:
        sub = self.subscribers.get(call.msisdn)
        out: dict[str, Any] = {a: {"total": 0, "lines": []} for a in ("credit", "minutes", "internet")}
        if sub is None or sub["status"] != "active":
            return out
        for bucket in sub["buckets"]:  # kept in expiry order
            granted = bucket["granted"]
            if bucket["amount"] <= 0 or not ((granted is None or granted <= call.at) and call.at < bucket["expires"]):
                continue
            account = out[bucket["account"]]
            account["total"] += bucket["amount"]
            account["lines"].append({"label": label_of(bucket), "amount": bucket["amount"],
                                     "expires": bucket["expires"], "rubrique": bucket["rubrique"]})
        return out

    # -- actions ---------------------------------------------------------------------------

    def buy_pass(self, call: ActionCall) -> Outcome:
        offer = PASSES.get(str(call.args.get("pass")))
        sub = self.subscribers.get(call.msisdn)
        if offer is None or sub is None:
            return Outcome("error")
        with self._lock:
            main = sub["main"]
            if main["balance"] < offer["price"]:
                return Outcome("insufficient_funds", {"balance": main["balance"], "price": offer["price"]})
            main["balance"] -= offer["price"]
            sub["buckets"].append({
                "account": offer["account"], "rubrique": offer["rubrique"], "scope": offer.get("scope"),
                "amount": offer["amount"], "granted": call.at,
                "expires": call.at + timedelta(days=offer["days"]),
            })
            sub["buckets"].sort(key=lambda b: b["expires"])
            return Outcome("success", {"balance": main["balance"], "price": offer["price"]})

    def register(self, registry: Registry) -> Registry:
        registry.provider("subscriber", self.subscriber)
        registry.provider("bonus", self.bonus)
        registry.action("buy_pass", self.buy_pass, {"success", "insufficient_funds"})
        return registry

