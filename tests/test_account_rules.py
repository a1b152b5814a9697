"""The bonus rules of the accounts layer: which buckets count, when windowed rubriques are usable,
what each line is called, and the JSON shape of a resolution; plus the policy file's error messages.

Instants here are epoch seconds. The shipped policy's zone is Africa/Abidjan (UTC+0, no daylight
saving), so a naive wall-clock time and UTC agree there; the DST tests use a Europe/Paris policy.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.model import RUBRIQUES, SCOPES, Bucket, MainAccount, Offer, OfferType, Status, Subscriber, counting_span
from accounts.model import counting as counting_model
from accounts.policy import Policy, PolicyError, load_policy
from accounts.resolve import Resolution, as_json, resolve

POLICY = load_policy()
ABIDJAN = ZoneInfo("Africa/Abidjan")
MSISDN = "2250701020304"
DAY = 86_400

#: Rubriques the shipped policy gives a window, and the brute-force rule for each.
WEEKEND_RUBRIQUES = {("credit", "weekend"), ("minutes", "weekend")}
NIGHT_RUBRIQUES = {("internet", "night")}

settings.register_profile(
    "account_rules", database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROPS = settings(settings.get_profile("account_rules"), max_examples=200)


def t(text: str) -> int:
    """An ISO time as epoch seconds; without an offset it is UTC (= Africa/Abidjan)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def sub(*buckets: Bucket, status: Status = Status.ACTIVE) -> Subscriber:
    return Subscriber(MSISDN, status, Offer("Mix Découverte", OfferType.PREPAID), "fr",
                      MainAccount(1250, t("2027-01-31T23:59:59")), (), tuple(buckets))


def bucket(account: str = "credit", rubrique: str = "monthly", amount: int = 500,
           expires: str = "2026-11-30T23:59:59", scope: str | None = "intra",
           granted: str | None = None, line: str | None = None) -> Bucket:
    if not SCOPES[account]:
        scope = None
    return Bucket(account, rubrique, amount, t(expires), scope, t(granted) if granted else None, line)


def view(resolution: Resolution, account: str, rubrique: str):  # noqa: ANN201
    return resolution.accounts.get(account, {}).get(rubrique)


# -- which buckets count ---------------------------------------------------------------------------


class TestCounting:
    def test_one_second_before_expiry_counts(self) -> None:
        r = resolve(sub(bucket(expires="2026-11-30T23:59:59")), t("2026-11-30T23:59:58"), POLICY)
        assert view(r, "credit", "monthly").total == 500

    def test_at_expiry_does_not_count(self) -> None:
        r = resolve(sub(bucket(expires="2026-11-30T23:59:59")), t("2026-11-30T23:59:59"), POLICY)
        assert r.accounts == {}

    def test_after_expiry_does_not_count(self) -> None:
        r = resolve(sub(bucket(expires="2026-11-30T23:59:59")), t("2026-12-01T00:00:00"), POLICY)
        assert r.accounts == {}

    def test_granted_in_the_future_does_not_count(self) -> None:
        b = bucket(granted="2026-11-26T00:00:00")
        r = resolve(sub(b), t("2026-11-25T23:59:59"), POLICY)
        assert r.accounts == {}
        assert as_json(r, POLICY)["credit"] == {}

    def test_at_grant_time_counts(self) -> None:
        b = bucket(granted="2026-11-26T00:00:00")
        r = resolve(sub(b), t("2026-11-26T00:00:00"), POLICY)
        assert view(r, "credit", "monthly").total == 500

    def test_no_grant_time_counts_from_the_start(self) -> None:
        r = resolve(sub(bucket(granted=None)), t("2000-01-01T00:00:00"), POLICY)
        assert view(r, "credit", "monthly").total == 500

    def test_zero_amount_does_not_count(self) -> None:
        r = resolve(sub(bucket(amount=0)), t("2026-11-25T10:00:00"), POLICY)
        assert r.accounts == {}

    def test_zero_amount_line_is_not_listed_beside_a_counting_one(self) -> None:
        r = resolve(sub(bucket(amount=0, expires="2026-11-26T00:00:00"), bucket(amount=7, scope="all")),
                    t("2026-11-25T10:00:00"), POLICY)
        v = view(r, "credit", "monthly")
        assert [(line.label, line.amount) for line in v.lines] == [("Bonus", 7)]
        assert v.total == 7
        assert v.next_expiry == t("2026-11-30T23:59:59")

    def test_only_counting_rubriques_are_listed(self) -> None:
        r = resolve(sub(bucket(), bucket("internet", "social", 0),
                        bucket("minutes", "special", 60, "2026-01-01T00:00:00", scope="all")),
                    t("2026-11-25T10:00:00"), POLICY)
        assert {a: list(v) for a, v in r.accounts.items()} == {"credit": ["monthly"]}


