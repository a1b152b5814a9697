"""A clock that can be steered: the instant screens are computed at, and the seconds the session
store counts its timers in, read from one object so they never disagree. The terminal handset,
the transcripts and a gateway under QA control (``ussd serve --qa``) all steer one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: The years an instant given on the command line or a clock line may fall in: what stores and
#: date arithmetic (billing periods, months back) can represent with room to spare.
FIRST_YEAR, LAST_YEAR = 1970, 9998


def within_years(moment: datetime) -> bool:
    return FIRST_YEAR <= moment.year <= LAST_YEAR


def parse_instant(text: str) -> datetime:
    """ISO 8601, as given: without an offset it is read later in the operator's zone. ValueError,
    saying why, for anything else and for an instant outside the years."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 instant: {text!r} (e.g. 2026-11-25T10:30:00)") from None
    if not within_years(moment):
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return moment


def wall_clock() -> datetime:
    """Real time in whole seconds, so a recorded instant is exactly the one the engine saw."""
    return datetime.now(UTC).replace(microsecond=0)


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
