"""A subscriber back to the import format: the record reads back as the same subscriber (directly
and through YAML), holds plain values only, and leaves out what the importer's defaults give."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from account_strategies import zoned_subscribers
from hypothesis import given, settings
from hypothesis import strategies as st
from test_account_import import DEMO, t

from accounts.export import subscriber_record
from accounts.importer import ImportFailed, parse_subscriber, read_subscribers
from accounts.model import Bucket, DuplicateRequest, InternetPlus, MainAccount, Offer, OfferType, Status, Subscriber
from accounts.policy import load_policy
from accounts.yamldata import load_plain
from ussd import Diagnostic

TZ = load_policy().tz
PARIS = ZoneInfo("Europe/Paris")
ROUND_TRIPS = settings(deadline=None, max_examples=200)


def read_back(record: Any, tz: tzinfo) -> tuple[Subscriber | None, list[Diagnostic]]:
    try:
        return parse_subscriber(record, tz, "exported"), []
    except ImportFailed as exc:
        return None, exc.diagnostics


def plain(value: Any) -> bool:
    """Only text, whole numbers, booleans, lists and mappings with text keys, all the way down; of
    exactly those types (``yaml.safe_dump`` refuses a subclass, such as a ``Status`` member)."""
    if type(value) is dict:
        return all(type(k) is str and plain(v) for k, v in value.items())
    if type(value) is list:
        return all(plain(v) for v in value)
    return type(value) in (str, int, bool)


@ROUND_TRIPS
@given(zoned_subscribers)
def test_a_record_reads_back_as_the_same_subscriber(zoned: tuple[tzinfo, Subscriber]) -> None:
    tz, sub = zoned
    record = subscriber_record(sub, tz)
    assert read_back(record, tz) == (sub, [])
    assert plain(record)
    assert json.loads(json.dumps(record)) == record


@ROUND_TRIPS
@given(zoned_subscribers)
def test_a_record_reads_back_through_yaml(zoned: tuple[tzinfo, Subscriber]) -> None:
    tz, sub = zoned
    text = yaml.safe_dump({"subscribers": [subscriber_record(sub, tz)]}, allow_unicode=True)
    assert read_back(load_plain(text)["subscribers"][0], tz) == (sub, [])


@settings(deadline=None, max_examples=50)
@given(zoned_subscribers, st.sampled_from((TZ, PARIS)))
def test_a_record_written_in_one_zone_reads_back_in_any(zoned: tuple[tzinfo, Subscriber], reader: tzinfo) -> None:
    """Instants carry their offset, so the reader's zone does not move them. (Not invoices: the
    reader checks their month in its own zone.)"""
    tz, sub = zoned
    sub = replace(sub, invoices=())
    assert read_back(subscriber_record(sub, tz), reader) == (sub, [])


def test_the_demo_population_reads_back_unchanged() -> None:
    demo = read_subscribers(DEMO, TZ)
    assert any(s.invoices for s in demo) and any(s.internet_plus for s in demo) and any(s.usage for s in demo)
    for sub in demo:
        assert read_back(subscriber_record(sub, TZ), TZ) == (sub, [])


def test_empty_parts_are_left_out() -> None:
    bare = Subscriber("2250701020304", Status.ACTIVE, Offer("Mix", OfferType.PREPAID), "fr",
                      MainAccount(1250, t("2027-01-31T23:59:59")))
    assert subscriber_record(bare, TZ) == {
        "msisdn": "2250701020304", "status": "active", "offer": {"name": "Mix", "type": "prepaid"},
        "language": "fr", "main": {"balance": 1250, "expires": "2027-01-31T23:59:59+00:00"},
    }
    internet = Bucket("internet", "night", 524288000, t("2026-12-01T06:00:00"))
    quiet = Subscriber(bare.msisdn, bare.status, bare.offer, "en", bare.main, buckets=(internet,),
                       internet_plus=InternetPlus(False, ()))
    record = subscriber_record(quiet, TZ)
    assert record["buckets"] == [{"account": "internet", "rubrique": "night", "amount": 524288000,
                                  "expires": "2026-12-01T06:00:00+00:00"}]
    assert record["internet_plus"] == {"active": False}
    assert "favourites" not in record and "usage" not in record and "duplicates" not in record


def test_instants_carry_the_zones_offset_to_the_second() -> None:
    sub = Subscriber("2250701020304", Status.ACTIVE, Offer("Mix", OfferType.PREPAID), "fr",
                     MainAccount(0, t("2026-07-01T00:00:00")),
                     duplicates=(DuplicateRequest("2026-11", t("2026-11-25T10:00:00")),))
    record = subscriber_record(sub, PARIS)
    assert record["main"]["expires"] == "2026-07-01T02:00:00+02:00"  # summer time
    assert record["duplicates"] == [{"month": "2026-11", "at": "2026-11-25T11:00:00+01:00"}]
    assert subscriber_record(sub, ZoneInfo("Africa/Monrovia"))["main"]["expires"] == "2026-07-01T00:00:00+00:00"
