"""Importing subscribers from YAML and CSV: the demo file, YAML/CSV equivalence, one problem per bad
field naming its record, all problems at once, operator-zone times, and no crash on any input."""

from __future__ import annotations

import copy
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
    SUBSCRIBER_FIELDS,
    ImportFailed,
    ImportProblem,
    parse_records,
    read_csv,
    read_subscribers,
    read_yaml,
)
from accounts.model import Bucket, DuplicateRequest, MainAccount, Offer, Subscriber
from accounts.policy import load_policy
from accounts.resolve import as_json, resolve
from accounts.yamldata import DataError, Marks, load_plain

HERE = Path(__file__).parent
FIXTURES = HERE / "accounts"
DEMO = HERE.parent / "accounts" / "demo.yaml"
POLICY = load_policy()
TZ = POLICY.tz  # Africa/Abidjan
PARIS = ZoneInfo("Europe/Paris")
FUZZ = settings(database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


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


def problems_of(records: Any, tz: Any = TZ) -> list[tuple[str, str, str]]:
    with pytest.raises(ImportFailed) as caught:
        parse_records(records, "test", tz)
    assert caught.value.problems, "ImportFailed must list at least one problem"
    return [(p.record, p.field, p.message) for p in caught.value.problems]


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
    assert active.status == "active"
    assert active.offer == Offer("Mix Découverte", "prepaid")
    assert active.language == "fr"
    assert active.main == MainAccount(1250, t("2027-01-31T23:59:59"))
    assert active.favourites == ("2250705060708",)
    assert len(active.buckets) == 10
    assert active.buckets[0] == Bucket("credit", "monthly", 500, t("2026-11-30T23:59:59"), "intra",
                                       t("2026-11-01T00:00:00"), None)
    assert active.buckets[7] == Bucket("internet", "monthly", 1073741824, t("2026-11-30T23:59:59"))
    assert by["2250709080706"].language == "en" and by["2250709080706"].buckets == ()
    assert by["2250700000001"].status == "inactive"
    assert by["2250700000002"].status == "deactivated"


def test_yaml_and_csv_give_the_same_subscribers() -> None:
    from_yaml = read_subscribers(FIXTURES / "small.yaml", TZ)
    from_csv = read_subscribers(FIXTURES / "small.csv", TZ)
    assert from_yaml == from_csv
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

BAD = [
    pytest.param(record(status=...), (R, "status", "missing"), id="missing-status"),
    pytest.param(record(status="activ"),
                 (R, "status", "'activ' is not one of: active, inactive, deactivated (did you mean 'active'?)"),
                 id="unknown-status"),
    pytest.param(record(status="suspended"), (R, "status", "'suspended' is not one of: active, inactive, deactivated"),
                 id="unknown-status-no-hint"),
    pytest.param(record(msisdn="0701-0203"),
                 ("subscribers[0] 0701-0203", "msisdn", "expected E.164 digits like 2250701020304, found '0701-0203'"),
                 id="bad-msisdn"),
    pytest.param(record(msisdn="1234567"),
                 ("subscribers[0] 1234567", "msisdn", "expected E.164 digits like 2250701020304, found '1234567'"),
                 id="short-msisdn"),
    pytest.param(record(msisdn=True), ("subscribers[0] True", "msisdn", "expected E.164 digits like 2250701020304"),
                 id="bool-msisdn"),
    pytest.param(record(msisdn=...), ("subscribers[0]", "msisdn", "missing"), id="missing-msisdn"),
    pytest.param(record(favorites=[]),
                 (R, "favorites", "unknown field (did you mean 'favourites'?); expected one of: "
                                  "msisdn, status, offer, language, main, favourites, buckets, usage, invoices, internet_plus, "
                                  "duplicates"),
                 id="unknown-field"),
    pytest.param(record(buckets=[bucket(rubrique="night")]),
                 (R, "buckets[0].rubrique", "'night' is not one of: monthly, omoney, weekend, special, pass"),
                 id="rubrique-of-another-account"),
    pytest.param(record(buckets=[bucket(account="credits")]),
                 (R, "buckets[0].account", "'credits' is not one of: credit, minutes, internet (did you mean 'credit'?)"),
                 id="unknown-account"),
    pytest.param(record(buckets=[bucket(scope=...)]), (R, "buckets[0].scope", "missing"), id="credit-without-scope"),
    pytest.param(record(buckets=[bucket(scope="international")]),
                 (R, "buckets[0].scope", "'international' is not one of: intra, all"), id="credit-international"),
    pytest.param(record(buckets=[bucket(account="internet", rubrique="night", scope="all")]),
                 (R, "buckets[0].scope", "internet buckets have no scope"), id="scope-on-internet"),
    pytest.param(record(buckets=[bucket(amount=-5)]),
                 (R, "buckets[0].amount", "expected a whole number from 0 to 1000000000000000, found -5"),
                 id="negative-amount"),
    pytest.param(record(buckets=[bucket(amount="-5")]),
                 (R, "buckets[0].amount", "expected a whole number from 0 to 1000000000000000, found -5"),
                 id="negative-amount-text"),
    pytest.param(record(buckets=[bucket(amount=10**15 + 1)]),
                 (R, "buckets[0].amount", "expected a whole number from 0 to 1000000000000000, found 1000000000000001"),
                 id="huge-amount"),
    pytest.param(record(buckets=[bucket(amount=1.5)]), (R, "buckets[0].amount", "expected a whole number, found 1.5"),
                 id="float-amount"),
    pytest.param(record(buckets=[bucket(amount=100.0)]),
                 (R, "buckets[0].amount", "expected a whole number, found 100.0"), id="float-whole-amount"),
    pytest.param(record(buckets=[bucket(amount=True)]), (R, "buckets[0].amount", "expected a whole number, found True"),
                 id="boolean-amount"),
    pytest.param(record(buckets=[bucket(amount="lots")]),
                 (R, "buckets[0].amount", "expected a whole number, found 'lots'"), id="text-amount"),
    pytest.param(record(buckets=[bucket(amount=...)]), (R, "buckets[0].amount", "missing"), id="missing-amount"),
    pytest.param(record(buckets=[bucket(expires="2026-13-01")]),
                 (R, "buckets[0].expires", "expected an ISO 8601 instant like 2026-11-30T23:59:59, found '2026-13-01'"),
                 id="bad-iso-time"),
    pytest.param(record(buckets=[bucket(expires="tomorrow")]),
                 (R, "buckets[0].expires", "expected an ISO 8601 instant like 2026-11-30T23:59:59, found 'tomorrow'"),
                 id="words-for-time"),
    pytest.param(record(buckets=[bucket(granted=20261101)]),
                 (R, "buckets[0].granted", "expected an ISO 8601 instant, found int"), id="number-for-time"),
    pytest.param(record(buckets=[bucket(granted="2026-12-01T00:00:00")]),
                 (R, "buckets[0].granted", "is not before expires"), id="granted-after-expires"),
    pytest.param(record(buckets=[bucket(granted="2026-11-30T23:59:59")]),
                 (R, "buckets[0].granted", "is not before expires"), id="granted-at-expires"),
    pytest.param(record(buckets=[bucket(expires=...)]), (R, "buckets[0].expires", "missing"), id="missing-expires"),
    pytest.param(record(favourites="2250705060708"),
                 (R, "favourites", "expected a list of numbers, found str"), id="favourites-not-a-list"),
    pytest.param(record(favourites={"a": 1}),
                 (R, "favourites", "expected a list of numbers, found dict"), id="favourites-mapping"),
    pytest.param(record(favourites=["2250705060708", "123"]),
                 (R, "favourites[1]", "expected E.164 digits like 2250701020304, found '123'"), id="bad-favourite"),
    pytest.param(record(buckets={"account": "credit"}), (R, "buckets", "expected a list, found dict"),
                 id="buckets-not-a-list"),
    pytest.param(record(buckets=["credit"]), (R, "buckets[0]", "expected a mapping, found str"),
                 id="bucket-not-a-mapping"),
    pytest.param(record(buckets=[bucket(amunt=5)]),
                 (R, "buckets[0].amunt", "unknown field (did you mean 'amount'?); expected one of: "
                                         "account, rubrique, scope, line, amount, granted, expires"),
                 id="unknown-bucket-field"),
    pytest.param(record(offer={"name": "x", "type": "prepayed"}),
                 (R, "offer.type", "'prepayed' is not one of: prepaid, postpaid (did you mean 'prepaid'?)"),
                 id="unknown-offer-type"),
    pytest.param(record(offer="Mix"), (R, "offer", "expected a mapping of name, type, found str"), id="offer-text"),
    pytest.param(record(main=...), (R, "main", "missing"), id="missing-main"),
    pytest.param(record(main={"balance": 1}), (R, "main.expires", "missing"), id="missing-main-expires"),
    pytest.param(record(main={"balance": -1, "expires": "2027-01-01"}),
                 (R, "main.balance", "expected a whole number from 0 to 1000000000000000, found -1"),
                 id="negative-balance"),
    pytest.param(record(language="French"), (R, "language", "'French' is not one of: fr, en"), id="bad-language"),
    pytest.param(record(language="de"), (R, "language", "'de' is not one of: fr, en"), id="unspoken-language"),
    pytest.param(record(offer={"name": "  ", "type": "prepaid"}), (R, "offer.name", "missing"), id="blank-offer-name"),
    pytest.param(record(offer={"name": "Mix\x00", "type": "prepaid"}),
                 (R, "offer.name", "'Mix\\x00' holds a control character (U+0000)"), id="control-character"),
    pytest.param(record(invoices=[invoice(month="2026-10")]),
                 (R, "invoices[0].month", "'2026-10' is not the month the invoice was issued in (2026-11): "
                                          "invoices are named after their issue month"), id="invoice-billed-month"),
    pytest.param(record(invoices=[invoice(month="2026-13")]),
                 (R, "invoices[0].month", "'2026-13' has the wrong form"), id="invoice-month-form"),
    pytest.param(record(duplicates=[{"month": "2026-11"}]), (R, "duplicates[0].at", "missing"),
                 id="duplicate-without-instant"),
    pytest.param(record(duplicates=[{"month": "11/2026", "at": "2026-11-25T10:00:00"}]),
                 (R, "duplicates[0].month", "'11/2026' has the wrong form"), id="duplicate-month-form"),
    pytest.param(record(duplicates=[{"month": "2026-11", "at": "2026-11-25T10:00:00", "sms": True}]),
                 (R, "duplicates[0].sms", "unknown field; expected one of: month, at"), id="duplicate-unknown-field"),
    pytest.param(record(duplicates={"month": "2026-11"}), (R, "duplicates", "expected a list, found dict"),
                 id="duplicates-not-a-list"),
]


@pytest.mark.parametrize("raw,expected", BAD)
def test_each_mistake_names_record_and_field(raw: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert problems_of([raw]) == [expected]


def test_an_empty_invoice_or_duplicate_request_names_what_it_lacks() -> None:
    """An empty mapping in a list is a mistake to report, not a record to drop without a word."""
    assert problems_of([record(invoices=[invoice(), {}], duplicates=[{}])]) == [
        (R, f"invoices[1].{key}", "missing") for key in ("month", "amount", "issued", "due")
    ] + [(R, "duplicates[0].month", "missing"), (R, "duplicates[0].at", "missing")]


def test_invoice_month_is_the_issue_month_in_the_zone_given() -> None:
    """Issued 2026-11-30T23:30 in Abidjan is 2026-12-01T00:30 in Paris: the December invoice there."""
    late = invoice(month="2026-11", issued="2026-11-30T23:30:00+00:00")
    [sub] = parse_records([record(invoices=[late])], "test", TZ)
    assert sub.invoices[0].month == "2026-11"
    assert problems_of([record(invoices=[late])], PARIS) == [
        (R, "invoices[0].month", "'2026-11' is not the month the invoice was issued in (2026-12): "
                                 "invoices are named after their issue month")]
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
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "de.csv", text), TZ)
    assert [(p.record, p.field, p.message) for p in caught.value.problems] == [
        ("subscribers[1] 2250722222222 (line 5)", "language", "'de' is not one of: fr, en")]


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
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "two.yaml", text), TZ)
    assert [(p.record, p.field) for p in caught.value.problems] == [
        ("subscribers[1] 2250701020305 (line 6 column 5)", "language"), ("subscribers[2] (line 11 column 5)", "")]


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
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "nl.csv", text), TZ)
    assert {p.record for p in caught.value.problems} == {"subscribers[1] 2250701020305 (line 3)"}
    assert "language" in [p.field for p in caught.value.problems]


