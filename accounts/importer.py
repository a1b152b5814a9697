"""Subscribers from YAML (the provisioning format) or CSV (flat exports), validated in full.

Every record is checked before anything is written, and every problem names the record and the
field (``subscribers[3] 2250701020304: buckets[1].expires: ...``), so an import is all or nothing
and one run lists every mistake. CSV rows are turned into the YAML record shape and checked by the
same code.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from ussd.yamlnodes import did_you_mean

from .yamldata import load_plain
from .model import (
    LANGUAGES,
    MAX_INSTANT,
    MIN_INSTANT,
    OFFER_TYPES,
    RUBRIQUES,
    SCOPES,
    STATUSES,
    Bucket,
    DuplicateRequest,
    Instant,
    InternetPlus,
    Invoice,
    MainAccount,
    Offer,
    Purchase,
    Subscriber,
    Usage,
    month_of,
    to_datetime,
    to_instant,
)

_MSISDN = re.compile(r"^[0-9]{8,15}$")
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
#: C0 and C1 control characters (NUL among them, which PostgreSQL cannot store in text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SUBSCRIBER_FIELDS = ("msisdn", "status", "offer", "language", "main", "favourites", "buckets", "usage",
                     "invoices", "internet_plus", "duplicates")
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
BUCKET_FIELDS = ("account", "rubrique", "scope", "line", "amount", "granted", "expires")
CSV_FIELDS = ("msisdn", "status", "offer_name", "offer_type", "language", "balance", "main_expires",
              "favourites", "account", "rubrique", "scope", "line", "amount", "granted", "expires")
MAX_AMOUNT = 10**15


@dataclass(frozen=True, slots=True)
class ImportProblem:
    record: str  # "subscribers[3] 2250701020304" or "line 12"
    field: str  # "buckets[1].expires"
    message: str

    def __str__(self) -> str:
        return f"{self.record}: {self.field}: {self.message}" if self.field else f"{self.record}: {self.message}"


class ImportFailed(Exception):
    def __init__(self, source: str, problems: list[ImportProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class _Record:
    """Checks one raw record, collecting problems instead of stopping at the first."""

    def __init__(self, name: str, tz: tzinfo, problems: list[ImportProblem]) -> None:
        self.name = name
        self.tz = tz
        self.problems = problems
        self.ok = True

    def bad(self, field: str, message: str) -> None:
        self.ok = False
        self.problems.append(ImportProblem(self.name, field, message))

    def fields(self, raw: Any, field: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.bad(field, f"expected a mapping, found {type(raw).__name__}")
            return {}
        for key in raw:
            if key not in allowed:
                self.bad(f"{field}.{key}" if field else str(key),
                         f"unknown field{did_you_mean(str(key), allowed)}; expected one of: {', '.join(allowed)}")
        return raw

    def part(self, top: dict[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        """A nested mapping (offer, main), or None when it is missing or not a mapping."""
        if key not in top:
            self.bad(key, "missing")
            return None
        if not isinstance(top[key], dict):
            self.bad(key, f"expected a mapping of {', '.join(allowed)}, found {type(top[key]).__name__}")
            return None
        return self.fields(top[key], key, allowed)

    def text(self, raw: dict[str, Any], key: str, field: str, *, choices: Iterable[str] | None = None,
             pattern: re.Pattern[str] | None = None, required: bool = True) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.bad(field, "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.bad(field, f"expected text, found {type(value).__name__}")
            return None
        text = str(value).strip()
        if not text:  # blank is no value (and a blank name would be stored as nothing)
            if required:
                self.bad(field, "missing")
            return None
        control = _CONTROL.search(text)
        if control is not None:
            self.bad(field, f"{text!r} holds a control character (U+{ord(control.group()):04X})")
            return None
        if choices is not None and text not in choices:
            options = tuple(choices)
            self.bad(field, f"{text!r} is not one of: {', '.join(options)}{did_you_mean(text, options)}")
            return None
        if pattern is not None and not pattern.match(text):
            self.bad(field, f"{text!r} has the wrong form")
            return None
        return text

    def amount(self, raw: dict[str, Any], key: str, field: str) -> int | None:
        value = raw.get(key)
        if value is None:
            self.bad(field, "missing")
            return None
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(field, f"expected a whole number, found {value!r}")
            return None
        if value < 0 or value > MAX_AMOUNT:
            self.bad(field, f"expected a whole number from 0 to {MAX_AMOUNT}, found {value}")
            return None
        return value

    def instant(self, raw: dict[str, Any], key: str, field: str, *, required: bool = True) -> int | None:
        value = raw.get(key)
        if value is None or value == "":
            if required:
                self.bad(field, "missing")
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                self.bad(field, f"expected an ISO 8601 instant like 2026-11-30T23:59:59, found {value!r}")
                return None
        else:
            self.bad(field, f"expected an ISO 8601 instant, found {type(value).__name__}")
            return None
        instant = to_instant(moment, self.tz)
        if not MIN_INSTANT <= instant <= MAX_INSTANT or not _dated_in(instant, self.tz):
            self.bad(field, f"{value!r} is outside 1970 to 9999")
            return None
        return instant

    def flag(self, raw: dict[str, Any], key: str, field: str, default: bool) -> bool | None:
        """true/false (or yes/no, as text in CSV and plain YAML), ``default`` when absent."""
        value = raw.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            value = value.lower() in ("true", "yes")
        if not isinstance(value, bool):
            self.bad(field, f"expected true or false, found {value!r}")
            return None
        return value

    def msisdn(self, value: Any, field: str) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.bad(field, "expected E.164 digits like 2250701020304")
            return None
        text = str(value).strip().removeprefix("+")
        if not _MSISDN.match(text):
            self.bad(field, f"expected E.164 digits like 2250701020304, found {value!r}")
            return None
        if text.startswith("0"):  # a national form: E.164 starts with the country code
            self.bad(field, f"{value!r} is a national number: give it with its country code, like 2250701020304")
            return None
        return text


def _dated_in(instant: Instant, tz: tzinfo) -> bool:
    """Whether ``instant`` has a date in ``tz``: east of UTC the last hours of 9999 fall in year
    10000, which no screen, invoice month or export could then write."""
    try:
        to_datetime(instant, tz)
    except (OverflowError, ValueError, OSError):
        return False
    return True


def parse_subscriber(raw: Any, name: str, tz: tzinfo, problems: list[ImportProblem]) -> Subscriber | None:
    r = _Record(name, tz, problems)
    if not isinstance(raw, dict) or not raw:
        r.bad("", "expected a subscriber record (a mapping of msisdn, status, offer, main...)")
        return None
    top = r.fields(raw, "", SUBSCRIBER_FIELDS)
    msisdn = r.msisdn(top["msisdn"], "msisdn") if "msisdn" in top else r.bad("msisdn", "missing")
    status = r.text(top, "status", "status", choices=STATUSES)
    offer_raw = r.part(top, "offer", ("name", "type"))
    offer_name = r.text(offer_raw, "name", "offer.name") if offer_raw is not None else None
    offer_type = r.text(offer_raw, "type", "offer.type", choices=OFFER_TYPES) if offer_raw is not None else None
    language = r.text(top, "language", "language", choices=LANGUAGES, required=False) or "fr"
    main_raw = r.part(top, "main", ("balance", "expires"))
    balance = r.amount(main_raw, "balance", "main.balance") if main_raw is not None else None
    main_expires = r.instant(main_raw, "expires", "main.expires") if main_raw is not None else None
    favourites: list[str] = []
    fav_raw = top.get("favourites") or []
    if not isinstance(fav_raw, list):
        r.bad("favourites", f"expected a list of numbers, found {type(fav_raw).__name__}")
    else:
        for n, value in enumerate(fav_raw):
            number = r.msisdn(value, f"favourites[{n}]")
            if number is not None and number in favourites:
                r.bad(f"favourites[{n}]", f"{number} is already favourites[{favourites.index(number)}]")
            elif number is not None:
                favourites.append(number)
    buckets: list[Bucket] = []
    buckets_raw = top.get("buckets") or []
    if not isinstance(buckets_raw, list):
        r.bad("buckets", f"expected a list, found {type(buckets_raw).__name__}")
        buckets_raw = []
    for n, braw in enumerate(buckets_raw):
        bucket = _parse_bucket(r, braw, f"buckets[{n}]")
        if bucket is not None:
            buckets.append(bucket)
    usage = _parse_usage(r, top["usage"]) if top.get("usage") is not None else None
    invoices = _parse_list(r, top, "invoices", _parse_invoice)
    internet_plus = _parse_internet_plus(r, top["internet_plus"]) if top.get("internet_plus") is not None else None
    duplicates = _parse_list(r, top, "duplicates", _parse_duplicate)
    if not r.ok:
        return None
    assert msisdn and status and offer_name and offer_type and balance is not None and main_expires is not None
    return Subscriber(msisdn, status, Offer(offer_name, offer_type), language, MainAccount(balance, main_expires),
                      tuple(favourites), tuple(buckets), usage, tuple(invoices), internet_plus, tuple(duplicates))


def _parse_list(r: _Record, top: dict[str, Any], key: str, parse: Any) -> list[Any]:
    raw = top.get(key) or []
    if not isinstance(raw, list):
        r.bad(key, f"expected a list, found {type(raw).__name__}")
        return []
    found = (parse(r, item, f"{key}[{n}]") for n, item in enumerate(raw))
    return [item for item in found if item is not None]


def _parse_usage(r: _Record, raw: Any) -> Usage | None:
    u = r.fields(raw, "usage", ("since", "voice", "sms", "data", "spend"))
    if not u:
        return None
    since = r.instant(u, "since", "usage.since")
    counts = [r.amount(u, k, f"usage.{k}") if k in u else 0 for k in ("voice", "sms", "data", "spend")]
    if since is None or any(c is None for c in counts):
        return None
    return Usage(since, *counts)  # type: ignore[arg-type]


def _parse_invoice(r: _Record, raw: Any, field: str) -> Invoice | None:
    i = r.fields(raw, field, ("month", "amount", "issued", "due", "paid"))
    if not isinstance(raw, dict):  # an empty mapping goes on, to name what it lacks
        return None
    month = r.text(i, "month", f"{field}.month", pattern=_MONTH)
    amount = r.amount(i, "amount", f"{field}.amount")
    issued = r.instant(i, "issued", f"{field}.issued")
    due = r.instant(i, "due", f"{field}.due")
    paid = r.flag(i, "paid", f"{field}.paid", False)
    if month is None or amount is None or issued is None or due is None or paid is None:
        return None
    issue_month = month_of(issued, r.tz)
    if month != issue_month:
        r.bad(f"{field}.month", f"{month!r} is not the month the invoice was issued in ({issue_month}): "
                                "invoices are named after their issue month")
        return None
    return Invoice(month, amount, issued, due, paid)


def _parse_duplicate(r: _Record, raw: Any, field: str) -> DuplicateRequest | None:
    d = r.fields(raw, field, ("month", "at"))
    if not isinstance(raw, dict):
        return None
    month = r.text(d, "month", f"{field}.month", pattern=_MONTH)
    at = r.instant(d, "at", f"{field}.at")
    if month is None or at is None:
        return None
    return DuplicateRequest(month, at)


def _parse_internet_plus(r: _Record, raw: Any) -> InternetPlus | None:
    ip = r.fields(raw, "internet_plus", ("active", "purchases"))
    if not ip and raw != {}:
        return None
    active = r.flag(ip, "active", "internet_plus.active", True)
    if active is None:
        return None
    return InternetPlus(active, tuple(_parse_list(r, ip, "purchases", _parse_purchase)))


def _parse_purchase(r: _Record, raw: Any, field: str) -> Purchase | None:
    p = r.fields(raw, f"internet_plus.{field}", ("at", "merchant", "amount"))
    if not isinstance(raw, dict):
        return None
    at = r.instant(p, "at", f"internet_plus.{field}.at")
    merchant = r.text(p, "merchant", f"internet_plus.{field}.merchant")
    amount = r.amount(p, "amount", f"internet_plus.{field}.amount")
    if at is None or merchant is None or amount is None:
        return None
    return Purchase(at, merchant, amount)


def _parse_bucket(r: _Record, raw: Any, field: str) -> Bucket | None:
    if raw == {}:
        r.bad(field, "empty: expected a bucket (account, rubrique, amount, expires...)")
        return None
    b = r.fields(raw, field, BUCKET_FIELDS)
    if not b:
        return None
    account = r.text(b, "account", f"{field}.account", choices=tuple(RUBRIQUES))
    rubrique = r.text(b, "rubrique", f"{field}.rubrique", choices=RUBRIQUES[account]) if account else None
    scope = None
    if account is not None:
        scopes = SCOPES[account]
        if scopes:
            scope = r.text(b, "scope", f"{field}.scope", choices=scopes)
        elif b.get("scope") not in (None, ""):
            r.bad(f"{field}.scope", f"{account} buckets have no scope")
    line = r.text(b, "line", f"{field}.line", required=False)
    amount = r.amount(b, "amount", f"{field}.amount")
    granted = r.instant(b, "granted", f"{field}.granted", required=False)
    expires = r.instant(b, "expires", f"{field}.expires")
    if granted is not None and expires is not None and granted >= expires:
        r.bad(f"{field}.granted", "is not before expires")
        return None
    if account is None or rubrique is None or amount is None or expires is None:
        return None
    if SCOPES[account] and scope is None:
        return None
    return Bucket(account, rubrique, amount, expires, scope, granted, line or None)


def parse_records(records: Any, source: str, tz: tzinfo, lines: Sequence[int] = ()) -> list[Subscriber]:
    """Check every record; raises :class:`ImportFailed` listing all problems, else the subscribers.
    ``lines``: where each record starts in its file, for the problems to name."""
    problems: list[ImportProblem] = []
    if not isinstance(records, list):
        raise ImportFailed(source, [ImportProblem("file", "subscribers", "expected a list of subscribers")])
    out: list[Subscriber] = []
    seen: dict[str, str] = {}
    for n, raw in enumerate(records):
        hint = raw.get("msisdn") if isinstance(raw, dict) else None
        name = f"subscribers[{n}]" + (f" {hint}" if hint is not None else "") + (
            f" (line {lines[n]})" if n < len(lines) else "")
        sub = parse_subscriber(raw, name, tz, problems)
        if sub is None:
            continue
        if sub.msisdn in seen:
            problems.append(ImportProblem(name, "msisdn", f"already given by {seen[sub.msisdn]}"))
            continue
        seen[sub.msisdn] = name
        out.append(sub)
    if problems:
        raise ImportFailed(source, problems)
    return out


def read_yaml(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    source = str(path)
    try:
        with open(path, "rb") as fh:
            lines: dict[str, list[int]] = {}
            data = load_plain(fh.read(), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "file"
        raise ImportFailed(source, [ImportProblem(where, "", f"YAML syntax: {getattr(exc, 'problem', exc)}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(source, [ImportProblem("file", "", f"cannot read: {exc}")]) from None
    if not isinstance(data, dict) or "subscribers" not in data:
        raise ImportFailed(source, [ImportProblem("file", "subscribers", "expected a mapping with a 'subscribers' list")])
    return parse_records(data["subscribers"], source, tz, lines.get("subscribers", ()))


def read_csv(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    """One row per bucket (or one row with empty bucket columns for a subscriber without bonus);
    rows of one subscriber repeat its columns."""
    source = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            reader.fieldnames  # the header is read: line_num is now its last line
            rows: list[tuple[int, dict[str, Any]]] = []
            while True:
                start = reader.line_num + 1  # a quoted field may hold newlines: the row's first line
                row = next(reader, None)
                if row is None:
                    break
                rows.append((start, row))
            header = rows[0][1].keys() if rows else ()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFailed(source, [ImportProblem("file", "", f"cannot read: {exc}")]) from None
    missing = [c for c in ("msisdn", "status", "offer_name", "offer_type", "balance", "main_expires") if c not in header]
    unknown = [c for c in header if c not in CSV_FIELDS]
    if missing or unknown or not rows:
        message = (f"missing columns: {', '.join(missing)}; " if missing else "") + (
            f"unknown columns: {', '.join(unknown)}; " if unknown else "") + f"expected: {', '.join(CSV_FIELDS)}"
        raise ImportFailed(source, [ImportProblem("header", "", message if rows else "no rows")])
    records: dict[str, dict[str, Any]] = {}
    lines: list[int] = []  # each subscriber's first row
    for line, row in rows:
        key = (row.get("msisdn") or "").strip()
        record = records.get(key)
        if record is None:
            lines.append(line)
            record = records[key] = {
                "msisdn": key, "status": row.get("status"),
                "offer": {"name": row.get("offer_name"), "type": row.get("offer_type")},
                "language": row.get("language") or None,
                "main": {"balance": row.get("balance"), "expires": row.get("main_expires")},
                "favourites": [f for f in re.split(r"[;\s]+", row.get("favourites") or "") if f],
                "buckets": [],
            }
        if any((row.get(c) or "").strip() for c in ("account", "rubrique", "amount", "expires")):
            record["buckets"].append({c: (row.get(c) or "").strip() or None for c in BUCKET_FIELDS})
    return parse_records(list(records.values()), source, tz, lines)


def read_subscribers(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    return read_csv(path, tz) if str(path).lower().endswith(".csv") else read_yaml(path, tz)