# -- usage windows ---------------------------------------------------------------------------------


WEEKEND_CASES = [
    ("2026-11-27T23:59:59", False),  # Friday, last second
    ("2026-11-28T00:00:00", True),  # Saturday, first second
    ("2026-11-28T12:00:00", True),
    ("2026-11-29T23:59:59", True),  # Sunday, last second
    ("2026-11-30T00:00:00", False),  # Monday
    ("2026-11-25T10:00:00", False),  # Wednesday
]


@pytest.mark.parametrize("account,scope", [("credit", "intra"), ("minutes", "international")])
@pytest.mark.parametrize("when,usable", WEEKEND_CASES)
def test_weekend_window(account: str, scope: str, when: str, usable: bool) -> None:
    b = bucket(account, "weekend", 1000, "2026-12-31T23:59:59", scope=scope)
    v = view(resolve(sub(b), t(when), POLICY), account, "weekend")
    assert v is not None, "a windowed bucket still counts outside its window"
    assert v.total == 1000
    assert v.usable_now is usable
    assert v.window is not None and v.window.name == "weekend"


NIGHT_CASES = [
    ("2026-11-25T00:00:00", True),
    ("2026-11-25T03:00:00", True),
    ("2026-11-25T05:59:59", True),
    ("2026-11-25T06:00:00", False),
    ("2026-11-25T12:00:00", False),
    ("2026-11-25T23:59:59", False),
    ("2026-11-28T02:00:00", True),  # any day of the week
]


@pytest.mark.parametrize("when,usable", NIGHT_CASES)
def test_night_window(when: str, usable: bool) -> None:
    b = bucket("internet", "night", 524_288_000, "2026-12-31T23:59:59")
    v = view(resolve(sub(b), t(when), POLICY), "internet", "night")
    assert v is not None and v.total == 524_288_000
    assert v.usable_now is usable


def test_rubriques_without_window_are_always_usable() -> None:
    r = resolve(sub(bucket(), bucket("internet", "social", 5)), t("2026-11-28T03:00:00"), POLICY)
    assert view(r, "credit", "monthly").usable_now is True
    assert view(r, "internet", "social").usable_now is True
    assert view(r, "credit", "monthly").window is None


# -- restricted subscribers ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.INACTIVE, Status.DEACTIVATED])
def test_inactive_and_deactivated_see_the_main_account_only(status: Status) -> None:
    r = resolve(sub(bucket(), bucket("internet", "night", 5), status=status), t("2026-11-25T10:00:00"), POLICY)
    assert r.restricted is True
    assert r.accounts == {}
    assert r.status == status
    assert r.main == MainAccount(1250, t("2027-01-31T23:59:59"))
    assert as_json(r, POLICY) == {
        "msisdn": MSISDN,
        "status": status,
        "main": {"balance": 1250, "expires": "2027-01-31T23:59:59+00:00"},
    }


def test_active_is_not_restricted() -> None:
    r = resolve(sub(), t("2026-11-25T10:00:00"), POLICY)
    assert r.restricted is False
    assert as_json(r, POLICY) == {
        "msisdn": MSISDN, "status": "active",
        "main": {"balance": 1250, "expires": "2027-01-31T23:59:59+00:00"},
        "credit": {}, "minutes": {}, "internet": {},
    }


