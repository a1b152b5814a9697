"""Built-in display filters for menu templates (``{{ main.balance | money }}``).

Output goes to a USSD screen, so it is short and GSM-7 safe (plain spaces, no
non-breaking or narrow spaces, no special symbols), French by default with
English as the second language.  Every filter tolerates None (a missing value
must not break a screen); a wrong type raises TypeError/ValueError, which the
evaluator turns into EvalError.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from ussd.expr import MAX_TEXT_LEN, Filter, RenderEnv

__all__ = [
    "BUILTIN_FILTERS",
    "count",
    "data",
    "date",
    "day",
    "default",
    "duration",
    "join",
    "lower",
    "money",
    "national",
    "plural",
    "time",
    "upper",
]


def _is_en(env: RenderEnv) -> bool:
    """English for "en", "en-GB", "EN_us"...; anything else falls back to French."""
    return env.lang[:2].lower() == "en"


def _to_int(value: Any, name: str) -> int:
    """Whole number for display; floats/Decimals round to nearest (half to even)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} expects a number, got a boolean")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise ValueError(f"{name} expects a finite number, got {value}")
        return round(value)
    raise TypeError(f"{name} expects a number, got {type(value).__name__}")


def money(value: Any, *, env: RenderEnv) -> str:
    """Amount in F CFA (no subunit): fr "1 250 F", en "1,250 F"."""
    if value is None:
        return ""
    amount = _to_int(value, "money")
    grouped = f"{abs(amount):,}"
    if not _is_en(env):
        grouped = grouped.replace(",", " ")
    return f"{'-' if amount < 0 else ''}{grouped} F"


_DATA_UNITS_FR: Final = ("o", "Ko", "Mo", "Go", "To")
_DATA_UNITS_EN: Final = ("B", "KB", "MB", "GB", "TB")


def _div_round(numerator: int, denominator: int) -> int:
    """Integer division rounding half up, exact for any size (no float noise)."""
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def data(value: Any, *, env: RenderEnv) -> str:
    """Data volume in binary units (1 Mo = 1024 Ko): "500 Mo", "1,5 Go" / "1.5 GB".

    Two decimals at most, trailing zeros dropped.  Zero reads "0 Mo" (what a
    subscriber expects for an empty bundle) rather than "0 o".
    """
    if value is None:
        return ""
    size = _to_int(value, "data")
    english = _is_en(env)
    units = _DATA_UNITS_EN if english else _DATA_UNITS_FR
    if size == 0:
        return f"0 {units[2]}"
    sign = "-" if size < 0 else ""
    size = abs(size)
    if size < 1024:
        return f"{sign}{size} {units[0]}"
    index = 1
    while index < len(units) - 1 and size >= 1024 ** (index + 1):
        index += 1
    hundredths = _div_round(size * 100, 1024**index)
    if hundredths >= 1024 * 100 and index < len(units) - 1:
        index += 1  # 1023.999 Mo rounds to 1024 Mo: say "1 Go" instead
        hundredths = _div_round(size * 100, 1024**index)
    whole, fraction = divmod(hundredths, 100)
    number = str(whole)
    if fraction:
        number += ("." if english else ",") + f"{fraction:02d}".rstrip("0")
    return f"{sign}{number} {units[index]}"


def duration(value: Any, *, env: RenderEnv) -> str:
    """Seconds as the two leading units: "1h05min", "12min30s", "45s", "2h".

    With hours the seconds are dropped (floored): screens are short, and
    rounding down never promises more call time than is left.
    """
    if value is None:
        return ""
    seconds = _to_int(value, "duration")
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h" + (f"{minutes:02d}min" if minutes else "")
    if minutes:
        return f"{sign}{minutes}min" + (f"{secs:02d}s" if secs else "")
    return f"{sign}{secs}s"