def test_an_instant_without_a_date_in_the_operators_zone_is_refused() -> None:
    """The last hour of 9999 (UTC) is year 10000 in Paris: nothing could show it or name its month."""
    raw = record(main={"balance": 1, "expires": "9999-12-31T23:30:00+00:00"})
    [sub] = parse_records([copy.deepcopy(raw)], "test", TZ)
    assert sub.main.expires == t("9999-12-31T23:30:00")
    assert problems_of([raw], PARIS) == [(R, "main.expires", "'9999-12-31T23:30:00+00:00' is outside 1970 to 9999")]


def test_duplicate_msisdn() -> None:
    problems = problems_of([record(), record(status="inactive"), record(msisdn="+2250701020304")])
    assert problems == [
        ("subscribers[1] 2250701020304", "msisdn", "already given by subscribers[0] 2250701020304"),
        ("subscribers[2] +2250701020304", "msisdn", "already given by subscribers[0] 2250701020304"),
    ]


def test_record_not_a_mapping() -> None:
    assert problems_of([record(), "2250701020305", {}]) == [
        ("subscribers[1]", "", "expected a subscriber record (a mapping of msisdn, status, offer, main...)"),
        ("subscribers[2]", "", "expected a subscriber record (a mapping of msisdn, status, offer, main...)"),
    ]


