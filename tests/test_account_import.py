"""Importing subscribers from YAML and CSV: the demo file, YAML/CSV equivalence, one problem per bad
field naming its record and placed at it, all problems at once, operator-zone times, the schema
(the shipped file fits it; its names are the model's), and no crash on any input."""

from __future__ import annotations

import copy
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.importer import (
    BUCKET_FIELDS,
    MAX_AMOUNT,
    SCHEMA,
    ImportFailed,
    parse_records,
    read_csv,
    read_subscribers,
    read_yaml,
)
from accounts.model import (
    LANGUAGES,
    OFFER_TYPES,
    RUBRIQUES,
    SCOPES,
    STATUSES,
    Bucket,
    DuplicateRequest,
    MainAccount,
    Offer,
    OfferType,
    Status,
    Subscriber,
)
from accounts.policy import load_policy
from accounts.resolve import as_json, resolve
from accounts.yamldata import DataError, Marks, load_plain
from ussd import Diagnostic, InvalidFile, Where, check_document, packaged_schema, read_document

HERE = Path(__file__).parent
FIXTURES = HERE / "accounts"
DEMO = HERE.parent / "accounts" / "demo.yaml"
POLICY = load_policy()
TZ = POLICY.tz  # Africa/Abidjan
PARIS = ZoneInfo("Europe/Paris")
FUZZ = settings(database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
DOCUMENT = packaged_schema("accounts", SCHEMA).document
#: The record's fields, as the schema has them.
SUBSCRIBER_FIELDS = tuple(DOCUMENT["$defs"]["subscriber"]["properties"])


def t(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def record(**changes: Any) -> dict[str, Any]:
    """A valid subscriber record; a change to ``...`` removes the field."""
    raw: dict[str, Any] = {
        "msisdn": "2250701020304",
        "status": "active",
        "offer": {"name": "Mix Découverte", "type": "prepaid"},
        "language": "fr",
        "main": {"balance": 1250, "expires": "2027-01-31T23:59:59"},
        "favourites": ["2250705060708"],
        "buckets": [],
    }
    return changed(raw, changes)


def bucket(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"account": "credit", "rubrique": "monthly", "scope": "intra", "amount": 500,
                           "granted": "2026-11-01T00:00:00", "expires": "2026-11-30T23:59:59"}
    return changed(raw, changes)


def invoice(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"month": "2026-11", "amount": 18500, "issued": "2026-11-01T08:00:00",
                           "due": "2026-11-15T23:59:59", "paid": False}
    return changed(raw, changes)


def changed(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with ``changes`` applied; a change to ``...`` removes the field."""
    for key, value in changes.items():
        if value is ...:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def problems_of(records: Any, tz: Any = TZ) -> list[str]:
    """The messages of the problems of records given as Python values: nowhere in a file (line 0)."""
    with pytest.raises(ImportFailed) as caught:
        parse_records(records, "test", tz)
    assert caught.value.diagnostics, "ImportFailed must list at least one problem"
    assert {d.where for d in caught.value.diagnostics} == {Where("test", 0, 0)}
    return [d.message for d in caught.value.diagnostics]


def placed(path: Path) -> list[tuple[int, int, str]]:
    """The problems of the file at ``path``: line, column and message of each, in file order."""
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(path, TZ)
    assert caught.value.source == str(path)
    assert all(d.where.path == str(path) for d in caught.value.diagnostics)
    return [(d.where.line, d.where.column, d.message) for d in caught.value.diagnostics]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- good files ------------------------------------------------------------------------------------


def test_demo_file_imports() -> None:
    subs = read_subscribers(DEMO, TZ)
    expected = [s["msisdn"] for s in yaml.safe_load(DEMO.read_text(encoding="utf-8"))["subscribers"]]
    assert [s.msisdn for s in subs] == expected
    by = {s.msisdn: s for s in subs}
    active = by["2250701020304"]
    assert active.status is Status.ACTIVE
    assert active.offer == Offer("Mix Découverte", OfferType.PREPAID) and active.offer.type is OfferType.PREPAID
    assert active.language == "fr"
    assert active.main == MainAccount(1250, t("2027-01-31T23:59:59"))
    assert active.favourites == ("2250705060708",)
    assert len(active.buckets) == 10
    assert active.buckets[0] == Bucket("credit", "monthly", 500, t("2026-11-30T23:59:59"), "intra",
                                       t("2026-11-01T00:00:00"), None)
    assert active.buckets[7] == Bucket("internet", "monthly", 1073741824, t("2026-11-30T23:59:59"))
    assert by["2250709080706"].language == "en" and by["2250709080706"].buckets == ()
    assert by["2250700000001"].status is Status.INACTIVE
    assert by["2250700000002"].status is Status.DEACTIVATED
    assert by["2250709080706"].offer.type is OfferType.POSTPAID


def test_yaml_and_csv_give_the_same_subscribers() -> None:
    from_yaml = read_subscribers(FIXTURES / "small.yaml", TZ)
    from_csv = read_subscribers(FIXTURES / "small.csv", TZ)
    assert from_yaml == from_csv
    assert all(type(s.status) is Status and type(s.offer.type) is OfferType for s in from_yaml + from_csv)
    assert [s.msisdn for s in from_yaml] == ["2250711111111", "2250722222222", "2250733333333"]
    first = from_yaml[0]
    assert first.favourites == ("2250722222222", "2250733333333")
    assert first.buckets == (
        Bucket("credit", "monthly", 500, t("2026-11-30T23:59:59"), "intra", t("2026-11-01T00:00:00"), "credit_monthly"),
        Bucket("minutes", "weekend", 1800, t("2026-11-29T22:59:59"), "international", None, None),
        Bucket("internet", "night", 524288000, t("2026-12-01T06:00:00"), None, None, None),
    )
    assert from_yaml[2].language == "fr"  # the default when none is given


def test_read_subscribers_picks_the_reader_by_extension(tmp_path: Path) -> None:
    upper = tmp_path / "SMALL.CSV"
    upper.write_bytes((FIXTURES / "small.csv").read_bytes())
    assert read_subscribers(upper, TZ) == read_csv(FIXTURES / "small.csv", TZ)
    assert read_subscribers(FIXTURES / "small.yaml", TZ) == read_yaml(FIXTURES / "small.yaml", TZ)


def test_csv_with_bom_and_msisdn_plus(tmp_path: Path) -> None:
    text = (FIXTURES / "small.csv").read_text(encoding="utf-8").replace("\n2250722222222,", "\n+2250722222222,")
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeff".encode() + text.encode("utf-8"))
    assert read_subscribers(path, TZ) == read_subscribers(FIXTURES / "small.yaml", TZ)


# -- times -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [
    ("2026-11-30T23:59:59", "2026-11-30T23:59:59+00:00"),  # no offset: the operator's zone (UTC+0)
    ("2026-11-30 23:59:59", "2026-11-30T23:59:59+00:00"),
    ("2026-11-30T23:59:59+01:00", "2026-11-30T22:59:59+00:00"),
    ("2026-11-30T23:59:59-03:30", "2026-12-01T03:29:59+00:00"),
    ("2026-11-30T23:59:59Z", "2026-11-30T23:59:59+00:00"),
    ("2026-11-30", "2026-11-30T00:00:00+00:00"),
])
def test_times_in_text(value: str, expected: str) -> None:
    [sub] = parse_records([record(buckets=[bucket(expires=value, granted=...)])], "test", TZ)
    assert sub.buckets[0].expires == t(expected)


def test_yaml_native_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path, "native.yaml", """\
subscribers:
  - msisdn: 2250701020304
    status: active
    offer: {name: x, type: prepaid}
    main: {balance: 1, expires: 2027-01-31}
    buckets:
      - {account: internet, rubrique: night, amount: 5, granted: 2026-11-01 06:00:00, expires: 2026-11-30T23:59:59}
      - {account: internet, rubrique: social, amount: 5, expires: 2026-11-30T23:59:59+02:00}
""")
    [sub] = read_subscribers(path, TZ)
    assert sub.msisdn == "2250701020304"
    assert sub.main.expires == t("2027-01-31T00:00:00")
    assert sub.buckets[0].granted == t("2026-11-01T06:00:00")
    assert sub.buckets[0].expires == t("2026-11-30T23:59:59")
    assert sub.buckets[1].expires == t("2026-11-30T21:59:59")


def test_times_without_offset_follow_the_zone_given() -> None:
    [sub] = parse_records([record(buckets=[bucket(granted="2026-07-01T00:00:00", expires="2026-11-30T23:59:59")])],
                          "test", PARIS)
    assert sub.buckets[0].granted == t("2026-06-30T22:00:00")  # CEST, UTC+2
    assert sub.buckets[0].expires == t("2026-11-30T22:59:59")  # CET, UTC+1
    assert sub.main.expires == t("2027-01-31T22:59:59")


# -- validation: one problem per bad field, naming record and field ---------------------------------

R = "subscribers[0] 2250701020304"
AMOUNT = "expected a whole number from 0 to 1000000000000000"
E164 = "expected E.164 digits like 2250701020304"
ISO = "expected an ISO 8601 instant like 2026-11-30T23:59:59"
TEXT = "expected some text, without control characters"

BAD = [
    pytest.param(record(status=...), f"{R}: missing 'status' (only an active subscriber sees its bonus)",
                 id="missing-status"),
    pytest.param(record(status="activ"),
                 f"{R}: unknown status 'activ' (did you mean 'active'?); expected one of: active, inactive, "
                 "deactivated",
                 id="unknown-status"),
    pytest.param(record(status="suspended"), f"{R}: unknown status 'suspended'; expected one of: active, inactive, "
                                             "deactivated", id="unknown-status-no-hint"),
    pytest.param(record(msisdn="0701-0203"), f"subscribers[0] 0701-0203: msisdn: {E164}, not '0701-0203'",
                 id="bad-msisdn"),
    pytest.param(record(msisdn="1234567"), f"subscribers[0] 1234567: msisdn: {E164}, not '1234567'",
                 id="short-msisdn"),
    pytest.param(record(msisdn=1234567), f"subscribers[0] 1234567: msisdn: {E164}, not 1234567",
                 id="short-msisdn-number"),
    pytest.param(record(msisdn=2250701020304.0), f"subscribers[0]: msisdn: {E164}, found 2250701020304.0",
                 id="float-msisdn"),
    pytest.param(record(msisdn=True), f"subscribers[0] True: msisdn: {E164}, found true", id="bool-msisdn"),
    pytest.param(record(msisdn=...), "subscribers[0]: missing 'msisdn' (the number, E.164 digits with the country "
                                     'code, e.g. "2250701020304")', id="missing-msisdn"),
    pytest.param(record(favorites=[]),
                 f"{R}: unknown key 'favorites' (did you mean 'favourites'?); expected one of: msisdn, status, offer, "
                 "language, main, favourites, buckets, usage, invoices, internet_plus, duplicates",
                 id="unknown-field"),
    pytest.param(record(buckets=[bucket(rubrique="night")]),
                 f"{R}: buckets[0]: unknown rubrique 'night'; expected one of: monthly, omoney, weekend, special, pass",
                 id="rubrique-of-another-account"),
    pytest.param(record(buckets=[bucket(account="credits")]),
                 f"{R}: buckets[0]: unknown account 'credits' (did you mean 'credit'?); expected one of: credit, "
                 "minutes, internet", id="unknown-account"),
    pytest.param(record(buckets=[bucket(scope=...)]), f"{R}: buckets[0]: missing 'scope' (who credit may be spent on)",
                 id="credit-without-scope"),
    pytest.param(record(buckets=[bucket(scope="international")]),
                 f"{R}: buckets[0]: unknown scope 'international'; expected one of: intra, all",
                 id="credit-international"),
    pytest.param(record(buckets=[bucket(account="internet", rubrique="night", scope="all")]),
                 f"{R}: buckets[0].scope: internet buckets have no scope", id="scope-on-internet"),
    pytest.param(record(buckets=[bucket(amount=-5)]), f"{R}: buckets[0].amount: {AMOUNT}, not -5",
                 id="negative-amount"),
    pytest.param(record(buckets=[bucket(amount="-5")]), f"{R}: buckets[0].amount: {AMOUNT}, not '-5'",
                 id="negative-amount-text"),
    pytest.param(record(buckets=[bucket(amount=10**15 + 1)]),
                 f"{R}: buckets[0].amount: {AMOUNT}, not 1000000000000001", id="huge-amount"),
    pytest.param(record(buckets=[bucket(amount="1000000000000001")]),
                 f"{R}: buckets[0].amount: {AMOUNT}, not '1000000000000001'", id="huge-amount-text"),
    pytest.param(record(buckets=[bucket(amount=1.5)]), f"{R}: buckets[0].amount: {AMOUNT}, found 1.5",
                 id="float-amount"),
    pytest.param(record(buckets=[bucket(amount=100.0)]),
                 f"{R}: buckets[0].amount: expected a whole number, found 100.0", id="float-whole-amount"),
    pytest.param(record(buckets=[bucket(amount=True)]), f"{R}: buckets[0].amount: {AMOUNT}, found true",
                 id="boolean-amount"),
    pytest.param(record(buckets=[bucket(amount="lots")]), f"{R}: buckets[0].amount: {AMOUNT}, not 'lots'",
                 id="text-amount"),
    pytest.param(record(buckets=[bucket(amount=...)]),
                 f"{R}: buckets[0]: missing 'amount' (how much: F CFA, seconds or bytes, by sub-account)",
                 id="missing-amount"),
    pytest.param(record(buckets=[bucket(expires="2026-13-01")]), f"{R}: buckets[0].expires: {ISO}, not '2026-13-01'",
                 id="bad-iso-time"),
    pytest.param(record(buckets=[bucket(expires="2026-02-30")]),
                 f"{R}: buckets[0].expires: {ISO}, found '2026-02-30'", id="no-such-day"),
    pytest.param(record(buckets=[bucket(expires="tomorrow")]), f"{R}: buckets[0].expires: {ISO}, not 'tomorrow'",
                 id="words-for-time"),
    pytest.param(record(buckets=[bucket(granted=20261101)]), f"{R}: buckets[0].granted: {ISO}, found 20261101",
                 id="number-for-time"),
    pytest.param(record(buckets=[bucket(granted="2026-12-01T00:00:00")]),
                 f"{R}: buckets[0].granted: is not before expires", id="granted-after-expires"),
    pytest.param(record(buckets=[bucket(granted="2026-11-30T23:59:59")]),
                 f"{R}: buckets[0].granted: is not before expires", id="granted-at-expires"),
    pytest.param(record(buckets=[bucket(expires=...)]), f"{R}: buckets[0]: missing 'expires' (when it stops counting)",
                 id="missing-expires"),
    pytest.param(record(favourites="2250705060708"),
                 f"{R}: favourites: expected a list of numbers, found '2250705060708'", id="favourites-not-a-list"),
    pytest.param(record(favourites={"a": 1}), f"{R}: favourites: expected a list of numbers, found a mapping",
                 id="favourites-mapping"),
    pytest.param(record(favourites=["2250705060708", "123"]), f"{R}: favourites[1]: {E164}, not '123'",
                 id="bad-favourite"),
    pytest.param(record(buckets={"account": "credit"}), f"{R}: buckets: expected a list of buckets, found a mapping",
                 id="buckets-not-a-list"),
    pytest.param(record(buckets=["credit"]),
                 f"{R}: buckets[0]: expected a bucket (a mapping of account, rubrique, amount, expires...), "
                 "found 'credit'", id="bucket-not-a-mapping"),
    pytest.param(record(buckets=[bucket(amunt=5)]),
                 f"{R}: buckets[0]: unknown key 'amunt' (did you mean 'amount'?); expected one of: account, rubrique, "
                 "scope, line, amount, granted, expires", id="unknown-bucket-field"),
    pytest.param(record(offer={"name": "x", "type": "prepayed"}),
                 f"{R}: offer: unknown type 'prepayed' (did you mean 'prepaid'?); expected one of: prepaid, postpaid",
                 id="unknown-offer-type"),
    pytest.param(record(offer="Mix"), f"{R}: offer: expected a mapping of name, type, found 'Mix'", id="offer-text"),
    pytest.param(record(main=...), f"{R}: missing 'main' (the main account: {{balance: F CFA, expires: instant}})",
                 id="missing-main"),
    pytest.param(record(main={"balance": 1}), f"{R}: main: missing 'expires' (when the main account expires)",
                 id="missing-main-expires"),
    pytest.param(record(main={"balance": -1, "expires": "2027-01-01"}), f"{R}: main.balance: {AMOUNT}, not -1",
                 id="negative-balance"),
    pytest.param(record(language="French"), f"{R}: unknown language 'French'; expected one of: fr, en",
                 id="bad-language"),
    pytest.param(record(language="de"), f"{R}: unknown language 'de'; expected one of: fr, en",
                 id="unspoken-language"),
    pytest.param(record(offer={"name": "  ", "type": "prepaid"}), f"{R}: offer.name: {TEXT}, not ''",
                 id="blank-offer-name"),
    pytest.param(record(offer={"name": "Mix\x00", "type": "prepaid"}), f"{R}: offer.name: {TEXT}, not 'Mix\\x00'",
                 id="control-character"),
    pytest.param(record(invoices=[invoice(month="2026-10")]),
                 f"{R}: invoices[0].month: '2026-10' is not the month the invoice was issued in (2026-11): "
                 "invoices are named after their issue month", id="invoice-billed-month"),
    pytest.param(record(invoices=[invoice(month="2026-13")]),
                 f"{R}: invoices[0].month: expected a month like 2026-11, not '2026-13'", id="invoice-month-form"),
    pytest.param(record(invoices=[invoice(paid="maybe")]),
                 f"{R}: invoices[0].paid: expected true or false (or yes, no), not 'maybe'", id="invoice-paid-words"),
    pytest.param(record(duplicates=[{"month": "2026-11"}]), f"{R}: duplicates[0]: missing 'at' (when it was asked for)",
                 id="duplicate-without-instant"),
    pytest.param(record(duplicates=[{"month": "11/2026", "at": "2026-11-25T10:00:00"}]),
                 f"{R}: duplicates[0].month: expected a month like 2026-11, not '11/2026'", id="duplicate-month-form"),
    pytest.param(record(duplicates=[{"month": "2026-11", "at": "2026-11-25T10:00:00", "sms": True}]),
                 f"{R}: duplicates[0]: unknown key 'sms'; expected one of: month, at", id="duplicate-unknown-field"),
    pytest.param(record(duplicates={"month": "2026-11"}),
                 f"{R}: duplicates: expected a list of duplicate requests, found a mapping",
                 id="duplicates-not-a-list"),
    pytest.param(record(usage={}), f"{R}: usage: missing 'since' (the start of the current period)",
                 id="usage-without-since"),
]


@pytest.mark.parametrize("raw,expected", BAD)
def test_each_mistake_names_record_and_field(raw: dict[str, Any], expected: str) -> None:
    assert problems_of([raw]) == [expected]


def test_an_empty_invoice_or_duplicate_request_names_what_it_lacks() -> None:
    """An empty mapping in a list is a mistake to report, not a record to drop without a word."""
    assert problems_of([record(invoices=[invoice(), {}], duplicates=[{}])]) == [
        f"{R}: invoices[1]: missing 'month' (the month it was issued in (in the operator's zone), which names it)",
        f"{R}: invoices[1]: missing 'amount' (in F CFA)",
        f"{R}: invoices[1]: missing 'issued' (when it was issued)",
        f"{R}: invoices[1]: missing 'due' (when it is to be paid)",
        f"{R}: duplicates[0]: missing 'month' (the month of the invoice asked for)",
        f"{R}: duplicates[0]: missing 'at' (when it was asked for)",
    ]


def test_invoice_month_is_the_issue_month_in_the_zone_given() -> None:
    """Issued 2026-11-30T23:30 in Abidjan is 2026-12-01T00:30 in Paris: the December invoice there."""
    late = invoice(month="2026-11", issued="2026-11-30T23:30:00+00:00")
    [sub] = parse_records([record(invoices=[late])], "test", TZ)
    assert sub.invoices[0].month == "2026-11"
    assert problems_of([record(invoices=[late])], PARIS) == [
        f"{R}: invoices[0].month: '2026-11' is not the month the invoice was issued in (2026-12): "
        "invoices are named after their issue month"]
    [sub] = parse_records([record(invoices=[invoice(month="2026-12", issued="2026-11-30T23:30:00+00:00")])],
                          "test", PARIS)
    assert sub.invoices[0].month == "2026-12"


def test_duplicate_requests_are_read_in_the_operators_zone() -> None:
    raw = record(duplicates=[{"month": "2026-11", "at": "2026-11-25T10:00:00"},
                             {"month": "2026-10", "at": "2026-11-25T11:00:00+01:00"}])
    [sub] = parse_records([raw], "test", PARIS)
    assert sub.duplicates == (DuplicateRequest("2026-11", t("2026-11-25T09:00:00")),
                              DuplicateRequest("2026-10", t("2026-11-25T10:00:00")))
    [bare] = parse_records([record()], "test", TZ)
    assert bare.duplicates == ()


@pytest.mark.parametrize("language", ["fr", "en", " en "])
def test_the_languages_122_speaks_are_accepted(language: str) -> None:
    [sub] = parse_records([record(language=language)], "test", TZ)
    assert sub.language == language.strip()


def test_csv_refuses_an_unspoken_language(tmp_path: Path) -> None:
    row = "\n2250722222222,inactive,Intense Pro,postpaid,{},"
    text = (FIXTURES / "small.csv").read_text(encoding="utf-8").replace(row.format("en"), row.format("de"))
    assert row.format("de") in text
    column = text.splitlines()[4].index(",de,") + 2
    assert placed(write(tmp_path, "de.csv", text)) == [
        (5, column, "subscribers[1] 2250722222222: unknown language 'de'; expected one of: fr, en")]


def test_yaml_problems_name_the_records_line(tmp_path: Path) -> None:
    text = ("# two subscribers\nsubscribers:\n"
            '  - {msisdn: "2250701020304", status: active, offer: {name: M, type: prepaid}, language: fr,\n'
            '     main: {balance: 1, expires: "2027-01-01T00:00:00"}}\n'
            "  -\n"
            '    msisdn: "2250701020305"\n'
            "    status: active\n"
            "    offer: {name: M, type: prepaid}\n"
            "    language: de\n"
            '    main: {balance: 1, expires: "2027-01-01T00:00:00"}\n'
            "  - nothing\n")
    assert placed(write(tmp_path, "two.yaml", text)) == [
        (9, 15, "subscribers[1] 2250701020305: unknown language 'de'; expected one of: fr, en"),
        (11, 5, "subscribers[2]: expected a subscriber record (a mapping of msisdn, status, offer, main...), "
                "found 'nothing'")]


def test_marks_are_those_of_the_root_its_keys_and_the_lists_under_it() -> None:
    marks = Marks()
    text = "# a comment\nversion: [1]\nsubscribers:\n  - a\n  - [b, c]\n  - {d: [e]}\n  -   &x f\nother: x\n"
    data = load_plain(text, marks)
    assert data == {"version": ["1"], "subscribers": ["a", ["b", "c"], {"d": ["e"]}, "f"], "other": "x"}
    assert marks.root == (2, 1)
    assert marks.keys == {"version": (2, 1), "subscribers": (3, 1), "other": (8, 1)}
    assert marks.items == {"version": [(2, 11)], "subscribers": [(4, 5), (5, 5), (6, 5), (7, 7)]}
    with pytest.raises(DataError):  # a list given twice: neither is kept
        load_plain("subscribers: [a]\nsubscribers:\n  - b\n  - c\n", Marks())


def test_a_csv_row_with_a_line_break_is_named_by_its_first_line(tmp_path: Path) -> None:
    text = ("msisdn,status,offer_name,offer_type,language,balance,main_expires\n"
            "2250701020304,active,Mix,prepaid,fr,1,2027-01-01T00:00:00\n"
            '2250701020305,active,"Mix\nDeux",prepaid,de,1,2027-01-01T00:00:00\n')
    assert placed(write(tmp_path, "nl.csv", text)) == [
        (3, 1, "subscribers[1] 2250701020305: unknown language 'de'; expected one of: fr, en"),  # after the break
        (3, 22, "subscribers[1] 2250701020305: offer.name: expected some text, without control characters, "
                "not 'Mix\\nDeux'")]


def test_an_instant_without_a_date_in_the_operators_zone_is_refused() -> None:
    """The last hour of 9999 (UTC) is year 10000 in Paris: nothing could show it or name its month."""
    raw = record(main={"balance": 1, "expires": "9999-12-31T23:30:00+00:00"})
    [sub] = parse_records([copy.deepcopy(raw)], "test", TZ)
    assert sub.main.expires == t("9999-12-31T23:30:00")
    assert problems_of([raw], PARIS) == [f"{R}: main.expires: '9999-12-31T23:30:00+00:00' is outside 1970 to 9999"]


def test_duplicate_msisdn() -> None:
    problems = problems_of([record(), record(status="inactive"), record(msisdn="+2250701020304")])
    assert problems == [
        "subscribers[1] 2250701020304: msisdn: already given by subscribers[0] 2250701020304",
        "subscribers[2] +2250701020304: msisdn: already given by subscribers[0] 2250701020304",
    ]


def test_a_number_given_twice_in_a_file_names_where_it_was_first(tmp_path: Path) -> None:
    text = ("subscribers:\n"
            '  - {msisdn: "2250701020304", status: active, offer: {name: M, type: prepaid},\n'
            '     main: {balance: 1, expires: "2027-01-01T00:00:00"}}\n'
            '  - {msisdn: "+2250701020304", status: active, offer: {name: M, type: prepaid},\n'
            '     main: {balance: 1, expires: "2027-01-01T00:00:00"}}\n')
    assert placed(write(tmp_path, "twice.yaml", text)) == [
        (4, 14, "subscribers[1] +2250701020304: msisdn: already given by subscribers[0] 2250701020304 (line 2)")]


def test_record_not_a_mapping() -> None:
    assert problems_of([record(), "2250701020305", {}]) == [
        "subscribers[1]: expected a subscriber record (a mapping of msisdn, status, offer, main...), "
        "found '2250701020305'",
        "subscribers[2]: missing 'msisdn' (the number, E.164 digits with the country code, e.g. \"2250701020304\")",
        "subscribers[2]: missing 'status' (only an active subscriber sees its bonus)",
        "subscribers[2]: missing 'offer' (the subscriber's offer: {name: ..., type: prepaid or postpaid})",
        "subscribers[2]: missing 'main' (the main account: {balance: F CFA, expires: instant})",
    ]


def test_all_problems_in_one_failure() -> None:
    records = [
        record(msisdn="2250700000010", status=...),
        record(msisdn="2250700000011"),  # good
        record(msisdn="2250700000012",
               buckets=[bucket(), bucket(amount=-1), bucket(account="internet", rubrique="night", scope="all")]),
        record(msisdn="2250700000013", favourites="x", language="French", main={"balance": 1.5, "expires": "x"}),
    ]
    assert problems_of(records) == [
        "subscribers[0] 2250700000010: missing 'status' (only an active subscriber sees its bonus)",
        f"subscribers[2] 2250700000012: buckets[1].amount: {AMOUNT}, not -1",
        "subscribers[2] 2250700000012: buckets[2].scope: internet buckets have no scope",
        "subscribers[3] 2250700000013: unknown language 'French'; expected one of: fr, en",
        f"subscribers[3] 2250700000013: main.balance: {AMOUNT}, found 1.5",
        f"subscribers[3] 2250700000013: main.expires: {ISO}, not 'x'",
        "subscribers[3] 2250700000013: favourites: expected a list of numbers, found 'x'",
    ]


def test_failure_text_names_source_record_and_field(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(FIXTURES / "two_bad.yaml", TZ)
    source = str(FIXTURES / "two_bad.yaml")
    assert caught.value.source == source
    assert str(caught.value).splitlines() == [  # at the status, at the amount
        f"{source}:9:13: subscribers[1] 2250755555555: "
        "unknown status 'activ' (did you mean 'active'?); expected one of: active, inactive, deactivated",
        f"{source}:17:66: subscribers[2] 2250766666666: buckets[0].amount: {AMOUNT}, not '-5'",
    ]


def test_an_import_failure_is_an_invalid_file_of_diagnostics() -> None:
    """``ussd check`` and every command read any kind of file's problems the same way."""
    with pytest.raises(InvalidFile) as caught:
        read_subscribers(FIXTURES / "syntax_error.yaml", TZ)
    assert isinstance(caught.value, ImportFailed)
    assert [type(d) for d in caught.value.diagnostics] == [Diagnostic]


# -- whole files -----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_a_line() -> None:
    [(line, column, message)] = placed(FIXTURES / "syntax_error.yaml")
    assert (line, column) in ((3, 13), (4, 10)), (line, column)  # the '[' left open, or where it shows
    assert message.startswith("YAML syntax: ")


def test_yaml_tab_indentation_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "tab.yaml", "subscribers:\n  - msisdn: \"2250701020304\"\n\tstatus: active\n")
    [(line, _, message)] = placed(path)
    assert line == 3 and message.startswith("YAML syntax: "), message


SHAPE = "file: expected a mapping with a 'subscribers' list, found "
MISSING = "file: missing 'subscribers' (the subscribers to import, each number once)"


@pytest.mark.parametrize("text,expected", [
    ("", [(1, 1, SHAPE + "nothing (null)")]),
    ("- a\n- b\n", [(1, 1, SHAPE + "a list")]),
    ("subscriber: []\n", [(1, 1, MISSING), (1, 1, "file: unknown key 'subscriber' (did you mean 'subscribers'?); "
                                                  "expected one of: subscribers")]),
    ("subscribers: {a: 1}\n", [(1, 14, "subscribers: expected a list of subscribers, found a mapping")]),
    ("subscribers:\n", [(1, 13, "subscribers: expected a list of subscribers, found nothing (null)")]),
    ("~: 1\nsubscribers: []\n", [(1, 1, "file: a key must be text, found nothing (null)")]),
])
def test_yaml_file_shape(tmp_path: Path, text: str, expected: list[tuple[int, int, str]]) -> None:
    assert placed(write(tmp_path, "x.yaml", text)) == expected


def test_empty_subscriber_list_imports_nothing(tmp_path: Path) -> None:
    assert read_subscribers(write(tmp_path, "x.yaml", "subscribers: []\n"), TZ) == []


def test_missing_file(tmp_path: Path) -> None:
    for name in ("nope.yaml", "nope.csv"):
        [(line, column, message)] = placed(tmp_path / name)
        assert (line, column) == (1, 1) and message.startswith("cannot read: ")


def test_csv_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "msisdn,status,offer,balance,main_expires\n2250701020304,active,x,1,2027-01-01\n")
    [(line, column, message)] = placed(path)
    assert (line, column) == (1, 1)
    assert message.startswith("missing columns: offer_name, offer_type; unknown columns: offer; expected: ")


def test_csv_without_rows(tmp_path: Path) -> None:
    assert placed(write(tmp_path, "x.csv", "msisdn,status\n")) == [(1, 1, "no rows")]


def test_csv_row_problems_name_record_and_field(tmp_path: Path) -> None:
    text = (FIXTURES / "small.csv").read_text(encoding="utf-8")
    text = text.replace(",1800,,", ",18.5,,").replace("2250722222222,inactive,", "2250722222222,inactiv,")
    lines = text.splitlines()
    assert placed(write(tmp_path, "bad.csv", text)) == [
        # placed at the bucket's own row, at the field
        (3, lines[2].index(",18.5,") + 2, f"subscribers[0] 2250711111111: buckets[1].amount: {AMOUNT}, not '18.5'"),
        (5, lines[4].index(",inactiv,") + 2,
         "subscribers[1] 2250722222222: unknown status 'inactiv' (did you mean 'inactive'?); expected one of: active, "
         "inactive, deactivated"),
    ]


# -- bugs: inputs that must be refused with a problem, never crash or slip through ------------------


@pytest.mark.parametrize("amount", ["--5", "²", "1" * 5000])
def test_odd_amount_text_is_a_problem_not_a_crash(amount: str) -> None:
    """importer.py `_Record.amount`: `value.strip().lstrip("-").isdigit()` then `int(value)` raises
    ValueError for '--5', superscript digits, and digit strings over Python's 4300-digit limit."""
    [problem] = problems_of([record(buckets=[bucket(amount=amount)])])
    assert problem.startswith(f"{R}: buckets[0].amount: {AMOUNT}, not '"), problem


def test_empty_bucket_is_a_problem_not_dropped() -> None:
    """importer.py `_parse_bucket`: `if not b: return None` drops `{}` with no problem recorded."""
    problems = problems_of([record(buckets=[bucket(), {}])])
    assert problems and all(p.startswith(f"{R}: buckets[1]: missing ") for p in problems), problems


@pytest.mark.parametrize("msisdn", ["２２５０７０１０２０３０４", "٢٢٥٠٧٠١٠٢٠٣٠٤"])
def test_msisdn_must_be_ascii_digits(msisdn: str) -> None:
    """importer.py `_MSISDN = re.compile(r"^\\d{8,15}$")`: `\\d` matches any Unicode digit, so
    full-width or Arabic-Indic digits are stored as a number no handset will ever dial."""
    assert problems_of([record(msisdn=msisdn)]) == [f"subscribers[0] {msisdn}: msisdn: {E164}, not '{msisdn}'"]


def test_every_accepted_instant_can_be_shown() -> None:
    """An instant the importer accepts must be printable by `as_json`; year 9999 with a negative
    offset is year 10000 in UTC, and `accounts/resolve.py` iso() raises ValueError on it."""
    raw = record(main={"balance": 1, "expires": "9999-12-31T23:59:59-01:00"})
    try:
        subs = parse_records([raw], "test", TZ)
    except ImportFailed:
        return  # refusing it is fine
    as_json(resolve(subs[0], t("2026-11-25T10:00:00"), POLICY), POLICY)


# -- no crash, whatever the input ------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
ANYTHING = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


def check_parse(records: Any) -> None:
    try:
        subs = parse_records(records, "fuzz", TZ)
    except ImportFailed as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert isinstance(d, Diagnostic) and d.where == Where("fuzz", 0, 0) and d.message
            # jsonschema explains whatever jsonschema-rs refuses
            assert not d.message.endswith("not a subscriber record the schema takes"), d
        return
    assert all(isinstance(s, Subscriber) for s in subs)


@FUZZ
@given(ANYTHING)
def test_arbitrary_data_only_ever_raises_import_failed(data: Any) -> None:
    check_parse(data)


@FUZZ
@given(st.lists(ANYTHING, max_size=4))
def test_arbitrary_records_only_ever_raise_import_failed(records: list[Any]) -> None:
    check_parse(records)


# Records shaped like the real thing, with any value in any field: this reaches the field checks.
FIELD_TEXT = st.text(alphabet="0123456789-+:. TZaeiv", max_size=12)
VALUES = st.one_of(SCALARS, FIELD_TEXT, ANYTHING)


def shaped(keys: tuple[str, ...], real: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The real record with some fields replaced by anything, some dropped, some added."""
    return st.tuples(
        st.dictionaries(st.sampled_from(keys), VALUES, max_size=3),
        st.sets(st.sampled_from(keys), max_size=2),
    ).map(lambda parts: {k: v for k, v in {**copy.deepcopy(real), **parts[0]}.items() if k not in parts[1]})


SHAPED_BUCKET = shaped(BUCKET_FIELDS, bucket())
SHAPED_RECORD = st.tuples(
    shaped(SUBSCRIBER_FIELDS, record()),
    st.lists(st.one_of(SHAPED_BUCKET, ANYTHING), max_size=3),
    shaped(("balance", "expires"), {"balance": 1, "expires": "2027-01-01"}),
).map(lambda p: {**p[0], "buckets": p[1], "main": p[2]} if isinstance(p[0].get("buckets"), list) else p[0])


@FUZZ
@given(st.lists(SHAPED_RECORD, max_size=3))
def test_shaped_records_only_ever_raise_import_failed(records: list[Any]) -> None:
    check_parse(records)


def test_favourites_are_e164_and_given_once() -> None:
    national = "a national number: give it with its country code, like 2250701020304"
    assert problems_of([record(favourites=["0701020304", 2250701020304, "+2250701020304"])]) == [
        f"{R}: favourites[0]: {national}"]
    assert problems_of([record(favourites=[2250701020304, "+2250701020304"])]) == [
        f"{R}: favourites[1]: 2250701020304 is already favourites[0]"]
    assert problems_of([record(msisdn="0701020304")]) == [f"subscribers[0] 0701020304: msisdn: {national}"]


def write_yaml(value: Any, flow: bool | None) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=flow, sort_keys=False)


def check_read(text: str) -> None:
    """Reading ``text`` as an import file gives subscribers, or problems placed inside it (its lines
    as YAML counts them: NEL, LS and PS end a line too)."""
    lines = re.split("\r\n|[\r\n\x85\u2028\u2029]", text)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            subs = read_subscribers(path, TZ)
        except ImportFailed as exc:
            assert exc.diagnostics
            for d in exc.diagnostics:
                assert d.where.path == str(path) and d.message, d
                assert 1 <= d.where.line <= len(lines), (d, text)
                assert 1 <= d.where.column <= len(lines[d.where.line - 1]) + 1, (d, text)
                assert not d.message.endswith("not a subscriber record the schema takes"), d
            return
    assert all(isinstance(s, Subscriber) for s in subs)


@FUZZ
@given(ANYTHING, st.sampled_from([None, True, False]))
def test_any_yaml_document_gives_subscribers_or_placed_problems(value: Any, flow: bool | None) -> None:
    check_read(write_yaml(value, flow))


@FUZZ
@given(st.lists(SHAPED_RECORD, max_size=3), st.sampled_from([None, True, False]))
def test_any_yaml_records_give_subscribers_or_placed_problems(records: list[Any], flow: bool | None) -> None:
    check_read(write_yaml({"subscribers": records}, flow))


# -- the schema ------------------------------------------------------------------------------------


def test_the_shipped_file_fits_the_schema() -> None:
    """What editors check as they type (through the first line's ``$schema``) finds nothing."""
    text = DEMO.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=schemas/subscribers.schema.json"
    assert (DEMO.parent / "schemas" / "subscribers.schema.json").is_file()
    doc = read_document(yaml.compose(text), str(DEMO))
    assert check_document(doc, packaged_schema("accounts", SCHEMA)) == []


def test_the_schema_names_what_the_model_knows() -> None:
    """Sub-accounts, their rubriques and scopes, statuses, offer types and languages: the schema
    says the model's, each rubrique and scope under its own sub-account."""
    defs = DOCUMENT["$defs"]
    bucket_schema = defs["bucket"]
    rubriques: dict[str, tuple[str, ...]] = {}
    scopes: dict[str, tuple[str, ...]] = {}
    for rule in bucket_schema["allOf"]:
        account = rule["if"]["properties"]["account"]["const"]
        then = rule["then"]
        rubriques[account] = tuple(then["properties"]["rubrique"]["enum"])
        scopes[account] = tuple(then["properties"]["scope"].get("enum", ()))
        assert ("scope" in then.get("required", ())) == bool(scopes[account])
    assert rubriques == RUBRIQUES and list(rubriques) == list(RUBRIQUES)
    assert scopes == SCOPES
    assert tuple(bucket_schema["properties"]["account"]["enum"]) == tuple(RUBRIQUES)
    assert tuple(bucket_schema["properties"]) == BUCKET_FIELDS
    subscriber = defs["subscriber"]["properties"]
    assert tuple(subscriber["status"]["enum"]) == STATUSES
    assert tuple(subscriber["offer"]["properties"]["type"]["enum"]) == OFFER_TYPES
    assert tuple(subscriber["language"]["anyOf"][0]["enum"]) == LANGUAGES
    number, text = defs["amount"]["anyOf"]
    assert number["maximum"] == MAX_AMOUNT and str(MAX_AMOUNT) in text["pattern"]


def test_every_field_is_described_for_editors() -> None:
    def walk(schema: Any, where: str) -> None:
        if isinstance(schema, dict):
            for name, sub in schema.get("properties", {}).items():
                assert "description" in sub or "x-message" in sub, f"{where}.{name}"
            for key, sub in schema.items():
                if key != "if":  # a condition, not a field
                    walk(sub, f"{where}.{key}")
        elif isinstance(schema, list):
            for n, sub in enumerate(schema):
                walk(sub, f"{where}[{n}]")

    walk(DOCUMENT, "schema")
    assert {"$schema", "$id", "title", "description"} <= set(DOCUMENT)


@pytest.mark.parametrize("text", ["subscribers:\n  - {msisdn: ' 2250701020304 ', status: ' active ', "
                                  "offer: {name: ' Mix ', type: prepaid}, language: ~, "
                                  "main: {balance: ' 12 ', expires: ' 2027-01-01 '}, buckets: ~, usage: ~}\n"])
def test_blanks_around_values_and_fields_given_as_nothing_are_read(tmp_path: Path, text: str) -> None:
    """A value with blanks around it is read without them, ``~`` is a field left out."""
    [sub] = read_subscribers(write(tmp_path, "blank.yaml", text), TZ)
    assert (sub.msisdn, sub.status, sub.offer, sub.language) == ("2250701020304", Status.ACTIVE,
                                                                 Offer("Mix", OfferType.PREPAID), "fr")
    assert sub.main == MainAccount(12, t("2027-01-01T00:00:00")) and sub.buckets == () and sub.usage is None
