"""Subscribers from YAML (the provisioning format) or CSV (flat exports), validated in full.

Every record is checked before anything is written, and every problem is a :class:`~ussd.Diagnostic`
at its place in the file, naming the record and the field (``demo.yaml:14:20: subscribers[3]
2250701020304: buckets[1].expires: ...``), so an import is all or nothing and one run lists every
mistake. CSV rows are turned into the YAML record shape and checked by the same code; a CSV problem
is placed at the row (and the column) it comes from. Nothing in a file is dropped or read two ways
without a problem: a second YAML document, a key given twice, an unknown key, a repeated or extra
CSV column, CSV rows of one subscriber that disagree.

The shape of a record (its keys, types, enums, patterns and ranges) is the JSON Schema
``accounts/schemas/subscribers.schema.json``, checked one record at a time by jsonschema-rs: 0.3 s
of CPU for 100,000 records, where jsonschema takes over a minute. Only a record that does not fit
is looked at again: read with its text stripped (``" en "`` is ``en``) and ``~`` taken as a field
left out, and, if it still does not fit, explained by jsonschema. The places of its values are then
found by a second pass over the file (:func:`accounts.yamldata.places`), for the records that have
problems only. What a schema cannot say stays here: instants that exist and have a date, a bucket
granted before it expires, an invoice named after its issue month, a whole number written as
``100.0``, a favourite or a number given twice, and the all-or-nothing rule.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ussd import Diagnostic, InvalidFile, Schema, Where, excerpt, line_column, packaged_schema

from .model import (
    MAX_INSTANT,
    MIN_INSTANT,
    Bucket,
    DuplicateRequest,
    Instant,
    InternetPlus,
    Invoice,
    MainAccount,
    Offer,
    OfferType,
    Purchase,
    Status,
    Subscriber,
    Usage,
    month_of,
    to_datetime,
    to_instant,
)
from .yamldata import DataError, load_plain, places

#: Where a value is, from the file's root: ``("subscribers", 3, "buckets", 1, "expires")``.
At = tuple[Any, ...]
#: Where a path is in its file; ``key=True`` asks for the mapping key's place rather than its value's.
Locate = Callable[[At, bool], Where]

SCHEMA = "subscribers.schema.json"
#: The largest amount the schema takes (F CFA, seconds or bytes).
MAX_AMOUNT = 10**15
#: The columns of a bucket, in a CSV row as in a YAML record.
BUCKET_FIELDS = ("account", "rubrique", "scope", "line", "amount", "granted", "expires")
CSV_FIELDS = ("msisdn", "status", "offer_name", "offer_type", "language", "balance", "main_expires",
              "favourites", *BUCKET_FIELDS)
#: The columns every row of a subscriber repeats (each row is one of its buckets).
CSV_SUBSCRIBER = ("status", "offer_name", "offer_type", "language", "balance", "main_expires", "favourites")
_CSV_REQUIRED = ("msisdn", "status", "offer_name", "offer_type", "balance", "main_expires")
#: The CSV column each part of a record comes from (a bucket's fields are columns of its own row).
_CSV_COLUMN = {("msisdn",): "msisdn", ("status",): "status", ("offer",): "offer_name", ("offer", "name"): "offer_name",
               ("offer", "type"): "offer_type", ("language",): "language", ("main",): "balance",
               ("main", "balance"): "balance", ("main", "expires"): "main_expires", ("favourites",): "favourites"}
#: The deepest a record's schema looks: a purchase's amount (internet_plus, purchases, 0, amount).
_DEEPEST = 4
T = TypeVar("T")


class ImportFailed(InvalidFile):
    """An import refused, with every problem found in its file (``source``)."""

    def __init__(self, source: str, diagnostics: Iterable[Diagnostic]) -> None:
        self.source = source
        super().__init__(diagnostics)


@cache
def record_schema() -> Schema:
    """One subscriber record's schema: the file's ``$defs/subscriber``, checked record by record."""
    document = packaged_schema("accounts", SCHEMA).document
    return Schema({"$schema": document["$schema"], "$defs": document["$defs"], "$ref": "#/$defs/subscriber"},
                  f"{SCHEMA}#subscriber")


def _fits(schema: Schema, value: Any) -> bool:
    """Whether ``value`` fits; a value jsonschema-rs cannot take (a key that is not text, a set...)
    does not."""
    try:
        return schema.is_valid(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return False


@dataclass(frozen=True, slots=True)
class _Fault:
    """What the schema cannot see: where, what; ``first``: the record that gave the number first."""

    at: At
    message: str
    key: bool = False
    first: int | None = None


def _record_of(fault: _Fault) -> int | None:
    """The record a fault is about (none for the file's top level)."""
    at = fault.at
    return at[1] if len(at) > 1 and at[0] == "subscribers" and isinstance(at[1], int) else None


def _key_fault(at: At, key: Any) -> _Fault:
    """A key of the mapping at ``at`` that is not text: ``~`` (placed at itself), or a Python
    caller's object (at its mapping: such a key is never hashed or quoted, it may be huge)."""
    message = f"a key must be text, found {_kind(key)}"
    return _Fault(at + (key,), message, key=True) if key is None else _Fault(at, message)


class _Foreign:
    """A value no JSON (nor YAML) document holds, as jsonschema is shown it: of no JSON type, and
    named by its kind (never str() of it: a structure a Python caller shares can be huge)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __str__(self) -> str:
        return self.kind


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"  # (str() refuses past 4,300 digits)
    return f"a value of type {type(value).__name__}"


def _within(locate: Locate, n: int) -> Locate:
    """``locate`` for paths inside record ``n``."""
    return lambda at, key: locate(("subscribers", n, *at), key)


def _record_name(n: int, raw: Any) -> str:
    """``subscribers[3] 2250701020304``: the record's index and, when it gives one, its number."""
    hint = raw.get("msisdn") if isinstance(raw, dict) else None
    if isinstance(hint, str):
        return f"subscribers[{n}] {hint[:40]}"
    if isinstance(hint, int) and abs(hint) < 10**30:  # True too, as written
        return f"subscribers[{n}] {hint}"
    return f"subscribers[{n}]"


def _labels(name: str) -> Callable[[At], str]:
    return lambda at: _label(name, at)


def _label(name: str, at: At) -> str:
    """``subscribers[3] 2250701020304: buckets[1].expires``: the record, then the field in it."""
    field = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in at).lstrip(".")
    return f"{name}: {field}" if field else name


