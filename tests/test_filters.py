"""Tests for the built-in display filters (ussd.filters)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ussd.expr import EvalError, RenderEnv, compile_expr, compile_template
from ussd.filters import (
    BUILTIN_FILTERS,
    count,
    data,
    date,
    day,
    default,
    duration,
    join,
    lower,
    money,
    national,
    plural,
    time,
    upper,
)

FR = RenderEnv()
EN = RenderEnv(lang="en")
ABIDJAN = ZoneInfo("Africa/Abidjan")
PARIS = ZoneInfo("Europe/Paris")
PARIS_ENV = RenderEnv(tz=PARIS)
MO = 1024 * 1024


def test_builtin_filter_names() -> None:
    assert set(BUILTIN_FILTERS) == {
        "money", "data", "duration", "date", "day", "time", "default", "upper", "lower", "count", "join",
        "national", "plural",
    }  # fmt: skip
    with pytest.raises(TypeError):
        BUILTIN_FILTERS["evil"] = print  # type: ignore[index]


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("value", "fr", "en"),
    [
        (0, "0 F", "0 F"),
        (5, "5 F", "5 F"),
        (500, "500 F", "500 F"),
        (1250, "1 250 F", "1,250 F"),
        (1000000, "1 000 000 F", "1,000,000 F"),
        (-500, "-500 F", "-500 F"),
        (-1250, "-1 250 F", "-1,250 F"),
        (1249.6, "1 250 F", "1,250 F"),
        (Decimal("99.4"), "99 F", "99 F"),
        (None, "", ""),
    ],
)
def test_money(value: Any, fr: str, en: str) -> None:
    assert money(value, env=FR) == fr
    assert money(value, env=EN) == en


def test_money_is_gsm7_safe_and_language_variants() -> None:
    text = money(1234567, env=FR)
    assert "\u00a0" not in text and "\u202f" not in text
    assert money(1250, env=RenderEnv(lang="en-GB")) == "1,250 F"
    assert money(1250, env=RenderEnv(lang="fr_CI")) == "1 250 F"
    assert money(1250, env=RenderEnv(lang="dyu")) == "1 250 F"  # unknown languages fall back to French


@pytest.mark.parametrize("value", ["1250", True, [1], float("nan"), float("inf")])
def test_money_rejects_wrong_types(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        money(value, env=FR)


@given(st.integers(-(10**15), 10**15))
def test_money_round_trips(amount: int) -> None:
    for env, sep in ((FR, " "), (EN, ",")):
        text = money(amount, env=env)
        assert text.endswith(" F")
        assert int(text[: -len(" F")].replace(sep, "")) == amount
        digits = text[: -len(" F")].lstrip("-")
        groups = digits.split(sep)
        assert all(len(group) == 3 for group in groups[1:]) and 1 <= len(groups[0]) <= 3


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize(
    ("value", "fr", "en"),
    [
        (None, "", ""),
        (0, "0 Mo", "0 MB"),
        (12, "12 o", "12 B"),
        (1023, "1023 o", "1023 B"),
        (1024, "1 Ko", "1 KB"),
        (800 * 1024, "800 Ko", "800 KB"),
        (500 * MO, "500 Mo", "500 MB"),
        (MO + MO // 2, "1,5 Mo", "1.5 MB"),
        (1536 * MO, "1,5 Go", "1.5 GB"),
        (1024 * MO + 10 * MO, "1,01 Go", "1.01 GB"),
        (1024 * MO + 51 * MO, "1,05 Go", "1.05 GB"),
        (2 * 1024 * MO, "2 Go", "2 GB"),
        (1024 * MO - 1, "1 Go", "1 GB"),  # 1023.999.. Mo rounds up to the next unit
        (3 * 1024**4, "3 To", "3 TB"),
        (2048 * 1024**4, "2048 To", "2048 TB"),
        (-500 * MO, "-500 Mo", "-500 MB"),
        (float(500 * MO), "500 Mo", "500 MB"),
    ],
)
def test_data(value: Any, fr: str, en: str) -> None:
    assert data(value, env=FR) == fr
    assert data(value, env=EN) == en


@given(st.integers(0, 1023))
def test_data_whole_megabytes(n: int) -> None:
    assert data(n * MO, env=FR) == f"{n} Mo"
    assert data(n * MO, env=EN) == f"{n} MB"


@given(st.integers(1024, 10**15))
@example(8320)  # 8.125 KB: a half-way case, off by exactly 0.005 KB
def test_data_at_most_two_decimals_and_close(size: int) -> None:
    text = data(size, env=EN)
    number, unit = text.split(" ")
    factor = 1024 ** ["B", "KB", "MB", "GB", "TB"].index(unit)
    assert len(number.partition(".")[2]) <= 2
    assert not number.endswith("0") or "." not in number
    assert abs(Fraction(number) * factor - size) <= Fraction(factor, 200)  # exact: a half-way case is exactly 0.005


def test_data_rejects_text() -> None:
    with pytest.raises(TypeError):
        data("500", env=FR)


# --------------------------------------------------------------------------- duration


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, ""),
        (0, "0s"),
        (45, "45s"),
        (60, "1min"),
        (125, "2min05s"),
        (750, "12min30s"),
        (3600, "1h"),
        (3900, "1h05min"),
        (3905, "1h05min"),
        (7200, "2h"),
        (36000 + 59 * 60 + 59, "10h59min"),
        (100 * 3600, "100h"),
        (-90, "-1min30s"),
        (44.6, "45s"),
    ],
)
def test_duration(seconds: Any, expected: str) -> None:
    assert duration(seconds, env=FR) == expected
    assert duration(seconds, env=EN) == expected


@given(st.integers(0, 10**7))
def test_duration_never_overstates(seconds: int) -> None:
    text = duration(seconds, env=FR)
    hours, _, rest = text.rpartition("h") if "h" in text else ("0", "", text)
    minutes, _, rest = rest.partition("min") if "min" in rest else ("0", "", rest)
    secs = rest.rstrip("s") or "0"
    shown = int(hours) * 3600 + int(minutes) * 60 + int(secs)
    assert shown <= seconds and seconds - shown < (60 if seconds >= 3600 else 1)


# --------------------------------------------------------------------------- dates


def test_date_day_time_examples() -> None:
    utc = datetime.datetime(2025, 3, 9, 23, 5, 59, tzinfo=datetime.UTC)
    assert date(utc, env=FR) == "09/03/2025 23:05"
    assert day(utc, env=EN) == "09/03/2025"
    assert time(utc, env=EN) == "23:05"
    in_paris = date(utc, env=PARIS_ENV)
    assert in_paris == "10/03/2025 00:05"  # winter: UTC+1, crosses midnight


def test_naive_datetime_is_already_operator_time() -> None:
    naive = datetime.datetime(2025, 7, 14, 8, 30)
    assert date(naive, env=FR) == "14/07/2025 08:30"
    assert date(naive, env=PARIS_ENV) == "14/07/2025 08:30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-14T08:30:00Z", "14/07/2025 08:30"),
        ("2025-07-14T08:30:00+02:00", "14/07/2025 06:30"),
        ("2025-07-14 08:30", "14/07/2025 08:30"),
        ("2025-07-14", "14/07/2025"),
        ("  2025-07-14T08:30:00.123456+00:00 ", "14/07/2025 08:30"),
        ("", ""),
    ],
)
def test_date_from_iso_text(text: str, expected: str) -> None:
    assert date(text, env=FR) == expected


def test_date_only_values() -> None:
    assert date(datetime.date(2025, 1, 5), env=FR) == "05/01/2025"
    assert day("2025-01-05", env=FR) == "05/01/2025"
    with pytest.raises(ValueError):
        time(datetime.date(2025, 1, 5), env=FR)


def test_unix_timestamp_is_utc() -> None:
    assert date(0, env=FR) == "01/01/1970 00:00"
    assert date(0, env=PARIS_ENV) == "01/01/1970 01:00"


@pytest.mark.parametrize("value", ["demain", "2025-13-01", True, [2025]])
def test_date_rejects_garbage(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        date(value, env=FR)


def test_none_gives_empty_text_for_date_filters() -> None:
    assert (date(None, env=FR), day(None, env=FR), time(None, env=FR)) == ("", "", "")


_aware = st.datetimes(
    min_value=datetime.datetime(1970, 1, 2),
    max_value=datetime.datetime(2100, 12, 30),
    timezones=st.sampled_from([datetime.UTC, ABIDJAN, PARIS, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]),
)


@given(_aware)
def test_date_in_abidjan_matches_strftime(moment: datetime.datetime) -> None:
    local = moment.astimezone(ABIDJAN)
    assert date(moment, env=FR) == local.strftime("%d/%m/%Y %H:%M")
    assert day(moment, env=EN) == local.strftime("%d/%m/%Y")
    assert time(moment, env=EN) == local.strftime("%H:%M")
    assert date(moment.isoformat(), env=FR) == local.strftime("%d/%m/%Y %H:%M")


@given(_aware)
def test_date_in_dst_zone_matches_strftime(moment: datetime.datetime) -> None:
    local = moment.astimezone(PARIS)
    assert date(moment, env=PARIS_ENV) == local.strftime("%d/%m/%Y %H:%M")


def test_paris_dst_offsets() -> None:
    summer = datetime.datetime(2025, 7, 1, 12, 0, tzinfo=datetime.UTC)
    winter = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.UTC)
    assert time(summer, env=PARIS_ENV) == "14:00"
    assert time(winter, env=PARIS_ENV) == "13:00"
    # 2025-03-30 01:00 UTC is the spring-forward instant: 02:00 local never exists
    assert time(datetime.datetime(2025, 3, 30, 0, 59, tzinfo=datetime.UTC), env=PARIS_ENV) == "01:59"
    assert time(datetime.datetime(2025, 3, 30, 1, 0, tzinfo=datetime.UTC), env=PARIS_ENV) == "03:00"
    assert time(summer, env=FR) == "12:00"  # Abidjan has no DST and sits on UTC


# --------------------------------------------------------------------------- text and lists


@pytest.mark.parametrize(
    ("value", "fallback", "expected"),
    [(None, "-", "-"), ("", "-", "-"), ("x", "-", "x"), (0, "-", 0), (False, "-", False), ([], "-", [])],
)
def test_default(value: Any, fallback: Any, expected: Any) -> None:
    assert default(value, fallback, env=FR) == expected
    assert type(default(value, fallback, env=EN)) is type(expected)


def test_upper_lower() -> None:
    assert upper("pass jour", env=FR) == "PASS JOUR"
    assert lower("PASS Été", env=EN) == "pass été"
    assert upper(None, env=FR) == "" and lower(None, env=FR) == ""
    with pytest.raises(TypeError):
        upper(5, env=FR)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 0), ([], 0), (["a", "b"], 2), (("a",), 1), ("abc", 3), ({"k": 1}, 1)]
)
def test_count(value: Any, expected: int) -> None:
    assert count(value, env=FR) == expected


def test_count_rejects_numbers() -> None:
    with pytest.raises(TypeError):
        count(5, env=FR)


def test_join() -> None:
    assert join(["Jour", "Semaine"], " / ", env=FR) == "Jour / Semaine"
    assert join(("a", "b"), env=EN) == "a, b"
    assert join([], "-", env=FR) == ""
    assert join(None, "-", env=FR) == ""
    with pytest.raises(TypeError):
        join([1, 2], env=FR)
    with pytest.raises(TypeError):
        join("abc", env=FR)


# --------------------------------------------------------------------------- through the engine


def test_filters_in_templates_fr_and_en() -> None:
    template = compile_template(
        "Solde: {{ main.balance | money }} valable jusqu'au {{ main.expires | date }}, "
        "data {{ data.left | data }}, appels {{ voice.left | duration }}, "
        "{{ offers | count }} offres: {{ offers | join(', ') | upper }} {{ nick | default('ami') }}",
        filters=BUILTIN_FILTERS,
    )
    ctx = {
        "main": {"balance": 12500, "expires": datetime.datetime(2025, 8, 31, 23, 59, tzinfo=ABIDJAN)},
        "data": {"left": 1536 * MO},
        "voice": {"left": 750},
        "offers": ["jour", "semaine"],
    }
    assert template.render(ctx, FR) == (
        "Solde: 12 500 F valable jusqu'au 31/08/2025 23:59, data 1,5 Go, appels 12min30s, 2 offres: JOUR, SEMAINE ami"
    )
    assert template.render(ctx, EN) == (
        "Solde: 12,500 F valable jusqu'au 31/08/2025 23:59, data 1.5 GB, appels 12min30s, 2 offres: JOUR, SEMAINE ami"
    )


def test_missing_values_render_empty_not_error() -> None:
    names = ["money", "data", "duration", "date", "day", "time", "upper", "lower", "count", "join"]
    template = compile_template("|".join(f"{{{{ a | {name} }}}}" for name in names), filters=BUILTIN_FILTERS)
    assert template.render({}, FR) == "||||||||0|"


def test_filter_type_errors_become_eval_errors() -> None:
    compiled = compile_expr("main.balance | money", filters=BUILTIN_FILTERS)
    with pytest.raises(EvalError, match="filter 'money' failed: money expects a number, got str") as info:
        compiled.evaluate({"main": {"balance": "beaucoup"}}, FR)
    assert isinstance(info.value.__cause__, TypeError)


def test_count_usable_in_conditions() -> None:
    compiled = compile_expr("offers | count > 0 and (offers | count) < 3", filters=BUILTIN_FILTERS)
    assert compiled.evaluate({"offers": ["a"]}, FR) is True
    assert compiled.evaluate({}, FR) is False


# --------------------------------------------------------------------------- national, plural

CI_ENV = RenderEnv("fr", country_code="225", national_digits=10)


@pytest.mark.parametrize("number, shown", [
    ("2250701020304", "0701020304"),
    ("2250701020", "2250701020"),  # not a whole number of the plan: as it is
    ("33612345678", "33612345678"),  # another country: as it is
    (None, ""),
])
def test_national_shows_the_prompts_form(number, shown) -> None:
    assert national(number, env=CI_ENV) == shown


def test_national_without_a_plan_keeps_the_number() -> None:
    assert national("2250701020304", env=RenderEnv("fr")) == "2250701020304"


@pytest.mark.parametrize("lang, n, shown", [
    ("fr", 0, "0 jour"), ("fr", 1, "1 jour"), ("fr", 2, "2 jours"),
    ("en", 0, "0 days"), ("en", 1, "1 day"), ("en", 7, "7 days"),
])
def test_plural_follows_the_language(lang, n, shown) -> None:
    noun = ("jour", None) if lang == "fr" else ("day", "days")
    assert plural(n, *noun, env=RenderEnv(lang)) == shown


def test_plural_irregular_and_missing() -> None:
    assert plural(3, "mois", "mois", env=RenderEnv("fr")) == "3 mois"
    assert plural(None, "day", env=RenderEnv("en")) == ""
    with pytest.raises(TypeError):
        plural("3", "day", env=RenderEnv("en"))
