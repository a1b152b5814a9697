"""Subscribers from YAML (the provisioning format) or CSV (flat exports), validated in full.

Every record is checked before anything is written, and every problem names the record, its place
in the file and the field (``subscribers[3] 2250701020304 (line 12 column 5): buckets[1].expires:
...``), so an import is all or nothing and one run lists every mistake. CSV rows are turned into
the YAML record shape and checked by the same code; a CSV problem names the physical line of the
row it comes from. Nothing in a file is dropped or read two ways without a problem: a second YAML
document, a key given twice, an unknown key, a repeated or extra CSV column, CSV rows of one
subscriber that disagree.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from ussd.yamlnodes import did_you_mean, excerpt

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
from .yamldata import DataError, Marks, load_plain

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
#: The columns every row of a subscriber repeats (each row is one of its buckets).
CSV_SUBSCRIBER = ("status", "offer_name", "offer_type", "language", "balance", "main_expires", "favourites")
_CSV_REQUIRED = ("msisdn", "status", "offer_name", "offer_type", "balance", "main_expires")
TOP_LEVEL = ("subscribers",)
MAX_AMOUNT = 10**15
_BUCKET_FIELD = re.compile(r"^buckets\[([0-9]+)\]")


@dataclass(frozen=True, slots=True)
class ImportProblem:
    record: str  # "subscribers[3] 2250701020304" or "line 12"
    field: str  # "buckets[1].expires"
    message: str

    def __str__(self) -> str:
        return f"{self.record}: {self.field}: {self.message}" if self.field else f"{self.record}: {self.message}"


def at(line: int, column: int | None = None) -> str:
    """A place in a file as every problem names it: ``line 12 column 5`` (YAML), ``line 12`` (CSV)."""
    return f"line {line}" if column is None else f"line {line} column {column}"


@dataclass(frozen=True, slots=True)
class RecordPlace:
    """Where a record is in its file: the line (and column, in YAML) it starts at; from CSV, also
    the line of the row of each bucket, so that a bucket's problem names the row to fix."""

    line: int
    column: int | None = None
    rows: tuple[int, ...] = ()

    def of(self, field: str) -> str:
        bucket = _BUCKET_FIELD.match(field) if self.rows else None
        if bucket is not None and int(bucket[1]) < len(self.rows):
            return at(self.rows[int(bucket[1])])
        return at(self.line, self.column)


def _found(value: Any) -> str:
    """``value`` as a message names it: text quoted and cut short, a number as written, a list or a
    mapping by its kind. Never str() of a structure: aliases (or a caller) can make one huge."""
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"  # (str() refuses past 4,300 digits)
    if value is None or isinstance(value, (bool, int, float, date)):
        return repr(value)
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a mapping"
    return f"a {type(value).__name__}"


def _key_name(key: Any) -> str:
    """A mapping's key as problems name it (YAML keys are text; a Python caller's may be anything)."""
    return key if isinstance(key, str) else _found(key)


def _record_name(n: int, raw: Any) -> str:
    """``subscribers[3] 2250701020304``: the record's index and, when it gives one, its number."""
    hint = raw.get("msisdn") if isinstance(raw, dict) else None
    if isinstance(hint, str):
        return f"subscribers[{n}] {hint[:40]}"
    if isinstance(hint, int):  # True too, as written
        return f"subscribers[{n}] {_found(hint)}"
    return f"subscribers[{n}]"


