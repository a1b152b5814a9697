"""The time of a walk on the handset or of a transcript: one clock that the engine, the handset and
the session store all read, so a dialogue's screens and its timers never disagree.

Frozen at an instant (``ussd dial --at``, a transcript's ``at``), time moves only when told: a clock
line (``@+90s``) or a step's ``at``. Otherwise it follows real time, shifted by every move. Moves are
written ``+90s``, ``+5m``, ``+2h``, ``+1d`` or ``+1h30m``; instants in ISO 8601, operator time when
they carry no offset.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, tzinfo

from ussd.clock import HandsetClock, wall_clock, within_years

__all__ = ["CLOCK_FORMS", "HandsetClock", "in_zone", "parse_move", "positive_seconds", "read_instant", "wall_clock"]

#: What a clock line or a step's ``at`` may say, for the messages that refuse one.
CLOCK_FORMS = "+90s, +5m, +2h, +1d, +1h30m or an ISO 8601 instant like 2026-11-28T00:00 (years 1970 to 9998)"

_MOVE = re.compile(r"\+(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_UNITS = ("days", "hours", "minutes", "seconds")


def parse_move(text: str) -> timedelta | None:
    """``+90s``, ``+5m``, ``+2h``, ``+1d``, ``+1h30m`` (units in the order d, h, m, s, each at most
    once) -> how far time moves on; None for anything else, so a typo is never read as a move."""
    match = _MOVE.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    try:
        return timedelta(**{unit: int(n) for unit, n in zip(_UNITS, match.groups(), strict=True) if n is not None})
    except (OverflowError, ValueError):  # more days than a timedelta holds, or digits past int's limit
        return None


def in_zone(moment: datetime, tz: tzinfo) -> datetime:
    """An instant written without an offset is operator time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def read_instant(text: str, tz: tzinfo, previous: datetime | None = None) -> datetime | None:
    """An ISO 8601 instant (in ``tz`` without an offset) or, when there is a ``previous`` instant to
    move from, a move (:func:`parse_move`); None when ``text`` is neither."""
    text = text.strip()
    if text.startswith("+"):
        move = parse_move(text)
        if move is None or previous is None:
            return None
        try:
            moved = previous + move
        except OverflowError:  # past the year 9999
            return None
        return moved if within_years(moved) else None
    try:
        moment = in_zone(datetime.fromisoformat(text), tz)
    except ValueError:
        return None
    return moment if within_years(moment) else None


def positive_seconds(text: str) -> float | None:
    """A session limit: a finite number of seconds above zero (``90``, ``1.5``), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