# -- labels ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("account,rubrique,scope,line,label", [
    ("credit", "monthly", "intra", None, "Intra"),
    ("credit", "monthly", "all", None, "Bonus"),
    ("credit", "monthly", "intra", "credit_monthly", "Crédit mensuel"),
    ("credit", "monthly", "all", "credit_omoney", "Crédit Omoney"),
    ("credit", "monthly", "all", "no_such_line", "Bonus"),  # an unknown line falls back to the scope
    ("credit", "omoney", "intra", None, "OM intra"),
    ("credit", "omoney", "all", None, "OM Tous Réseaux"),
    ("credit", "weekend", "all", None, "WES Tous Réseaux"),
    ("credit", "special", "intra", None, "Spécial Intra"),
    ("minutes", "monthly", "all", None, "Tous Réseaux"),
    ("minutes", "monthly", "international", None, "International"),
    ("minutes", "omoney", "international", None, "OM International"),
    ("minutes", "special", "international", None, "Spécial International"),
    ("internet", "monthly", None, None, "Bonus Mensuel"),
    ("internet", "weekly", None, None, "Bonus Hebdo"),
    ("internet", "night", None, None, "Bonus Nuit"),
    ("internet", "special", None, None, "Spécial internet"),
    ("internet", "family", None, None, "Family Data"),
    ("internet", "social", None, None, "Réseaux sociaux"),
])
def test_labels_follow_the_policy(account: str, rubrique: str, scope: str | None, line: str | None,
                                  label: str) -> None:
    b = Bucket(account, rubrique, 10, t("2026-12-31T00:00:00"), scope, None, line)
    r = resolve(sub(b), t("2026-11-25T10:00:00"), POLICY)
    assert [ln.label for ln in view(r, account, rubrique).lines] == [label]
    assert POLICY.label(account, rubrique, scope, line) == label


def test_every_valid_bucket_has_a_label() -> None:
    for account, rubriques in RUBRIQUES.items():
        for rubrique in rubriques:
            for scope in SCOPES[account] or (None,):
                assert POLICY.label(account, rubrique, scope, None)


# -- JSON shape ------------------------------------------------------------------------------------


def test_as_json_shape_exactly() -> None:
    s = sub(
        bucket("credit", "monthly", 500, "2026-11-30T23:59:59", "intra", granted="2026-11-01T00:00:00"),
        bucket("credit", "monthly", 250, "2026-12-15T23:59:59", "all"),
        bucket("credit", "monthly", 100, "2026-12-15T23:59:59", "intra", line="credit_monthly"),
        bucket("credit", "weekend", 1000, "2026-11-29T23:59:59", "intra"),
        bucket("credit", "special", 150, "2026-11-20T23:59:59", "all"),  # expired
        bucket("minutes", "special", 600, "2026-12-10T12:00:00", "international"),
        bucket("internet", "night", 524_288_000, "2026-12-01T06:00:00"),
        bucket("internet", "social", 0, "2026-12-02T23:59:59"),  # empty
    )
    got = as_json(resolve(s, t("2026-11-25T10:00:00"), POLICY), POLICY)
    assert got == {
        "msisdn": MSISDN,
        "status": "active",
        "main": {"balance": 1250, "expires": "2027-01-31T23:59:59+00:00"},
        "credit": {
            "monthly": {
                "total": 850,
                "next_expiry": "2026-11-30T23:59:59+00:00",
                "usable_now": True,
                "lines": [  # the help page's order (policy.yaml lines), not by expiry or name
                    {"label": "Crédit mensuel", "scope": "intra", "amount": 100,
                     "expires": "2026-12-15T23:59:59+00:00"},
                    {"label": "Intra", "scope": "intra", "amount": 500, "expires": "2026-11-30T23:59:59+00:00"},
                    {"label": "Bonus", "scope": "all", "amount": 250, "expires": "2026-12-15T23:59:59+00:00"},
                ],
            },
            "weekend": {
                "total": 1000,
                "next_expiry": "2026-11-29T23:59:59+00:00",
                "usable_now": False,
                "lines": [{"label": "WES intra", "scope": "intra", "amount": 1000,
                           "expires": "2026-11-29T23:59:59+00:00"}],
            },
        },
        "minutes": {
            "special": {
                "total": 600,
                "next_expiry": "2026-12-10T12:00:00+00:00",
                "usable_now": True,
                "lines": [{"label": "Spécial International", "scope": "international", "amount": 600,
                           "expires": "2026-12-10T12:00:00+00:00"}],
            },
        },
        "internet": {
            "night": {
                "total": 524_288_000,
                "next_expiry": "2026-12-01T06:00:00+00:00",
                "usable_now": False,
                "lines": [{"label": "Bonus Nuit", "scope": None, "amount": 524_288_000,
                           "expires": "2026-12-01T06:00:00+00:00"}],
            },
        },
    }
    # Key order is part of the shape a reader sees: accounts and rubriques in the help page's order.
    assert list(got) == ["msisdn", "status", "main", "credit", "minutes", "internet"]
    assert list(got["credit"]) == ["monthly", "weekend"]
    json.dumps(got)  # plain JSON values only


