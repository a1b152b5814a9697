"""Billing periods: internet+ purchases are billed from the 26th to the 25th of the next month
(help page 004: "facturés du 26 au 25 du mois précédent"). Operator wall-clock time, any zone."""

from __future__ import annotations

from datetime import datetime, time, tzinfo

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
