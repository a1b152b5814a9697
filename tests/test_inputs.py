"""Validation of what a subscriber types, and phone number normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ussd.inputs import (
    MAX_INPUT,
    Invalid,
    PatternError,
    compile_pattern,
    normalise_phone,
    possible_rules,
    rule_details,
    validate,
)
from ussd.model import InputRules, PhoneRule

CI = PhoneRule()  # +225, ten national digits
E164 = "2250701020304"


def rule_of(result) -> str | None:
    return result.rule if isinstance(result, Invalid) else None


# -- kinds -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("0123", "0123"),  # kept as typed: leading zeros matter for a code
    ("  42 ", "42"),
    ("7" * MAX_INPUT, "7" * MAX_INPUT),
])
def test_digits_accepted(text: str, expected: str) -> None:
    assert validate(InputRules("digits"), text, CI) == expected


@pytest.mark.parametrize("text", ["12a", "1 2", "-1", "+1", "1.5", "٣", "١٢٣", "１２", "²", "abc"])
def test_digits_rejected(text: str) -> None:
    assert rule_of(validate(InputRules("digits"), text, CI)) == "kind"


@pytest.mark.parametrize("text", [
    "0701020304", "+2250701020304", "002250701020304", "225 07 01 02 03 04", "2250701020304",
    "07 01 02 03 04", "07.01.02.03.04", "07-01-02-03-04", "+225 07 01 02 03 04", " 0701020304 ",
])
def test_phone_forms_normalise_to_e164_digits(text: str) -> None:
    assert validate(InputRules("phone"), text, CI) == E164
    assert normalise_phone(text, CI) == E164


@pytest.mark.parametrize("text", [
    "070102030",  # 9 digits
    "07010203045",  # 11 digits
    "225070102030",  # 12 digits
    "22507010203045",  # 14 digits
    "2260701020304",  # 13 digits, another country code
    "+2260701020304",
    "0033701020304",
    "07O1020304",  # a letter O
    "07010203O4",
    "٠٧٠١٠٢٠٣٠٤",  # Arabic-Indic digits
    "07010203٠٤",
    "０７０１０２０３０４",  # full-width digits
    "++2250701020304",
    "+",
    "00",
    "tel:0701020304",
])
def test_phone_rejected(text: str) -> None:
    assert rule_of(validate(InputRules("phone"), text, CI)) == "kind"
    assert normalise_phone(text, CI) is None


def test_phone_with_another_numbering_plan() -> None:
    france = PhoneRule("33", 9)
    assert validate(InputRules("phone"), "612345678", france) == "33612345678"
    assert validate(InputRules("phone"), "+33 6 12 34 56 78", france) == "33612345678"
    assert rule_of(validate(InputRules("phone"), "0701020304", france)) == "kind"


def test_phone_error_details_quote_the_digits_expected() -> None:
    invalid = validate(InputRules("phone"), "123", CI)
    assert isinstance(invalid, Invalid) and invalid.details["digits"] == 10


@pytest.mark.parametrize("text, expected", [
    ("1000", 1000), ("1 000", 1000), ("1 000 000", 1000000), (" 250 ", 250), ("007", 7), ("0", 0),
    ("9" * 15, int("9" * 15)),
])
def test_amount_accepted_as_a_whole_number(text: str, expected: int) -> None:
    value = validate(InputRules("amount"), text, CI)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("text", ["1,000", "1.000", "12.5", "-5", "+5", "1e3", "mille", "١٠٠", "9" * 16, "1_000"])
def test_amount_rejected(text: str) -> None:
    assert rule_of(validate(InputRules("amount"), text, CI)) == "kind"


def test_text_kind_takes_anything_stripped() -> None:
    assert validate(InputRules("text"), "  Bonjour été  ", CI) == "Bonjour été"


# -- rules -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("100", 100), ("5000", 5000), ("1 000", 1000), ("99", "range"), ("5001", "range"), ("0", "range"),
    ("5 001", "range"),
])
def test_amount_range(text: str, expected) -> None:
    result = validate(InputRules("amount", min_value=100, max_value=5000), text, CI)
    assert (rule_of(result) or result) == expected


def test_range_details_quote_the_bounds() -> None:
    invalid = validate(InputRules("amount", min_value=100, max_value=5000), "50", CI)
    assert isinstance(invalid, Invalid)
    assert invalid.details["min"] == 100 and invalid.details["max"] == 5000


def test_open_range_bounds_read_as_open() -> None:
    details = rule_details(InputRules("amount", min_value=100), CI)
    assert details["min"] == 100 and details["max"] == "..."
    assert rule_of(validate(InputRules("amount", max_value=10), "11", CI)) == "range"
    assert validate(InputRules("amount", min_value=10), "10" + "0" * 12, CI) == 10 ** 13


@pytest.mark.parametrize("text, expected", [("1", "1"), ("12", "12"), ("13", "range"), ("0", "range"), ("012", "012")])
def test_digits_range_keeps_the_text(text: str, expected: str) -> None:
    result = validate(InputRules("digits", min_value=1, max_value=12), text, CI)
    assert (rule_of(result) or result) == expected


@pytest.mark.parametrize("text, expected", [
    ("ab", "ab"), ("abcd", "abcd"), ("a", "length"), ("abcde", "length"), ("  ab  ", "ab"),
])
def test_length(text: str, expected: str) -> None:
    result = validate(InputRules("text", min_length=2, max_length=4), text, CI)
    assert (rule_of(result) or result) == expected


def test_length_details() -> None:
    invalid = validate(InputRules("digits", min_length=4, max_length=6), "123", CI)
    assert isinstance(invalid, Invalid) and invalid.rule == "length"
    assert invalid.details["min_length"] == 4 and invalid.details["max_length"] == 6
    assert rule_details(InputRules("text"), CI)["max_length"] == MAX_INPUT


@pytest.mark.parametrize("text, expected", [
    ("AB12", "AB12"), ("AB123", "pattern"), ("xAB12", "pattern"), ("ab12", "pattern"), (" AB12 ", "AB12"),
])
def test_pattern_must_match_the_whole_reply(text: str, expected: str) -> None:
    result = validate(InputRules("text", pattern=r"[A-Z]{2}\d{2}"), text, CI)
    assert (rule_of(result) or result) == expected


@pytest.mark.parametrize("text, expected", [
    ("oui", "oui"), ("non", "non"), (" non ", "non"), ("OUI", "choice"), ("ou", "choice"), ("oui non", "choice"),
])
def test_choices(text: str, expected: str) -> None:
    result = validate(InputRules("text", choices=("oui", "non")), text, CI)
    assert (rule_of(result) or result) == expected
    assert (rule_of(result) == "choice") == (expected == "choice")


@pytest.mark.parametrize("kind", ["text", "digits", "phone", "amount"])
@pytest.mark.parametrize("text", ["", " ", "   \t  ", "\n"])
def test_empty_input_is_the_wrong_kind(kind: str, text: str) -> None:
    assert rule_of(validate(InputRules(kind), text, CI)) == "kind"


@pytest.mark.parametrize("kind", ["text", "digits", "phone", "amount"])
def test_input_longer_than_a_ussd_string_breaks_the_prompts_own_rule(kind: str) -> None:
    # a number, a code or an amount is refused for what it is, not for "1 to 182 characters"
    expected = "length" if kind == "text" else "kind"
    assert rule_of(validate(InputRules(kind), "1" * (MAX_INPUT + 1), CI)) == expected
    assert rule_of(validate(InputRules(kind), "a" * 500, CI)) == expected
    # a prompt that sets its own length says that one
    assert rule_of(validate(InputRules(kind, max_length=12), "1" * (MAX_INPUT + 1), CI)) == "length"


MOBILE = PhoneRule("225", 10, ("01", "05", "07"))


@pytest.mark.parametrize("text", ["0701020304", "05 11 22 33 44", "+2250101020304", "2250501020304"])
def test_phone_with_prefixes_accepts_mobile_numbers(text: str) -> None:
    assert isinstance(validate(InputRules("phone"), text, MOBILE), str)


@pytest.mark.parametrize("text", ["2721202122", "+2252721202122", "0901020304", "2250201020304"])
def test_phone_with_prefixes_refuses_other_numbers(text: str) -> None:
    assert rule_of(validate(InputRules("phone"), text, MOBILE)) == "kind"
    assert isinstance(validate(InputRules("phone"), text, CI), str)  # no prefixes: any number


def test_possible_rules_follow_the_prompt() -> None:
    assert possible_rules(InputRules("phone")) == ("kind",)
    assert possible_rules(InputRules("text")) == ("kind", "length")
    assert possible_rules(InputRules("digits", min_value=1, pattern="1.*", choices=("1",))) == (
        "kind", "range", "pattern", "choice")
    assert possible_rules(InputRules("amount", max_length=5)) == ("kind", "length")


def test_input_of_exactly_the_limit_is_kept() -> None:
    assert validate(InputRules("text"), "é" * MAX_INPUT, CI) == "é" * MAX_INPUT
    assert validate(InputRules("text"), "  " + "x" * MAX_INPUT + "  ", CI) == "x" * MAX_INPUT


# -- properties --------------------------------------------------------------------------------------

RULES = [
    InputRules("text"),
    InputRules("text", min_length=2, max_length=8),
    InputRules("text", pattern=r"[A-Z]{2}\d{2}"),
    InputRules("text", choices=("oui", "non")),
    InputRules("digits"),
    InputRules("digits", min_value=1, max_value=12, min_length=1, max_length=2),
    InputRules("phone"),
    InputRules("phone", pattern=r"0\d{9}"),
    InputRules("amount"),
    InputRules("amount", min_value=100, max_value=5000),
    InputRules("amount", min_value=0),
]
replies = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 +-.٣١２", max_size=20),
    st.from_regex(r"\A\+?(00)?(225)? ?0[157]( ?\d{2}){4}\Z"),
)


@settings(max_examples=500)
@given(rules=st.sampled_from(RULES), text=replies)
def test_any_text_gives_a_value_or_invalid(rules: InputRules, text: str) -> None:
    result = validate(rules, text, CI)
    if isinstance(result, Invalid):
        assert result.rule in ("kind", "range", "length", "pattern", "choice")
        assert isinstance(result.details, dict)
        return
    if rules.kind == "amount":
        assert type(result) is int and result >= 0
    else:
        assert isinstance(result, str) and result == result.strip() and result
    if rules.kind == "digits":
        assert result.isascii() and result.isdigit()
    if rules.kind == "phone":
        assert len(result) == 13 and result.startswith("225") and result.isascii() and result.isdigit()
    if rules.min_value is not None:
        assert int(result) >= rules.min_value
    if rules.max_value is not None:
        assert int(result) <= rules.max_value


#: National numbers as written in Côte d'Ivoire: ten digits (a leading "00" would be the
#: international prefix, so such strings are not national numbers).
national = st.from_regex(r"\A[0-9]{10}\Z").filter(lambda n: not n.startswith("00"))


@given(number=national)
def test_national_number_gets_the_country_code_and_is_idempotent(number: str) -> None:
    e164 = normalise_phone(number, CI)
    assert e164 == "225" + number
    assert normalise_phone(e164, CI) == e164
    assert normalise_phone("+" + e164, CI) == e164
    assert normalise_phone("00" + e164, CI) == e164
    spaced = " ".join(number[i:i + 2] for i in range(0, 10, 2))
    assert normalise_phone(spaced, CI) == e164
    assert validate(InputRules("phone"), spaced, CI) == e164


@given(text=st.text(max_size=30))
def test_normalise_phone_never_raises_and_gives_e164_or_none(text: str) -> None:
    result = normalise_phone(text, CI)
    assert result is None or (len(result) == 13 and result.startswith("225") and result.isdecimal()
                              and result.isascii())
    if result is not None:
        assert normalise_phone(result, CI) == result


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    # (a+)+b backtracks exponentially in Python's re: 30 a's take minutes there
    rules = InputRules("text", pattern="(a+)+b")
    assert rule_of(validate(rules, "a" * 30 + "c", CI)) == "pattern"
    assert validate(rules, "a" * 30 + "b", CI) == "a" * 30 + "b"


@pytest.mark.parametrize("source", [r"(a)\1", r"(?=a)a", r"(?<!x)y", "[z-a]"])
def test_patterns_the_linear_time_matcher_cannot_run_are_refused(source: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(source)