def test_all_problems_in_one_failure() -> None:
    records = [
        record(msisdn="2250700000010", status=...),
        record(msisdn="2250700000011"),  # good
        record(msisdn="2250700000012", buckets=[bucket(), bucket(amount=-1), bucket(account="internet", rubrique="night",
                                                                                     scope="all")]),
        record(msisdn="2250700000013", favourites="x", language="French", main={"balance": 1.5, "expires": "x"}),
    ]
    assert problems_of(records) == [
        ("subscribers[0] 2250700000010", "status", "missing"),
        ("subscribers[2] 2250700000012", "buckets[1].amount",
         "expected a whole number from 0 to 1000000000000000, found -1"),
        ("subscribers[2] 2250700000012", "buckets[2].scope", "internet buckets have no scope"),
        ("subscribers[3] 2250700000013", "language", "'French' is not one of: fr, en"),
        ("subscribers[3] 2250700000013", "main.balance", "expected a whole number, found 1.5"),
        ("subscribers[3] 2250700000013", "main.expires",
         "expected an ISO 8601 instant like 2026-11-30T23:59:59, found 'x'"),
        ("subscribers[3] 2250700000013", "favourites", "expected a list of numbers, found str"),
    ]


def test_failure_text_names_source_record_and_field(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(FIXTURES / "two_bad.yaml", TZ)
    source = str(FIXTURES / "two_bad.yaml")
    assert caught.value.source == source
    assert str(caught.value).splitlines() == [
        f"{source}: subscribers[1] 2250755555555 (line 8 column 5): status: "
        "'activ' is not one of: active, inactive, deactivated (did you mean 'active'?)",
        f"{source}: subscribers[2] 2250766666666 (line 12 column 5): buckets[0].amount: "
        "expected a whole number from 0 to 1000000000000000, found -5",
    ]


def test_problem_without_field_reads_plainly() -> None:
    assert str(ImportProblem("line 3 column 5", "", "YAML syntax: oops")) == "line 3 column 5: YAML syntax: oops"


# -- whole files -----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_a_line() -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(FIXTURES / "syntax_error.yaml", TZ)
    [problem] = caught.value.problems
    assert problem.record in ("line 3 column 13", "line 4 column 10"), problem  # the '[' left open, or where it shows
    assert problem.field == ""
    assert problem.message.startswith("YAML syntax: ")


def test_yaml_tab_indentation_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "tab.yaml", "subscribers:\n  - msisdn: \"2250701020304\"\n\tstatus: active\n")
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(path, TZ)
    [problem] = caught.value.problems
    assert problem.record.startswith("line 3 column "), problem