def test_rubriques_in_help_page_order_whatever_the_bucket_order() -> None:
    bs = [bucket("credit", r, 1, "2026-12-31T00:00:00", "all") for r in reversed(RUBRIQUES["credit"])]
    got = as_json(resolve(sub(*bs), t("2026-11-25T10:00:00"), POLICY), POLICY)
    assert list(got["credit"]) == list(RUBRIQUES["credit"])


# -- properties ------------------------------------------------------------------------------------

# Around a `now` in 2026-2027 (every weekday and hour), with offsets that hit the exact boundaries.
NOW = st.integers(t("2026-01-01T00:00:00"), t("2027-12-31T23:59:59"))
OFFSET = st.one_of(st.integers(-2, 2), st.integers(-3 * DAY, 3 * DAY))


@st.composite
def buckets_around(draw: st.DrawFn, now: int) -> Bucket:
    account = draw(st.sampled_from(list(RUBRIQUES)))
    rubrique = draw(st.sampled_from(RUBRIQUES[account]))
    scope = draw(st.sampled_from(SCOPES[account])) if SCOPES[account] else None
    line = draw(st.sampled_from([None, None, "credit_monthly", "credit_omoney", "other"]))
    amount = draw(st.one_of(st.just(0), st.integers(0, 5), st.integers(0, 10**15)))
    expires = now + draw(OFFSET)
    granted = draw(st.one_of(st.none(), OFFSET.map(lambda d: now + d)))
    return Bucket(account, rubrique, amount, expires, scope, granted, line)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[int, list[Bucket]]:
    now = draw(NOW)
    return now, draw(st.lists(buckets_around(now), max_size=25))


def counting(b: Bucket, now: int) -> bool:
    return b.amount > 0 and (b.granted is None or b.granted <= now) and now < b.expires


def brute_usable(account: str, rubrique: str, now: int, zone: ZoneInfo = ABIDJAN) -> bool:
    local = datetime.fromtimestamp(now, zone)
    if (account, rubrique) in WEEKEND_RUBRIQUES:
        return local.weekday() in (5, 6)
    if (account, rubrique) in NIGHT_RUBRIQUES:
        return 0 <= local.hour < 6
    return True


@PROPS
@given(scenario())
def test_property_lines_are_exactly_the_counting_buckets(case: tuple[int, list[Bucket]]) -> None:
    now, bs = case
    r = resolve(sub(*bs), now, POLICY)
    expected = Counter((b.account, b.rubrique, POLICY.label(b.account, b.rubrique, b.scope, b.line),
                        b.scope, b.amount, b.expires) for b in bs if counting(b, now))
    got = Counter((a, rb, ln.label, ln.scope, ln.amount, ln.expires)
                  for a, views in r.accounts.items() for rb, v in views.items() for ln in v.lines)
    assert got == expected
    for views in r.accounts.values():
        for v in views.values():
            assert v.lines, "a listed rubrique has at least one line"
            assert all(ln.amount > 0 and ln.expires > now for ln in v.lines)


@PROPS
@given(st.data())
def test_property_counting_span_holds_the_same_buckets(data: st.DataObject) -> None:
    now, bs = data.draw(scenario())
    start, end = counting_span(bs, now)
    assert start <= now < end
    # anywhere in the span (its ends included when finite, and far beyond them when not)
    lo = int(start) if start != -math.inf else now - 10 * DAY
    hi = int(end) - 1 if end != math.inf else now + 10 * DAY
    at = data.draw(st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi)))
    assert counting_model(bs, at) == counting_model(bs, now)
    # and the span is not empty of meaning: just past a finite end, something changed
    if end != math.inf:
        assert any(b.amount > 0 and end in (b.expires, b.granted) for b in bs)


@PROPS
@given(scenario())
def test_property_totals_and_next_expiry(case: tuple[int, list[Bucket]]) -> None:
    now, bs = case
    r = resolve(sub(*bs), now, POLICY)
    for account, views in r.accounts.items():
        assert list(views) == [rb for rb in RUBRIQUES[account] if rb in views]
        for rubrique, v in views.items():
            assert (v.account, v.rubrique) == (account, rubrique)
            assert v.total == sum(ln.amount for ln in v.lines)
            assert v.next_expiry == min(ln.expires for ln in v.lines)
            # in the policy's order (its lines entries), by expiry within one entry
            assert [(ln.rank, ln.expires) for ln in v.lines] == sorted((ln.rank, ln.expires) for ln in v.lines)
        assert r.total(account) == sum(b.amount for b in bs if b.account == account and counting(b, now))
    js = as_json(r, POLICY)
    for account in RUBRIQUES:
        for entry in js[account].values():
            assert entry["total"] == sum(line["amount"] for line in entry["lines"])
            assert entry["next_expiry"] == min(line["expires"] for line in entry["lines"])