class _Reading:
    """The records of one import, checked: the subscribers, and what is wrong with them, placed
    only once everything is read (a YAML file's places are looked up for the faulty records only)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.records: list[Any] = []
        self.subscribers: list[Subscriber] = []
        #: Whether the file's top level fits, and how it was shown to the schema.
        self.top_fits = True
        self.top: Any = None
        #: Each record the schema refuses, as it was explained (stripped, ~ left out).
        self.misfits: dict[int, Any] = {}
        self.faults: list[_Fault] = []
        self._seen: dict[str, int] = {}
        self._instants: dict[str, Instant | str] = {}

    @property
    def faulty(self) -> set[int]:
        """The records with a problem."""
        return set(self.misfits) | {n for n in map(_record_of, self.faults) if n is not None}

    @property
    def ok(self) -> bool:
        return self.top_fits and not self.faults and not self.misfits

    def top_level(self, root: Any) -> None:
        """The file is a mapping of just a list of subscribers: checked with its records left out."""
        if isinstance(root, dict):
            for key in root:
                if not isinstance(key, str):
                    self.faults.append(_key_fault((), key))
            self.top = {k: _outline(v, (k,), self.faults) for k, v in root.items() if isinstance(k, str)}
        else:
            self.top = _outline(root, (), self.faults)
        self.top_fits = _fits(packaged_schema("accounts", SCHEMA), self.top)

    def read(self, records: list[Any]) -> None:
        self.records = records
        schema = record_schema()
        for n, raw in enumerate(records):
            record = raw
            if not _fits(schema, raw):
                record = _plain(raw, ("subscribers", n), self.faults)
                if not _fits(schema, record):
                    self.misfits[n] = record
                    continue
            before = len(self.faults)
            sub = self._subscriber(("subscribers", n), record)
            if len(self.faults) > before:
                continue
            first = self._seen.setdefault(sub.msisdn, n)
            if first != n:
                self.faults.append(_Fault(("subscribers", n, "msisdn"), "already given by", first=first))
            else:
                self.subscribers.append(sub)

    def diagnostics(self, locate: Locate) -> list[Diagnostic]:
        """Every problem, record by record, placed by ``locate`` (from the file's root)."""
        found: list[Diagnostic] = []
        if not self.top_fits:
            found += packaged_schema("accounts", SCHEMA).check(self.top, locate)
        by_record: dict[int, list[_Fault]] = {}
        for fault in self.faults:
            n = _record_of(fault)
            if n is None:
                found.append(Diagnostic(locate(fault.at, fault.key), f"file: {fault.message}"))
            else:
                by_record.setdefault(n, []).append(fault)
        for n in sorted(self.faulty):
            name = _record_name(n, self.records[n])
            if n in self.misfits:
                here = _within(locate, n)
                found += record_schema().check(self.misfits[n], here, _labels(name)) or [
                    Diagnostic(here((), False), f"{name}: not a subscriber record the schema takes")]
            for fault in by_record.get(n, ()):
                message = fault.message
                if fault.first is not None:
                    first = locate(("subscribers", fault.first), False)
                    on = f" (line {first.line})" if first.line else ""
                    message = f"{message} {_record_name(fault.first, self.records[fault.first])}{on}"
                field = fault.at[2:-1] if fault.key else fault.at[2:]  # a key's fault is its mapping's
                found.append(Diagnostic(locate(fault.at, fault.key), f"{_label(name, field)}: {message}"))
        return found

    # -- a record the schema took, to a subscriber: only what no schema can say is checked here ---

    def _subscriber(self, at: At, r: dict[str, Any]) -> Subscriber:
        offer, main = r["offer"], r["main"]
        favourites: dict[str, int] = {}
        for n, value in enumerate(r.get("favourites") or ()):
            number = self._number(at + ("favourites", n), value)
            if number in favourites:
                self.faults.append(_Fault(at + ("favourites", n),
                                          f"{number} is already favourites[{favourites[number]}]"))
            favourites.setdefault(number, n)
        usage = r.get("usage")
        internet_plus = r.get("internet_plus")
        return Subscriber(
            self._number(at + ("msisdn",), r["msisdn"]), Status(r["status"]),
            Offer(str(offer["name"]), OfferType(offer["type"])), r.get("language") or "fr",
            MainAccount(self._amount(at + ("main", "balance"), main["balance"]),
                        self._instant(at + ("main", "expires"), main["expires"]) or 0),
            tuple(favourites),
            self._each(at + ("buckets",), r.get("buckets"), self._bucket),
            None if usage is None else self._usage(at + ("usage",), usage),
            self._each(at + ("invoices",), r.get("invoices"), self._invoice),
            None if internet_plus is None else self._internet_plus(at + ("internet_plus",), internet_plus),
            self._each(at + ("duplicates",), r.get("duplicates"), self._duplicate))

    @staticmethod
    def _each(at: At, items: list[Any] | None, read: Callable[[At, dict[str, Any]], T | None]) -> tuple[T, ...]:
        found = (read(at + (n,), item) for n, item in enumerate(items or ()))
        return tuple(item for item in found if item is not None)

    def _bucket(self, at: At, b: dict[str, Any]) -> Bucket | None:
        granted = self._instant(at + ("granted",), b.get("granted"))
        expires = self._instant(at + ("expires",), b["expires"])
        if expires is None:
            return None
        if granted is not None and granted >= expires:
            self.faults.append(_Fault(at + ("granted",), "is not before expires"))
            return None
        line = b.get("line")
        return Bucket(b["account"], b["rubrique"], self._amount(at + ("amount",), b["amount"]), expires,
                      b.get("scope"), granted, None if line is None else str(line))

    def _usage(self, at: At, u: dict[str, Any]) -> Usage:
        voice, sms, data, spend = (self._amount(at + (k,), u.get(k) or 0) for k in ("voice", "sms", "data", "spend"))
        return Usage(self._instant(at + ("since",), u["since"]) or 0, voice, sms, data, spend)

    def _invoice(self, at: At, i: dict[str, Any]) -> Invoice | None:
        issued = self._instant(at + ("issued",), i["issued"])
        due = self._instant(at + ("due",), i["due"])
        if issued is None or due is None:
            return None
        month, issue_month = i["month"], month_of(issued, self.tz)
        if month != issue_month:
            self.faults.append(_Fault(at + ("month",), f"{month!r} is not the month the invoice was issued in "
                                                       f"({issue_month}): invoices are named after their issue month"))
            return None
        return Invoice(month, self._amount(at + ("amount",), i["amount"]), issued, due, _flag(i.get("paid"), False))

    def _internet_plus(self, at: At, ip: dict[str, Any]) -> InternetPlus:
        return InternetPlus(_flag(ip.get("active"), True), self._each(at + ("purchases",), ip.get("purchases"),
                                                                       self._purchase))

    def _purchase(self, at: At, p: dict[str, Any]) -> Purchase | None:
        bought = self._instant(at + ("at",), p["at"])
        return None if bought is None else Purchase(bought, str(p["merchant"]), self._amount(at + ("amount",),
                                                                                             p["amount"]))

    def _duplicate(self, at: At, d: dict[str, Any]) -> DuplicateRequest | None:
        asked = self._instant(at + ("at",), d["at"])
        return None if asked is None else DuplicateRequest(d["month"], asked)

    def _number(self, at: At, value: int | str) -> str:
        """A phone number the schema took, as E.164 digits (``2250701020304.0`` is none)."""
        if isinstance(value, float):
            self.faults.append(_Fault(at, f"expected E.164 digits like 2250701020304, found {value!r}"))
        return str(value).removeprefix("+")

    def _amount(self, at: At, value: int | str) -> int:
        """A whole number the schema took: ``100.0`` is one to JSON Schema, not to a ledger."""
        if isinstance(value, float):
            self.faults.append(_Fault(at, f"expected a whole number, found {value!r}"))
            return 0
        return int(value)

    def _instant(self, at: At, text: str | None) -> Instant | None:
        """An instant the schema took the form of (None for none): one that exists, with a date in
        the operator's zone. Files repeat their instants (month ends...): each is read once."""
        if text is None:
            return None
        instant = self._instants.get(text)
        if instant is None:
            instant = self._instants[text] = _instant(text, self.tz)
        if isinstance(instant, str):
            self.faults.append(_Fault(at, instant))
            return None
        return instant


def _instant(text: str, tz: tzinfo) -> Instant | str:
    """``text`` as an instant (without an offset: in ``tz``), or what is wrong with it."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return f"expected an ISO 8601 instant like 2026-11-30T23:59:59, found {excerpt(text)}"
    try:
        instant = to_instant(moment, tz)
        to_datetime(instant, tz)  # east of UTC the last hours of 9999 fall in year 10000: no date to show
    except (ValueError, OverflowError, OSError):
        instant = MIN_INSTANT - 1
    if not MIN_INSTANT <= instant <= MAX_INSTANT:
        return f"{excerpt(text)} is outside 1970 to 9999"
    return instant


def _flag(value: bool | str | None, default: bool) -> bool:
    if value is None:
        return default
    return value if isinstance(value, bool) else value.lower() in ("true", "yes")


def _outline(value: Any, at: At, faults: list[_Fault]) -> Any:
    """A top-level value as its kind (a list, a mapping) or itself (text, nothing...): what the
    file's schema looks at, without its records."""
    return [] if isinstance(value, list) else {} if isinstance(value, dict) else _plain(value, at, faults)


def _plain(value: Any, at: At, faults: list[_Fault], depth: int = 0) -> Any:
    """``value`` as the schema is shown it to explain what is wrong: text stripped, ``~`` in a
    mapping a field left out, a key that is not text a fault (and left out), what no JSON value is
    (a tuple, a date...) named by its kind. jsonschema quotes a value it refuses whole: a list or a
    mapping deeper than the schema looks is shown empty, so that one which aliases (or a Python
    caller) make huge by sharing its parts is quoted in a few lines."""
    if isinstance(value, str):
        return value.strip()
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**30 else _Foreign(_kind(value))
    if isinstance(value, list):
        return [_plain(item, at + (n,), faults, depth + 1) for n, item in enumerate(value)] if depth < _DEEPEST else []
    if not isinstance(value, dict):
        return _Foreign(_kind(value))
    fields: dict[str, Any] = {}
    for key, item in value.items() if depth < _DEEPEST else ():
        if not isinstance(key, str):
            faults.append(_key_fault(at, key))
        elif item is not None:
            fields[key] = _plain(item, at + (key,), faults, depth + 1)
    return fields


def parse_records(records: Any, source: str, tz: tzinfo, locate: Callable[[At, bool], Where] | None = None,
                  ) -> list[Subscriber]:
    """Check every record given as Python values (an inline fixture, a QA load); raises
    :class:`ImportFailed` listing all problems, else gives the subscribers. ``locate``: where a path
    from ``records`` (``(2, "buckets", 1)``) is in the caller's file; by default, nowhere (line 0)."""
    place = locate or (lambda at, key: Where(source, 0, 0))
    reading = _Reading(tz)
    reading.top_level({"subscribers": records})
    if isinstance(records, list):
        reading.read(records)
    if not reading.ok:
        raise ImportFailed(source, reading.diagnostics(lambda at, key: place(at[1:], key)))
    return reading.subscribers


def parse_subscriber(raw: Any, tz: tzinfo, source: str = "record") -> Subscriber:
    """One record (see :func:`parse_records`)."""
    return parse_records([raw], source, tz)[0]


def _read_bytes(path: str | Path, source: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed(source, [Diagnostic(Where(source, 1, 1), f"cannot read: {exc}")]) from None


def read_yaml(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    source = str(path)
    data = _read_bytes(path, source)
    try:
        root = load_plain(data)
    except DataError as exc:
        flaws = [Diagnostic(Where(source, f.line, f.column), f.message) for f in exc.flaws]
        raise ImportFailed(source, flaws) from None
    except yaml.YAMLError as exc:
        raise ImportFailed(source, [_syntax_problem(exc, data, source)]) from None
    reading = _Reading(tz)
    reading.top_level(root)
    records = root.get("subscribers") if isinstance(root, dict) else None
    if isinstance(records, list):
        reading.read(records)
    if reading.ok:
        return reading.subscribers
    found = places(data, {("subscribers", n) for n in reading.faulty})

    def locate(at: At, key: bool) -> Where:
        while True:
            place = (found.keys.get(at) if key else None) or found.values.get(at)
            if place is not None or not at:
                return Where(source, *(place or (1, 1)))
            at, key = at[:-1], False

    raise ImportFailed(source, reading.diagnostics(locate))


def _syntax_problem(exc: yaml.YAMLError, data: bytes, source: str) -> Diagnostic:
    """Bad YAML, placed: libyaml marks its parser's errors, and gives the byte offset of text it
    cannot read (bad UTF-8, a control character)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        problem = getattr(exc, "problem", None) or exc
        return Diagnostic(Where(source, mark.line + 1, mark.column + 1), f"YAML syntax: {problem}")
    if isinstance(exc, yaml.reader.ReaderError):
        code = f" (#x{exc.character:X})" if isinstance(exc.character, int) else ""
        return Diagnostic(Where(source, *line_column(data, exc.position)), f"YAML syntax: {exc.reason}{code}")
    return Diagnostic(Where(source, 1, 1), f"YAML syntax: {exc}")


# -- CSV -------------------------------------------------------------------------------------------


def read_csv(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    """One row per bucket (or one row with empty bucket columns for a subscriber without bonus);
    rows of one subscriber repeat its columns, and must agree on them."""
    source = str(path)
    data = _read_bytes(path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(source, [Diagnostic(Where(source, *line_column(data, exc.start)),
                                               f"cannot read: {exc}")]) from None
    sheet = _Sheet(source, text)
    if sheet.refused:
        raise ImportFailed(source, sheet.problems)
    subscribers: dict[str | None, _CsvSubscriber] = {}
    for line, row in sheet.rows:
        key = _cell(row, "msisdn")
        if key in subscribers:
            sheet.problems += subscribers[key].add(line, row, sheet)
        else:
            subscribers[key] = _CsvSubscriber(len(subscribers), line, row)
    grouped = list(subscribers.values())
    reading = _Reading(tz)
    reading.read([s.record for s in grouped])
    if sheet.problems or not reading.ok:
        raise ImportFailed(source, sheet.problems + reading.diagnostics(lambda at, key: sheet.locate(grouped, at)))
    return reading.subscribers


class _Sheet:
    """A CSV file's header and rows, each row with the physical line it starts on (blank lines are
    skipped but counted, a quoted field may hold line breaks), and its problems: a row with more or
    fewer fields than the header (extra fields would be dropped, missing ones read as empty), a
    column given twice or unknown; ``refused`` when no row can be read as a record."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.header: list[str] = []
        self.header_line = 1
        self.rows: list[tuple[int, dict[str, str]]] = []
        self.problems: list[Diagnostic] = []
        self.refused = False
        self._lines: list[str] | None = None
        reader = csv.reader(io.StringIO(text, newline=""))
        row_problems: list[Diagnostic] = []
        start = 1
        try:
            for fields in reader:
                if not fields:  # a blank line: skipped, and counted
                    pass
                elif not self.header:
                    self.header, self.header_line = fields, start
                elif len(fields) != len(self.header):
                    row_problems.append(Diagnostic(Where(source, start, 1), f"{len(fields)} fields, for the "
                                                                           f"header's {len(self.header)} columns"))
                else:
                    self.rows.append((start, dict(zip(self.header, fields, strict=True))))
                start = reader.line_num + 1
        except csv.Error as exc:
            self.problems = [Diagnostic(Where(source, reader.line_num, 1), f"cannot read: {exc}")]
            self.refused = True
            return
        self.problems = self._repeats()
        refusal = self._refusal()
        if refusal is None:
            self.problems += row_problems
        else:
            self.problems.append(Diagnostic(Where(source, self.header_line, 1), refusal))
            self.refused = True

    def _repeats(self) -> list[Diagnostic]:
        """A column given twice: only one of its values would be read."""
        problems = []
        for name in dict.fromkeys(self.header):
            columns = [n for n, c in enumerate(self.header) if c == name]
            if len(columns) > 1:
                times = "twice" if len(columns) == 2 else f"{len(columns)} times"
                numbers = f"{', '.join(str(c + 1) for c in columns[:-1])} and {columns[-1] + 1}"
                problems.append(Diagnostic(self.where(self.header_line, columns[1]),
                                           f"column {excerpt(name)} is given {times} (columns {numbers})"))
        return problems

    def _refusal(self) -> str | None:
        """Why no row can be read as a record: none given, or columns missing or unknown."""
        if not self.rows:
            return "no rows"
        missing = [c for c in _CSV_REQUIRED if c not in self.header]
        unknown = [c for c in self.header if c not in CSV_FIELDS]
        if not missing and not unknown:
            return None
        return (f"missing columns: {', '.join(missing)}; " if missing else "") + (
            f"unknown columns: {', '.join(unknown)}; " if unknown else "") + f"expected: {', '.join(CSV_FIELDS)}"

    def where(self, line: int, column: int | None) -> Where:
        """The place of field ``column`` (0-based, in the header's order) of the row on ``line``:
        its column when it starts on that line, else the line's start."""
        if column is None:
            return Where(self.source, line, 1)
        if self._lines is None:
            self._lines = io.StringIO(self.text, newline="").readlines()
        starts = _field_starts(self._lines[line - 1]) if line <= len(self._lines) else []
        return Where(self.source, line, starts[column] if column < len(starts) else 1)

    def column(self, name: str) -> int | None:
        return self.header.index(name) if name in self.header else None

    def locate(self, grouped: list[_CsvSubscriber], at: At) -> Where:
        """A record's path (``("subscribers", 2, "buckets", 1, "amount")``) as a row and a column."""
        if len(at) < 2:
            return Where(self.source, self.header_line, 1)
        sub, part = grouped[at[1]], at[2:]
        if part[:1] == ("buckets",) and len(part) > 1 and isinstance(part[1], int) and part[1] < len(sub.rows):
            name = part[2] if len(part) > 2 and isinstance(part[2], str) else "account"
            return self.where(sub.rows[part[1]], self.column(name))
        column = _CSV_COLUMN.get(part[:2]) or _CSV_COLUMN.get(part[:1])
        return self.where(sub.line, None if column is None else self.column(column))


def _field_starts(line: str) -> list[int]:
    """The column (1-based) each field of a CSV line starts at (quotes honoured)."""
    starts = [1]
    quoted = False
    for n, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(n + 2)
    return starts


def _cell(row: dict[str, str], column: str) -> str | None:
    """A CSV field as a record holds it: stripped, and an empty one is a field left out."""
    return row.get(column, "").strip() or None


class _CsvSubscriber:
    """The rows of one subscriber as one record: the first row gives its columns, which every
    other row must repeat; each row with any bucket column gives a bucket."""

    def __init__(self, n: int, line: int, row: dict[str, str]) -> None:
        self.n = n
        self.line = line
        self.first = {c: row.get(c, "").strip() for c in CSV_SUBSCRIBER}
        self.record: dict[str, Any] = {
            "msisdn": _cell(row, "msisdn"), "status": _cell(row, "status"),
            "offer": {"name": _cell(row, "offer_name"), "type": _cell(row, "offer_type")},
            "language": _cell(row, "language"),
            "main": {"balance": _cell(row, "balance"), "expires": _cell(row, "main_expires")},
            "favourites": _favourites(row.get("favourites", "")),
            "buckets": [],
        }
        self.rows: list[int] = []
        self._bucket(line, row)

    def add(self, line: int, row: dict[str, str], sheet: _Sheet) -> list[Diagnostic]:
        problems = []
        for column, first in self.first.items():
            value = row.get(column, "").strip()
            same = _favourites(value) == _favourites(first) if column == "favourites" else value == first
            if not same:
                problems.append(Diagnostic(
                    sheet.where(line, sheet.column(column)),
                    f"{_record_name(self.n, self.record)}: {column}: {excerpt(value)} differs from {excerpt(first)} "
                    f"on line {self.line}: the rows of a subscriber repeat its columns"))
        self._bucket(line, row)
        return problems

    def _bucket(self, line: int, row: dict[str, str]) -> None:
        if any(row.get(c, "").strip() for c in BUCKET_FIELDS):  # any: a bucket given in part is a problem
            self.record["buckets"].append({c: _cell(row, c) for c in BUCKET_FIELDS})
            self.rows.append(line)


def _favourites(text: str) -> list[str]:
    """The numbers of a favourites column: separated by ``;`` or spaces."""
    return [f for f in re.split(r"[;\s]+", text or "") if f]


def read_subscribers(path: str | Path, tz: tzinfo) -> list[Subscriber]:
    return read_csv(path, tz) if str(path).lower().endswith(".csv") else read_yaml(path, tz)