def _moment(value: Any, env: RenderEnv) -> datetime.datetime | datetime.date | None:
    """Datetime in the operator's zone, a date (no time known), or None if absent.

    Aware datetimes are converted to env.tz; naive ones are taken as already in
    operator time.  ISO 8601 strings follow the same rule; bare numbers are Unix
    timestamps (always UTC, so they are converted).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 10 and "T" not in text and ":" not in text:
            return datetime.date.fromisoformat(text)
        value = datetime.datetime.fromisoformat(text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(env.tz)
        return value
    if isinstance(value, datetime.date):
        return value
    raise TypeError(f"expected a date/time or ISO 8601 text, got {type(value).__name__}")


def _day_text(moment: datetime.date) -> str:
    return f"{moment.day:02d}/{moment.month:02d}/{moment.year:04d}"


def _time_text(moment: datetime.datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def date(value: Any, *, env: RenderEnv) -> str:
    """ "dd/mm/yyyy HH:MM" in operator time; date-only values give just "dd/mm/yyyy"."""
    moment = _moment(value, env)
    if moment is None:
        return ""
    if isinstance(moment, datetime.datetime):
        return f"{_day_text(moment)} {_time_text(moment)}"
    return _day_text(moment)


def day(value: Any, *, env: RenderEnv) -> str:
    """ "dd/mm/yyyy" in operator time."""
    moment = _moment(value, env)
    return "" if moment is None else _day_text(moment)


def time(value: Any, *, env: RenderEnv) -> str:
    """ "HH:MM" in operator time; a date-only value has no time and is an error."""
    moment = _moment(value, env)
    if moment is None:
        return ""
    if not isinstance(moment, datetime.datetime):
        raise ValueError("time needs a date and time, got a date only")
    return _time_text(moment)


def default(value: Any, fallback: Any, *, env: RenderEnv) -> Any:
    """*fallback* when the value is missing (None) or empty text; 0 and False are kept."""
    if value is None or (isinstance(value, str) and not value):
        return fallback
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} expects text, got {type(value).__name__}")
    return value


def upper(value: Any, *, env: RenderEnv) -> str:
    """Upper-case text (None -> "")."""
    return "" if value is None else _text(value, "upper").upper()


def lower(value: Any, *, env: RenderEnv) -> str:
    """Lower-case text (None -> "")."""
    return "" if value is None else _text(value, "lower").lower()


def count(value: Any, *, env: RenderEnv) -> int:
    """Number of items in a list/mapping or characters in text; None counts as 0."""
    if value is None:
        return 0
    if isinstance(value, (list, tuple, str, Mapping)):
        return len(value)
    raise TypeError(f"count expects a list or text, got {type(value).__name__}")


def join(value: Any, sep: Any = ", ", *, env: RenderEnv) -> str:
    """Texts of a list joined with *sep* (", " when omitted); None -> ""."""
    if value is None:
        return ""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"join expects a list, got {type(value).__name__}")
    separator = _text(sep, "join separator")
    items = [_text(item, "join item") for item in value]
    size = sum(map(len, items)) + len(separator) * max(len(items) - 1, 0)
    if size > MAX_TEXT_LEN:  # refused before it is built: nested joins would grow without bound
        raise ValueError(f"the joined text would be {size} characters, over {MAX_TEXT_LEN}")
    return separator.join(items)


def national(value: Any, *, env: RenderEnv) -> str:
    """E.164 digits of the service's country in the national form its prompts ask for
    ("2250701020304" -> "0701020304"); any other number as it is, None -> ""."""
    if value is None:
        return ""
    number = _text(value, "national")
    code = env.country_code
    if code and number.startswith(code) and len(number) == len(code) + env.national_digits:
        return number[len(code):]
    return number


def plural(value: Any, singular: Any, plural_form: Any = None, *, env: RenderEnv) -> str:
    """A count with its noun, singular or plural by the language's rule: French "0 jour",
    "1 jour", "2 jours"; English "0 days", "1 day", "2 days". The plural is the singular with
    an "s" unless given."""
    if value is None:
        return ""
    number = _to_int(value, "plural")
    one = _text(singular, "plural singular")
    many = one + "s" if plural_form is None else _text(plural_form, "plural plural")
    single = abs(number) == 1 if _is_en(env) else abs(number) < 2
    return f"{number} {one if single else many}"


BUILTIN_FILTERS: Final[Mapping[str, Filter]] = MappingProxyType(
    {
        "money": money,
        "data": data,
        "duration": duration,
        "date": date,
        "day": day,
        "time": time,
        "default": default,
        "upper": upper,
        "lower": lower,
        "count": count,
        "join": join,
        "national": national,
        "plural": plural,
    }
)
"""Filters available to every menu; the application may extend a copy of it."""
