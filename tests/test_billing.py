"""Billing periods (26th to 25th), the invoice that bills a period, calendar months back."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.billing import billing_month, day_start, month_label, months_before, period_of
from accounts.model import to_datetime, to_instant

ABIDJAN = ZoneInfo("Africa/Abidjan")
PARIS = ZoneInfo("Europe/Paris")
INSTANTS = st.integers(to_instant(datetime(2000, 1, 1), ABIDJAN), to_instant(datetime(2090, 1, 1), ABIDJAN))


def at(text: str, tz=ABIDJAN) -> int:
    return to_instant(datetime.fromisoformat(text), tz)


def test_the_help_pages_example_26_january_to_25_february_is_on_the_march_invoice() -> None:
    start, end = period_of(at("2027-02-10T12:00:00"), ABIDJAN)
    assert (start, end) == (at("2027-01-26T00:00:00"), at("2027-02-26T00:00:00"))
    assert billing_month(start, ABIDJAN) == "2027-03" and month_label("2027-03") == "03/2027"


def test_the_december_period_is_on_the_february_invoice() -> None:
    start, _ = period_of(at("2026-12-26T00:00:00"), ABIDJAN)
    assert billing_month(start, ABIDJAN) == "2027-02"


@settings(max_examples=300, deadline=None)
@given(INSTANTS, st.sampled_from([ABIDJAN, PARIS]))
def test_every_period_is_billed_the_month_after_it_ends(now: int, tz) -> None:
    start, end = period_of(now, tz)
    assert start <= now < end
    last_day = to_datetime(end - 1, tz)
    assert last_day.day == 25
    following = (last_day.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert billing_month(start, tz) == f"{following.year:04d}-{following.month:02d}"


@settings(max_examples=300, deadline=None)
@given(INSTANTS, st.integers(0, 30), st.sampled_from([ABIDJAN, PARIS]))
def test_months_before_goes_back_whole_calendar_months(now: int, months: int, tz) -> None:
    back = to_datetime(months_before(now, tz, months), tz)
    local = to_datetime(now, tz)
    assert (local.year * 12 + local.month) - (back.year * 12 + back.month) == months
    assert back.day == local.day or (back.day < local.day and (back + timedelta(days=1)).day == 1)
    assert months_before(now, tz, 0) == now or tz is PARIS


def test_months_before_at_month_ends_and_day_start() -> None:
    assert months_before(at("2026-03-31T10:00:00"), ABIDJAN, 1) == at("2026-02-28T10:00:00")
    assert months_before(at("2026-11-25T10:00:00"), ABIDJAN, 24) == at("2024-11-25T10:00:00")
    assert day_start(at("2026-11-25T23:59:59"), ABIDJAN) == at("2026-11-25T00:00:00")
    assert day_start(at("2026-03-29T12:00:00", PARIS), PARIS) == at("2026-03-29T00:00:00", PARIS)
