"""Validation of what a subscriber types on an input screen.

Returns the normalised value or the name of the rule that failed, so the screen can say exactly what
was wrong (the message itself is a translatable template chosen by the engine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2

from .model import InputRules, PhoneRule

#: Longest reply kept: a USSD string is at most 182 characters anyway.
MAX_INPUT = 182


@dataclass(frozen=True, slots=True)
class Invalid:
    rule: str  # kind | range | length | pattern | choice
    details: dict[str, Any]


class PatternError(ValueError):
    """An input ``pattern`` the linear-time matcher does not accept (backreferences, lookarounds)."""


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is the checker's message, not a line on stderr


@lru_cache(maxsize=256)
def compile_pattern(source: str) -> Any:
    """An input ``pattern`` compiled for RE2, whose matching time grows linearly with the reply:
    a pattern like ``(a+)+b`` that backtracks for seconds in Python's ``re`` cannot stall a step.
    Raises :class:`PatternError`."""
    try:
        return re2.compile(source, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(reason) from None


#: What people and networks put between a number's digits.
_SEPARATORS = re.compile(r"[\s.-]")


def normalise_phone(text: str, phone: PhoneRule) -> str | None:
    """``0701020304``, ``+2250701020304``, ``002250701020304``, ``225 07 01 02 03 04`` -> E.164 digits."""
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit() or not digits.isascii():
        return None
    if len(digits) == phone.national_digits:
        return phone.country_code + digits
    if len(digits) == len(phone.country_code) + phone.national_digits and digits.startswith(phone.country_code):
        return digits
    return None


def is_mobile(number: str, phone: PhoneRule) -> bool:
    """Whether E.164 digits are a number of the service's mobile plan (its national prefixes,
    operator data in the menu's ``phone`` block; any number when it names none)."""
    national = number[len(phone.country_code):]
    return not phone.prefixes or national.startswith(phone.prefixes)


def possible_rules(rules: InputRules) -> tuple[str, ...]:
    """The rules a reply to this input can break, so its screen keeps room for their messages."""
    found = ["kind"]
    if rules.kind == "text" or rules.min_length is not None or rules.max_length is not None:
        found.append("length")
    if rules.kind in ("digits", "amount") and (rules.min_value is not None or rules.max_value is not None):
        found.append("range")
    if rules.pattern is not None:
        found.append("pattern")
    if rules.choices is not None:
        found.append("choice")
    return tuple(found)


def rule_details(rules: InputRules, phone: PhoneRule) -> dict[str, Any]:
    """What the error templates may quote (``rule.min``...); missing bounds read as open."""
    return {
        "min": rules.min_value if rules.min_value is not None else 0,
        "max": rules.max_value if rules.max_value is not None else "...",
        "min_length": rules.min_length if rules.min_length is not None else 1,
        "max_length": rules.max_length if rules.max_length is not None else MAX_INPUT,
        "digits": phone.national_digits,
        "prefixes": list(phone.prefixes),
        "choices": list(rules.choices or ()),
    }


def validate(rules: InputRules, text: str, phone: PhoneRule) -> Any | Invalid:
    """The value to save (str, or int for amounts), or :class:`Invalid`."""
    text = text.strip()
    value: Any = text
    kind = rules.kind
    if not text or len(text) > MAX_INPUT:
        # too long for any USSD string: the prompt's own rule says why (its kind, or its length)
        too_long = kind == "text" or rules.max_length is not None
        return Invalid("length" if text and too_long else "kind", rule_details(rules, phone))
    if kind == "digits" and not (text.isdigit() and text.isascii()):
        return Invalid("kind", rule_details(rules, phone))
    if kind == "phone":
        value = normalise_phone(text, phone)
        if value is None or not is_mobile(value, phone):
            return Invalid("kind", rule_details(rules, phone))
    if kind == "amount":
        compact = text.replace(" ", "")
        if not (compact.isdigit() and compact.isascii()) or len(compact) > 15:
            return Invalid("kind", rule_details(rules, phone))
        value = int(compact)
    if rules.min_length is not None and len(text) < rules.min_length or (
        rules.max_length is not None and len(text) > rules.max_length
    ):
        return Invalid("length", rule_details(rules, phone))
    if kind in ("digits", "amount") and (rules.min_value is not None or rules.max_value is not None):
        number = value if isinstance(value, int) else int(text)
        if (rules.min_value is not None and number < rules.min_value) or (
            rules.max_value is not None and number > rules.max_value
        ):
            return Invalid("range", rule_details(rules, phone))
    if rules.pattern is not None and not compile_pattern(rules.pattern).fullmatch(text):
        return Invalid("pattern", rule_details(rules, phone))
    if rules.choices is not None and text not in rules.choices:
        return Invalid("choice", rule_details(rules, phone))
    return value
