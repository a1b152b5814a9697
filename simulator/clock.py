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
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable

from ussd.cli import within_years

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
        return timedelta(**{unit: int(n) for unit, n in zip(_UNITS, match.groups()) if n is not None})
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


def wall_clock() -> datetime:
    """Real time in whole seconds, so a recorded instant is exactly the one the engine saw."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class HandsetClock:
    """The current instant (aware), frozen or following ``wall``, and the session store's seconds.

    Pass the object itself as the engine's clock and :meth:`seconds` as the session store's."""

    def __init__(self, frozen: datetime | None = None, wall: Callable[[], datetime] = wall_clock) -> None:
        self._frozen = frozen
        #: The frozen instant's seconds, asked at every step by the session store.
        self._frozen_seconds = frozen.timestamp() if frozen is not None else 0.0
        self._wall = wall
        self._shift = timedelta(0)

    def __call__(self) -> datetime:
        return self._frozen if self._frozen is not None else self._wall() + self._shift

    def seconds(self) -> float:
        return self._frozen_seconds if self._frozen is not None else self().timestamp()

    def set(self, instant: datetime) -> None:
        """Time jumps to ``instant``: a frozen clock stands there, a real one goes on from there."""
        if self._frozen is not None:
            self._frozen, self._frozen_seconds = instant, instant.timestamp()
        else:
            self._shift = instant - self._wall()
