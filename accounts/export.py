"""A subscriber back to the import format (``docs/accounts.md``): the record the importer reads.

``parse_subscriber(subscriber_record(s, tz), ...)`` gives back ``s``, so a subscriber taken from a
store can be written out as a fixture or a provisioning file and loaded again unchanged. Records
hold plain values only (text, whole numbers, booleans, lists, mappings), so they go through
``json`` or ``yaml.safe_dump`` as they are; instants are ISO 8601 with ``tz``'s offset, to the
second, so they read back as the same instant in any zone.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from .model import Bucket, DuplicateRequest, Invoice, Purchase, Subscriber, Usage, to_iso


def subscriber_record(sub: Subscriber, tz: tzinfo) -> dict[str, Any]:
    """``sub`` as an import record; what is empty or None, and reads back so when left out, is left out."""
    out: dict[str, Any] = {
        "msisdn": sub.msisdn,
        "status": sub.status.value,  # the plain text: yaml.safe_dump refuses an enum member
        "offer": {"name": sub.offer.name, "type": sub.offer.type.value},
        "language": sub.language,
        "main": {"balance": sub.main.balance, "expires": to_iso(sub.main.expires, tz)},
    }
    if sub.favourites:
        out["favourites"] = list(sub.favourites)
    if sub.buckets:
        out["buckets"] = [_bucket(b, tz) for b in sub.buckets]
    if sub.usage is not None:
        out["usage"] = _usage(sub.usage, tz)
    if sub.invoices:
        out["invoices"] = [_invoice(i, tz) for i in sub.invoices]
    if sub.internet_plus is not None:
        out["internet_plus"] = {"active": sub.internet_plus.active}
        if sub.internet_plus.purchases:
            out["internet_plus"]["purchases"] = [_purchase(p, tz) for p in sub.internet_plus.purchases]
    if sub.duplicates:
        out["duplicates"] = [_duplicate(d, tz) for d in sub.duplicates]
    return out


def _bucket(b: Bucket, tz: tzinfo) -> dict[str, Any]:
    out: dict[str, Any] = {"account": b.account, "rubrique": b.rubrique}
    if b.scope is not None:
        out["scope"] = b.scope
    if b.line is not None:
        out["line"] = b.line
    out["amount"] = b.amount
    if b.granted is not None:
        out["granted"] = to_iso(b.granted, tz)
    out["expires"] = to_iso(b.expires, tz)
    return out


def _usage(u: Usage, tz: tzinfo) -> dict[str, Any]:
    return {"since": to_iso(u.since, tz), "voice": u.voice, "sms": u.sms, "data": u.data, "spend": u.spend}


def _invoice(i: Invoice, tz: tzinfo) -> dict[str, Any]:
    return {"month": i.month, "amount": i.amount, "issued": to_iso(i.issued, tz), "due": to_iso(i.due, tz),
            "paid": i.paid}


def _purchase(p: Purchase, tz: tzinfo) -> dict[str, Any]:
    return {"at": to_iso(p.at, tz), "merchant": p.merchant, "amount": p.amount}


def _duplicate(d: DuplicateRequest, tz: tzinfo) -> dict[str, Any]:
    return {"month": d.month, "at": to_iso(d.at, tz)}