@PROPS
@given(st.data())
def test_property_bucket_order_does_not_matter(data: st.DataObject) -> None:
    now, bs = data.draw(scenario())
    shuffled = data.draw(st.permutations(bs))
    a = resolve(sub(*bs), now, POLICY)
    b = resolve(sub(*shuffled), now, POLICY)
    assert a == b
    assert json.dumps(as_json(a, POLICY)) == json.dumps(as_json(b, POLICY))


@PROPS
@given(scenario())
def test_property_usable_now_is_the_window_in_the_operator_zone(case: tuple[int, list[Bucket]]) -> None:
    now, bs = case
    r = resolve(sub(*bs), now, POLICY)
    for account, views in r.accounts.items():
        for rubrique, v in views.items():
            assert v.usable_now is brute_usable(account, rubrique, now), (account, rubrique, now)


@PROPS
@given(scenario(), st.sampled_from([Status.INACTIVE, Status.DEACTIVATED]))
def test_property_restricted_never_shows_buckets(case: tuple[int, list[Bucket]], status: Status) -> None:
    now, bs = case
    r = resolve(sub(*bs, status=status), now, POLICY)
    assert r.restricted and r.accounts == {}
    assert set(as_json(r, POLICY)) == {"msisdn", "status", "main"}


# -- daylight saving -------------------------------------------------------------------------------

