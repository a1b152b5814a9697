"""The operator's time zone (Orange Côte d'Ivoire): the one default that the engine, its
expressions, the accounts policy and the server configuration fall back to when a file names none.
A configuration's ``timezone:`` and a policy's override it."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE: Final = "Africa/Abidjan"
DEFAULT_TZ: Final = ZoneInfo(DEFAULT_TIMEZONE)
