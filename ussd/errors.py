"""Errors that cross the engine's boundary with the code it calls."""

from __future__ import annotations


class Unavailable(Exception):
    """What a provider's data lives in cannot be reached (an outage, a timeout): not the same as
    no data. The engine ends the dialogue with its "service momentarily unavailable" screen
    instead of routing on an absent value (an outage is not an unknown subscriber)."""