PARIS_POLICY = """\
timezone: Europe/Paris
windows:
  night: {start: "00:00", end: "06:00"}
  late: {start: "22:00", end: "06:00"}
rubriques:
  internet:
    night: {title: "Bonus Nuit", window: night}
    special: {title: "Spécial internet", window: late}
"""
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def paris(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("policy") / "paris.yaml"
    path.write_text(PARIS_POLICY, encoding="utf-8")
    return load_policy(path)


def usable_in(policy: Policy, rubrique: str, now: int) -> bool:
    b = Bucket("internet", rubrique, 1, t("2099-01-01T00:00:00"))
    return view(resolve(sub(b), now, policy), "internet", rubrique).usable_now


# (UTC instant, local wall clock in Paris, night 00:00-06:00, late 22:00-06:00)
DST_CASES = [
    # 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC)
    ("2026-03-28T20:59:59Z", "21:59:59", False, False),
    ("2026-03-28T21:00:00Z", "22:00:00", False, True),
    ("2026-03-28T22:59:59Z", "23:59:59", False, True),
    ("2026-03-28T23:00:00Z", "00:00:00", True, True),
    ("2026-03-29T00:59:59Z", "01:59:59", True, True),
    ("2026-03-29T01:00:00Z", "03:00:00", True, True),
    ("2026-03-29T03:30:00Z", "05:30:00", True, True),
    ("2026-03-29T03:59:59Z", "05:59:59", True, True),
    ("2026-03-29T04:00:00Z", "06:00:00", False, False),  # would be 05:00 at the winter offset
    ("2026-03-29T04:30:00Z", "06:30:00", False, False),
    ("2026-03-29T19:59:59Z", "21:59:59", False, False),  # would be 20:59:59 / 22:00 ... at +01:00
    ("2026-03-29T20:00:00Z", "22:00:00", False, True),
    ("2026-03-29T22:00:00Z", "00:00:00", True, True),
    # 2026-10-25: 03:00 CEST -> 02:00 CET (01:00 UTC); 02:00-02:59 happens twice
    ("2026-10-24T19:59:59Z", "21:59:59", False, False),
    ("2026-10-24T20:00:00Z", "22:00:00", False, True),
    ("2026-10-24T21:59:59Z", "23:59:59", False, True),
    ("2026-10-24T22:00:00Z", "00:00:00", True, True),  # would be 23:00 at the winter offset
    ("2026-10-25T00:30:00Z", "02:30:00", True, True),  # first 02:30 (CEST)
    ("2026-10-25T01:30:00Z", "02:30:00", True, True),  # second 02:30 (CET)
    ("2026-10-25T04:30:00Z", "05:30:00", True, True),  # would be 06:30 at the summer offset
    ("2026-10-25T04:59:59Z", "05:59:59", True, True),
    ("2026-10-25T05:00:00Z", "06:00:00", False, False),
    ("2026-10-25T20:30:00Z", "21:30:00", False, False),  # would be 22:30 at the summer offset
    ("2026-10-25T21:00:00Z", "22:00:00", False, True),
    ("2026-10-25T22:59:59Z", "23:59:59", False, True),
    ("2026-10-25T23:00:00Z", "00:00:00", True, True),
]


@pytest.mark.parametrize("utc,wall,night,late", DST_CASES)
def test_windows_follow_local_wall_clock_across_dst(paris: Policy, utc: str, wall: str, night: bool,
                                                    late: bool) -> None:
    now = t(utc.replace("Z", "+00:00"))
    assert datetime.fromtimestamp(now, PARIS).strftime("%H:%M:%S") == wall  # the case is what it says
    assert usable_in(paris, "night", now) is night
    assert usable_in(paris, "special", now) is late


def test_iso_times_carry_the_local_offset_across_dst(paris: Policy) -> None:
    s = sub(Bucket("internet", "monthly", 1, t("2026-03-29T00:59:59+00:00")),
            Bucket("internet", "weekly", 1, t("2026-03-29T01:00:00+00:00")),
            Bucket("internet", "family", 1, t("2026-10-25T00:30:00+00:00")),
            Bucket("internet", "social", 1, t("2026-10-25T01:30:00+00:00")))
    got = as_json(resolve(s, t("2026-03-01T00:00:00"), paris), paris)["internet"]
    assert got["monthly"]["next_expiry"] == "2026-03-29T01:59:59+01:00"
    assert got["weekly"]["next_expiry"] == "2026-03-29T03:00:00+02:00"
    assert got["family"]["next_expiry"] == "2026-10-25T02:30:00+02:00"
    assert got["social"]["next_expiry"] == "2026-10-25T02:30:00+01:00"


@PROPS
@given(st.integers(t("2026-03-27T00:00:00"), t("2026-03-31T00:00:00"))
       | st.integers(t("2026-10-23T00:00:00"), t("2026-10-27T00:00:00"))
       | st.integers(t("2020-01-01T00:00:00"), t("2035-01-01T00:00:00")))
def test_property_dst_windows_brute_force(paris: Policy, now: int) -> None:
    local = datetime.fromtimestamp(now, PARIS)
    minutes = local.hour * 60 + local.minute
    assert usable_in(paris, "night", now) is (minutes < 6 * 60)
    assert usable_in(paris, "special", now) is (minutes >= 22 * 60 or minutes < 6 * 60)


# -- policy errors ---------------------------------------------------------------------------------


def policy_problems(tmp_path: Path, text: str) -> tuple[str, list[tuple[int, int, str]]]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    for p in caught.value.diagnostics:
        assert p.where.path == str(path)
        assert f"{path}:{p.where.line}:{p.where.column}: {p.message}" in str(caught.value)
    return str(path), [(p.where.line, p.where.column, p.message) for p in caught.value.diagnostics]


def test_shipped_policy_loads() -> None:
    assert POLICY.tz == ABIDJAN
    assert set(POLICY.windows) == {"weekend", "night"}
    assert POLICY.rubriques[("credit", "weekend")].window.name == "weekend"
    assert POLICY.rubriques[("internet", "night")].window.name == "night"
    assert POLICY.rubriques[("credit", "monthly")].window is None


def test_policy_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "timezone: Africa/Abidjan\nwindow:\n  night: {}\n")
    assert problems == [(2, 1, "file: unknown key 'window' (did you mean 'windows'?); "
                               "expected one of: timezone, windows, rubriques, lines, favourites, passes")]


def test_policy_unknown_nested_key(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, 'windows:\n  night:\n    start: "00:00"\n    ends: "06:00"\n')
    assert problems == [
        (3, 5, "window 'night': 'start' only goes with 'end'"),  # on the key that needs the other
        (4, 5, "window 'night': unknown key 'ends' (did you mean 'end'?); expected one of: days, start, end, label"),
    ]


@pytest.mark.parametrize("clock", ["25:00", "24:00", "6:00", "06:60", "noon"])
def test_policy_bad_time(tmp_path: Path, clock: str) -> None:
    _, problems = policy_problems(tmp_path, f'windows:\n  night:\n    start: "00:00"\n    end: "{clock}"\n')
    assert problems == [(4, 10, f"window 'night' end: expected a time of day HH:MM, not {clock!r}")]


def test_policy_unknown_timezone(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "# operator zone\ntimezone: Africa/Abidjn\n")
    assert problems == [(2, 11, "timezone: unknown time zone 'Africa/Abidjn' (e.g. Africa/Abidjan)")]