SHAPE = ("line 1 column 1", "subscribers", "expected a mapping with a 'subscribers' list")


@pytest.mark.parametrize("text,expected", [
    ("", [SHAPE]),
    ("- a\n- b\n", [SHAPE]),
    ("subscriber: []\n", [("line 1 column 1", "subscriber",
                           "unknown key (did you mean 'subscribers'?); expected one of: subscribers"), SHAPE]),
    ("subscribers: {a: 1}\n", [("line 1 column 1", "subscribers", "expected a list of subscribers")]),
    ("subscribers:\n", [("line 1 column 1", "subscribers", "expected a list of subscribers")]),
])
def test_yaml_file_shape(tmp_path: Path, text: str, expected: list[tuple[str, str, str]]) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "x.yaml", text), TZ)
    assert [(p.record, p.field, p.message) for p in caught.value.problems] == expected


def test_empty_subscriber_list_imports_nothing(tmp_path: Path) -> None:
    assert read_subscribers(write(tmp_path, "x.yaml", "subscribers: []\n"), TZ) == []


def test_missing_file(tmp_path: Path) -> None:
    for name in ("nope.yaml", "nope.csv"):
        with pytest.raises(ImportFailed) as caught:
            read_subscribers(tmp_path / name, TZ)
        [problem] = caught.value.problems
        assert problem.record == "file" and problem.message.startswith("cannot read: ")