class ImportFailed(Exception):
    def __init__(self, source: str, problems: list[ImportProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _named(name: str, place: RecordPlace | None, field: str) -> str:
    """The record a problem with ``field`` names: ``subscribers[3] 2250701020304 (line 12 column 5)``."""
    return name if place is None else f"{name} ({place.of(field)})"


class _Record:
    """Checks one raw record, collecting problems instead of stopping at the first."""

    def __init__(self, name: str, tz: tzinfo, problems: list[ImportProblem], place: RecordPlace | None = None) -> None:
        self.name = name
        self.place = place
        self.tz = tz
        self.problems = problems
        self.ok = True

    def bad(self, field: str, message: str) -> None:
        self.ok = False
        self.problems.append(ImportProblem(_named(self.name, self.place, field), field, message))

    def fields(self, raw: Any, field: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.bad(field, f"expected a mapping, found {type(raw).__name__}")
            return {}
        for key in raw:
            if key not in allowed:
                name = _key_name(key)
                self.bad(f"{field}.{name}" if field else name,
                         f"unknown field{did_you_mean(name, allowed)}; expected one of: {', '.join(allowed)}")
        return raw

    def listed(self, raw: dict[str, Any], key: str, field: str, what: str = "a list") -> list[Any]:
        """The list under ``key``; none given is an empty one, anything else a problem (``{}`` or
        ``""`` is not an empty list: read as one, it was dropped without a word)."""
        value = raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(field, f"expected {what}, found {type(value).__name__}")
            return []
        return value

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
            self.bad(field, f"{_found(text)} holds a control character (U+{ord(control.group()):04X})")
            return None
        if choices is not None and text not in choices:
            options = tuple(choices)
            self.bad(field, f"{_found(text)} is not one of: {', '.join(options)}{did_you_mean(text, options)}")
            return None
        if pattern is not None and not pattern.match(text):
            self.bad(field, f"{_found(text)} has the wrong form")
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
            self.bad(field, f"expected a whole number, found {_found(value)}")
            return None
        if value < 0 or value > MAX_AMOUNT:
            self.bad(field, f"expected a whole number from 0 to {MAX_AMOUNT}, found {_found(value)}")
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
                self.bad(field, f"expected an ISO 8601 instant like 2026-11-30T23:59:59, found {_found(value)}")
                return None
        else:
            self.bad(field, f"expected an ISO 8601 instant, found {type(value).__name__}")
            return None
        instant = to_instant(moment, self.tz)
        if not MIN_INSTANT <= instant <= MAX_INSTANT or not _dated_in(instant, self.tz):
            self.bad(field, f"{_found(value)} is outside 1970 to 9999")
            return None
        return instant

    def flag(self, raw: dict[str, Any], key: str, field: str, default: bool) -> bool | None:
        """true/false (or yes/no, as text in CSV and plain YAML), ``default`` when absent."""
        value = raw.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            value = value.lower() in ("true", "yes")
        if not isinstance(value, bool):
            self.bad(field, f"expected true or false, found {_found(value)}")
            return None
        return value

    def msisdn(self, value: Any, field: str) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.bad(field, "expected E.164 digits like 2250701020304")
            return None
        text = str(value).strip().removeprefix("+")
        if not _MSISDN.match(text):
            self.bad(field, f"expected E.164 digits like 2250701020304, found {_found(value)}")
            return None
        if text.startswith("0"):  # a national form: E.164 starts with the country code
            self.bad(field, f"{_found(value)} is a national number: give it with its country code, like 2250701020304")
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


def parse_subscriber(raw: Any, name: str, tz: tzinfo, problems: list[ImportProblem],
                     place: RecordPlace | None = None) -> Subscriber | None:
    r = _Record(name, tz, problems, place)
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
    for n, value in enumerate(r.listed(top, "favourites", "favourites", "a list of numbers")):
        number = r.msisdn(value, f"favourites[{n}]")
        if number is not None and number in favourites:
            r.bad(f"favourites[{n}]", f"{number} is already favourites[{favourites.index(number)}]")
        elif number is not None:
            favourites.append(number)
    buckets: list[Bucket] = []
    for n, braw in enumerate(r.listed(top, "buckets", "buckets")):
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
    found = (parse(r, item, f"{key}[{n}]") for n, item in enumerate(r.listed(top, key, key)))
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


def parse_records(records: Any, source: str, tz: tzinfo, places: Sequence[RecordPlace] = (),
                  found: Sequence[ImportProblem] = ()) -> list[Subscriber]:
    """Check every record; raises :class:`ImportFailed` listing all problems (first ``found``,
    those the file's reader found), else the subscribers. ``places``: where each record is in its
    file, for its problems to name."""
    problems = list(found)
    if not isinstance(records, list):
        raise ImportFailed(source, problems + [_not_a_list("file")])
    out: list[Subscriber] = []
    seen: dict[str, str] = {}
    for n, raw in enumerate(records):
        name = _record_name(n, raw)
        place = places[n] if n < len(places) else None
        sub = parse_subscriber(raw, name, tz, problems, place)
        if sub is None:
            continue
        if sub.msisdn in seen:
            problems.append(ImportProblem(_named(name, place, "msisdn"), "msisdn",
                                          f"already given by {seen[sub.msisdn]}"))
            continue
        seen[sub.msisdn] = _named(name, place, "msisdn")
        out.append(sub)
    if problems:
        raise ImportFailed(source, problems)
    return out


def _not_a_list(where: str) -> ImportProblem:
    return ImportProblem(where, "subscribers", "expected a list of subscribers")


def _read_bytes(path: str | Path, source: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed(source, [ImportProblem("file", "", f"cannot read: {exc}")]) from None


def _line_column(data: bytes, offset: int) -> tuple[int, int]:
    """The line and column (1-based, in characters) of byte ``offset`` of ``data``."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


def read_yaml(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    source = str(path)
    data = _read_bytes(path, source)
    marks = Marks()
    try:
        root = load_plain(data, marks)
    except DataError as exc:
        raise ImportFailed(source, [ImportProblem(at(f.line, f.column), "", f.message) for f in exc.flaws]) from None
    except yaml.YAMLError as exc:
        raise ImportFailed(source, [_syntax_problem(exc, data)]) from None
    problems = _top_level_problems(root, marks)
    records = root.get("subscribers") if isinstance(root, dict) else None
    if not isinstance(records, list):
        raise ImportFailed(source, problems)
    places = [RecordPlace(line, column) for line, column in marks.items.get("subscribers", ())]
    return parse_records(records, source, tz, places, problems)


def _syntax_problem(exc: yaml.YAMLError, data: bytes) -> ImportProblem:
    """Bad YAML, named by line and column: libyaml marks its parser's errors, and gives the byte
    offset of text it cannot read (bad UTF-8, a control character)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        problem = getattr(exc, "problem", None) or exc
        return ImportProblem(at(mark.line + 1, mark.column + 1), "", f"YAML syntax: {problem}")
    if isinstance(exc, yaml.reader.ReaderError):
        code = f" (#x{exc.character:X})" if isinstance(exc.character, int) else ""
        return ImportProblem(at(*_line_column(data, exc.position)), "", f"YAML syntax: {exc.reason}{code}")
    return ImportProblem("file", "", f"YAML syntax: {exc}")


def _top_level_problems(root: Any, marks: Marks) -> list[ImportProblem]:
    """A mapping of just a list of subscribers: any other key would be left unread."""
    shape = ImportProblem(at(*marks.root), "subscribers", "expected a mapping with a 'subscribers' list")
    if not isinstance(root, dict):
        return [shape]
    problems = [ImportProblem(at(*marks.keys.get(key, marks.root)), _key_name(key),
                              f"unknown key{did_you_mean(_key_name(key), TOP_LEVEL)}; "
                              f"expected one of: {', '.join(TOP_LEVEL)}")
                for key in root if key not in TOP_LEVEL]
    if "subscribers" not in root:
        problems.append(shape)
    elif not isinstance(root["subscribers"], list):
        problems.append(_not_a_list(at(*marks.keys.get("subscribers", marks.root))))
    return problems


def read_csv(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    """One row per bucket (or one row with empty bucket columns for a subscriber without bonus);
    rows of one subscriber repeat its columns, and must agree on them."""
    source = str(path)
    data = _read_bytes(path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = ImportProblem(at(_line_column(data, exc.start)[0]), "", f"cannot read: {exc}")
        raise ImportFailed(source, [problem]) from None
    row_problems: list[ImportProblem] = []
    header, header_line, rows = _csv_rows(text, source, row_problems)
    problems = _csv_repeats(header, header_line)
    header_problem = _csv_header_problem(header, bool(rows))
    if header_problem is not None:
        raise ImportFailed(source, problems + [ImportProblem(at(header_line), "", header_problem)])
    problems += row_problems
    subscribers: dict[str, _CsvSubscriber] = {}
    for line, row in rows:
        key = row["msisdn"].strip()
        if key in subscribers:
            subscribers[key].add(line, row, problems)
        else:
            subscribers[key] = _CsvSubscriber(len(subscribers), line, row)
    return parse_records([s.record for s in subscribers.values()], source, tz,
                         [s.place() for s in subscribers.values()], problems)


def _csv_rows(text: str, source: str,
              problems: list[ImportProblem]) -> tuple[list[str], int, list[tuple[int, dict[str, str]]]]:
    """The header, its line, and each row with the physical line it starts on (blank lines are
    skipped but counted, a quoted field may hold line breaks); a row with more or fewer fields
    than the header is a problem (extra fields would be dropped, missing ones read as empty)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    header_line = 1
    rows: list[tuple[int, dict[str, str]]] = []
    start = 1
    try:
        for fields in reader:
            if not fields:  # a blank line: skipped, and counted
                pass
            elif not header:
                header, header_line = fields, start
            elif len(fields) != len(header):
                message = f"{len(fields)} fields, for the header's {len(header)} columns"
                problems.append(ImportProblem(at(start), "", message))
            else:
                rows.append((start, dict(zip(header, fields))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFailed(source, [ImportProblem(at(reader.line_num), "", f"cannot read: {exc}")]) from None
    return header, header_line, rows


def _csv_header_problem(header: list[str], any_rows: bool) -> str | None:
    if not any_rows:
        return "no rows"
    missing = [c for c in _CSV_REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_FIELDS]
    if not missing and not unknown:
        return None
    return (f"missing columns: {', '.join(missing)}; " if missing else "") + (
        f"unknown columns: {', '.join(unknown)}; " if unknown else "") + f"expected: {', '.join(CSV_FIELDS)}"


def _csv_repeats(header: list[str], line: int) -> list[ImportProblem]:
    """A column given twice: only one of its values would be read."""
    problems = []
    for name in dict.fromkeys(header):
        columns = [str(n + 1) for n, c in enumerate(header) if c == name]
        if len(columns) > 1:
            times = "twice" if len(columns) == 2 else f"{len(columns)} times"
            problems.append(ImportProblem(at(line), "", f"column {_found(name)} is given {times} "
                                                        f"(columns {', '.join(columns[:-1])} and {columns[-1]})"))
    return problems


class _CsvSubscriber:
    """The rows of one subscriber as one record: the first row gives its columns, which every
    other row must repeat; each row with any bucket column gives a bucket."""

    def __init__(self, n: int, line: int, row: dict[str, str]) -> None:
        self.n = n
        self.line = line
        self.first = {c: row.get(c, "").strip() for c in CSV_SUBSCRIBER}
        self.record: dict[str, Any] = {
            "msisdn": row["msisdn"].strip(), "status": row.get("status"),
            "offer": {"name": row.get("offer_name"), "type": row.get("offer_type")},
            "language": row.get("language") or None,
            "main": {"balance": row.get("balance"), "expires": row.get("main_expires")},
            "favourites": _favourites(row.get("favourites", "")),
            "buckets": [],
        }
        self.rows: list[int] = []
        self._bucket(line, row)

    def add(self, line: int, row: dict[str, str], problems: list[ImportProblem]) -> None:
        for column, first in self.first.items():
            value = row.get(column, "").strip()
            same = _favourites(value) == _favourites(first) if column == "favourites" else value == first
            if not same:
                problems.append(ImportProblem(
                    _named(_record_name(self.n, self.record), RecordPlace(line), column), column,
                    f"{_found(value)} differs from {_found(first)} on line {self.line}: "
                    "the rows of a subscriber repeat its columns"))
        self._bucket(line, row)

    def _bucket(self, line: int, row: dict[str, str]) -> None:
        if any(row.get(c, "").strip() for c in BUCKET_FIELDS):  # any: a bucket given in part is a problem
            self.record["buckets"].append({c: row.get(c, "").strip() or None for c in BUCKET_FIELDS})
            self.rows.append(line)

    def place(self) -> RecordPlace:
        return RecordPlace(self.line, rows=tuple(self.rows))


def _favourites(text: str) -> list[str]:
    """The numbers of a favourites column: separated by ``;`` or spaces."""
    return [f for f in re.split(r"[;\s]+", text or "") if f]


def read_subscribers(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    return read_csv(path, tz) if str(path).lower().endswith(".csv") else read_yaml(path, tz)