def test_policy_unknown_window_in_a_rubrique(tmp_path: Path) -> None:
    text = ("windows:\n  weekend: {days: [saturday, sunday]}\nrubriques:\n  credit:\n"
            "    weekend: {title: \"Offre weekend\", window: weekends}\n")
    _, problems = policy_problems(tmp_path, text)
    assert problems == [(5, 47, "rubrique credit.weekend window: no window 'weekends' (did you mean 'weekend'?)")]


def test_policy_unknown_rubrique_for_an_account(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "rubriques:\n  internet:\n    nigth: {title: x}\n")
    assert problems == [(3, 5, "rubriques internet: unknown key 'nigth' (did you mean 'night'?); "
                               "expected one of: monthly, weekly, night, special, family, social, pass")]


def test_policy_unknown_day_in_a_flow_list_points_at_the_day(tmp_path: Path) -> None:
    # line 3 is `    days: [saturday, sundy]`: the list opens at column 11, 'sundy' is at column 22
    _, problems = policy_problems(tmp_path, "windows:\n  weekend:\n    days: [saturday, sundy]\n")
    assert problems == [(3, 22, "window 'weekend' day 2: expected one of: monday, tuesday, wednesday, thursday, "
                                "friday, saturday, sunday, found 'sundy' (did you mean 'sunday'?)")]


def test_policy_unknown_day_in_a_block_list_points_at_its_line(tmp_path: Path) -> None:
    text = "windows:\n  weekend:\n    days:\n      - saturday\n      - sundy\n"
    _, problems = policy_problems(tmp_path, text)
    assert problems == [(5, 9, "window 'weekend' day 2: expected one of: monday, tuesday, wednesday, thursday, "
                               "friday, saturday, sunday, found 'sundy' (did you mean 'sunday'?)")]


def test_policy_lists_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        "timezon: Africa/Abidjan\n"                                      # 1
        "windows:\n"                                                     # 2
        "  night:\n"                                                     # 3
        '    start: "25:00"\n'                                           # 4
        '    end: "06:00"\n'                                             # 5
        "rubriques:\n"                                                   # 6
        "  internet:\n"                                                  # 7
        "    night: {title: Bonus Nuit, window: nigth}\n"                # 8
        "lines:\n"                                                       # 9
        "  - {account: internet, rubrique: night, scope: all, label: x}\n"  # 10
    )
    _, problems = policy_problems(tmp_path, text)
    assert problems == [
        (1, 1, "file: unknown key 'timezon' (did you mean 'timezone'?); "
               "expected one of: timezone, windows, rubriques, lines, favourites, passes"),
        (4, 12, "window 'night' start: expected a time of day HH:MM, not '25:00'"),
        (8, 40, "rubrique internet.night window: no window 'nigth' (did you mean 'night'?)"),
        (10, 49, "lines entry 1 scope: internet has no scope"),
    ]


def test_policy_yaml_syntax_error_names_the_place(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "windows:\n  night: {start: \"00:00\"\n")
    assert len(problems) == 1
    line, column, message = problems[0]
    assert message.startswith("YAML syntax: ")
    assert line in (2, 3) and column >= 1


def test_policy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "nope.yaml")
    assert len(caught.value.diagnostics) == 1
    assert caught.value.diagnostics[0].message == "cannot read: No such file or directory"


def test_policy_empty_file(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "# nothing\n")
    assert problems == [(1, 1, "empty policy file")]


def test_policy_windows_change_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("windows:\n  evening: {start: \"18:00\", end: \"20:00\"}\n"
                    "rubriques:\n  credit:\n    special: {title: Soirée, window: evening}\n", encoding="utf-8")
    policy = load_policy(path)
    b = bucket("credit", "special", 10, "2026-12-31T00:00:00", "all")
    assert view(resolve(sub(b), t("2026-11-25T18:00:00"), policy), "credit", "special").usable_now
    assert not view(resolve(sub(b), t("2026-11-25T20:00:00"), policy), "credit", "special").usable_now
    # no label entries: the rubrique title and the scope
    assert view(resolve(sub(b), t("2026-11-25T18:00:00"), policy), "credit", "special").lines[0].label == "Soirée all"



# -- line order and names from the policy ------------------------------------------------------------


