"""Billing periods: internet+ purchases are billed from the 26th to the 25th of the next month
(help page 004: "facturés du 26 au 25 du mois précédent"). Operator wall-clock time, any zone."""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime, time, timedelta, tzinfo

from .model import Instant, to_datetime

PERIOD_START_DAY = 26


def _start(year: int, month: int, tz: tzinfo) -> datetime:
    return datetime.combine(datetime(year, month, PERIOD_START_DAY).date(), time(0), tz)


def period_of(now: Instant, tz: tzinfo, back: int = 0) -> tuple[Instant, Instant]:
    """[start, end) of the billing period holding ``now``, or of the ``back``-th one before it."""
    local = to_datetime(now, tz)
    year, month = local.year, local.month
    if local.day < PERIOD_START_DAY:
        month -= 1
    month -= back
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return int(_start(year, month, tz).timestamp()), int(_start(next_year, next_month, tz).timestamp())


def months_before(now: Instant, tz: tzinfo, months: int) -> Instant:
    """The same wall-clock moment ``months`` calendar months before ``now`` (the 31st becomes the
    month's last day): "within the last 24 months" as a subscriber counts them."""
    local = to_datetime(now, tz)
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    day = min(local.day, monthrange(year, month + 1)[1])
    moved = local.replace(year=year, month=month + 1, day=day, tzinfo=None)
    return int(moved.replace(tzinfo=tz).timestamp())


def day_start(now: Instant, tz: tzinfo, days: int = 0) -> Instant:
    """Midnight (operator time) of the day holding ``now``, or of the ``days``-th day after it."""
    local = to_datetime(now, tz)
    return int(datetime.combine(local.date() + timedelta(days=days), time(0), tz).timestamp())


def billing_month(start: Instant, tz: tzinfo) -> str:
    """The invoice ("2027-03") that bills the period starting at ``start``: the one issued in the
    month after the period ends (26 January to 25 February is on the March invoice)."""
    local = to_datetime(start, tz)
    index = local.year * 12 + local.month - 1 + 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_label(month: str) -> str:
    """"2026-11" as invoices are named on screens: "11/2026"."""
    return f"{month[5:7]}/{month[:4]}"