def test_csv_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "msisdn,status,offer,balance,main_expires\n2250701020304,active,x,1,2027-01-01\n")
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(path, TZ)
    [problem] = caught.value.problems
    assert problem.record == "line 1"
    assert problem.message.startswith("missing columns: offer_name, offer_type; unknown columns: offer; expected: ")


def test_csv_without_rows(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "x.csv", "msisdn,status\n"), TZ)
    assert [(p.record, p.message) for p in caught.value.problems] == [("line 1", "no rows")]


def test_csv_row_problems_name_record_and_field(tmp_path: Path) -> None:
    text = (FIXTURES / "small.csv").read_text(encoding="utf-8")
    text = text.replace(",1800,,", ",18.5,,").replace("2250722222222,inactive,", "2250722222222,inactiv,")
    with pytest.raises(ImportFailed) as caught:
        read_subscribers(write(tmp_path, "bad.csv", text), TZ)
    assert [(p.record, p.field, p.message) for p in caught.value.problems] == [
        ("subscribers[0] 2250711111111 (line 3)", "buckets[1].amount", "expected a whole number, found '18.5'"),  # its row
        ("subscribers[1] 2250722222222 (line 5)", "status",
         "'inactiv' is not one of: active, inactive, deactivated (did you mean 'inactive'?)"),
    ]


# -- bugs: inputs that must be refused with a problem, never crash or slip through ------------------


@pytest.mark.parametrize("amount", ["--5", "²", "1" * 5000])
def test_odd_amount_text_is_a_problem_not_a_crash(amount: str) -> None:
    """importer.py `_Record.amount`: `value.strip().lstrip("-").isdigit()` then `int(value)` raises
    ValueError for '--5', superscript digits, and digit strings over Python's 4300-digit limit."""
    problems = problems_of([record(buckets=[bucket(amount=amount)])])
    assert [(r, f) for r, f, _ in problems] == [(R, "buckets[0].amount")]


def test_empty_bucket_is_a_problem_not_dropped() -> None:
    """importer.py `_parse_bucket`: `if not b: return None` drops `{}` with no problem recorded."""
    problems = problems_of([record(buckets=[bucket(), {}])])
    assert problems and all(r == R and f.startswith("buckets[1]") for r, f, _ in problems), problems


@pytest.mark.parametrize("msisdn", ["２２５０７０１０２０３０４", "٢٢٥٠٧٠١٠٢٠٣٠٤"])
def test_msisdn_must_be_ascii_digits(msisdn: str) -> None:
    """importer.py `_MSISDN = re.compile(r"^\\d{8,15}$")`: `\\d` matches any Unicode digit, so
    full-width or Arabic-Indic digits are stored as a number no handset will ever dial."""
    problems = problems_of([record(msisdn=msisdn)])
    assert [f for _, f, _ in problems] == ["msisdn"]


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
        assert exc.problems
        for p in exc.problems:
            assert isinstance(p.record, str) and isinstance(p.field, str) and p.message
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
    assert problems_of([record(favourites=["0701020304", 2250701020304, "+2250701020304"])]) == [
        (R, "favourites[0]", "'0701020304' is a national number: give it with its country code, like 2250701020304"),
        (R, "favourites[2]", "2250701020304 is already favourites[0]"),
    ]
    assert problems_of([record(msisdn="0701020304")])[0][1:] == (
        "msisdn", "'0701020304' is a national number: give it with its country code, like 2250701020304")