def test_lines_follow_the_policys_order_not_expiry_or_the_alphabet() -> None:
    # expiry order would put Bonus first, the alphabet Crédit Omoney before Crédit mensuel
    b = [bucket("credit", "monthly", 1, "2026-11-26T00:00:00", "all"),
         bucket("credit", "monthly", 2, "2026-12-30T00:00:00", "all", line="credit_omoney"),
         bucket("credit", "monthly", 3, "2026-12-31T00:00:00", "all", line="credit_monthly"),
         bucket("credit", "monthly", 4, "2026-12-29T00:00:00", "intra")]
    lines = view(resolve(sub(*b), t("2026-11-25T10:00:00"), POLICY), "credit", "monthly").lines
    assert [ln.label for ln in lines] == ["Crédit mensuel", "Crédit Omoney", "Intra", "Bonus"]
    assert view(resolve(sub(*b), t("2026-11-25T10:00:00"), POLICY), "credit", "monthly").next_expiry == \
        t("2026-11-26T00:00:00")


def test_lines_of_one_entry_go_by_expiry_then_amount() -> None:
    b = [bucket("credit", "monthly", 9, "2026-12-30T00:00:00", "all"),
         bucket("credit", "monthly", 5, "2026-12-01T00:00:00", "all"),
         bucket("credit", "monthly", 7, "2026-12-01T00:00:00", "all")]
    lines = view(resolve(sub(*b), t("2026-11-25T10:00:00"), POLICY), "credit", "monthly").lines
    assert [ln.amount for ln in lines] == [5, 7, 9]


def test_every_line_of_the_shipped_policy_has_an_english_name() -> None:
    for key, name in POLICY.labels.items():
        assert set(name.names) >= {"fr", "en"}, key
    assert POLICY.name("minutes", "monthly", "all", None).names["en"] == "All networks"
    assert POLICY.name("internet", "social", None, None).names["en"] == "Social networks"


def test_passes_go_to_the_policys_rubrique(tmp_path: Path) -> None:
    assert POLICY.pass_rubrique == "pass"
    assert all(POLICY.pass_rubrique in names for names in RUBRIQUES.values())
    _, problems = policy_problems(tmp_path, "passes: {rubrique: night}\n")
    assert problems == [(1, 20, "passes: unknown rubrique 'night'; expected one of: monthly, special, pass")]
    path = tmp_path / "special.yaml"
    path.write_text("passes: {rubrique: special}\n", encoding="utf-8")
    assert load_policy(path).pass_rubrique == "special"


def test_a_label_written_per_language_and_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("lines:\n  - {account: credit, rubrique: special, scope: all, label: {fr: Tout, en: All}}\n",
                    encoding="utf-8")
    name = load_policy(path).name("credit", "special", "all", None)
    assert name.names == {"fr": "Tout", "en": "All"} and name.label == "Tout" and name.rank == 0
    _, problems = policy_problems(tmp_path, "lines:\n  - {account: credit, rubrique: special, scope: all}\n")
    assert problems == [(2, 5, "lines entry 1: missing 'label' (the line's name: one text, or {fr: ..., en: ...})")]


def test_identical_lines_and_unnamed_lines_sort_without_comparing_names(tmp_path: Path) -> None:
    twins = [bucket("credit", "monthly", 5, "2026-12-01T00:00:00", "all")] * 2
    lines = view(resolve(sub(*twins), t("2026-11-25T10:00:00"), POLICY), "credit", "monthly").lines
    assert [ln.amount for ln in lines] == [5, 5]
    path = tmp_path / "bare.yaml"
    path.write_text("timezone: Africa/Abidjan\n", encoding="utf-8")  # no line names: titles and scopes
    bare = load_policy(path)
    b = [bucket("minutes", "special", 5, "2026-12-01T00:00:00", scope) for scope in ("intra", "all", "international")]
    names = [ln.label for ln in view(resolve(sub(*b, *b), t("2026-11-25T10:00:00"), bare), "minutes", "special").lines]
    assert names == ["special all"] * 2 + ["special international"] * 2 + ["special intra"] * 2


def test_policy_texts_name_every_language_and_no_other(tmp_path: Path) -> None:
    _, problems = policy_problems(tmp_path, "lines:\n"
                                  "  - {account: credit, rubrique: special, scope: all, label: {fr: Tout, eng: All}}\n")
    assert problems == [
        (2, 61, "lines entry 1 label: missing 'en' (the text in English; a mapping names every language, "
                "fr and en, or write one text for all)"),
        (2, 72, "lines entry 1 label: unknown key 'eng' (did you mean 'en'?); expected one of: fr, en")]
