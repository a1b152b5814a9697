"""The accounts as menu data: what the ``bonus`` and ``subscriber`` providers hand to templates,
and the snapshot kept between steps, which must always equal what a fresh read would build.

Instants are epoch seconds; the shipped policy's zone is Africa/Abidjan (UTC+0), so naive ISO
times below are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_account_rules import DAY, MSISDN, POLICY, bucket, scenario, sub, t

from accounts.model import RUBRIQUES, Bucket, Status, Subscriber
from accounts.providers import AccountProviders, BonusView
from accounts.resolve import resolve
from accounts.sqlite import SQLiteAccountStore
from accounts.store import MemoryAccountStore
from ussd.expr import RenderEnv, compile_expr, compile_template
from ussd.filters import BUILTIN_FILTERS
from ussd.registry import ProviderCall

PROPS = settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def providers_for(*subscribers: Subscriber, store: Any = None, **options: Any) -> AccountProviders:
    store = store or MemoryAccountStore()
    store.put_many(subscribers)
    return AccountProviders(store, POLICY, catalogue={}, **options)


def call(instant: int, msisdn: str = MSISDN) -> ProviderCall:
    return ProviderCall(msisdn, datetime.fromtimestamp(instant, UTC))


def as_data(view: Any) -> dict[str, Any]:
    """Everything templates can read from a bonus view."""
    return {account: view[account] for account in RUBRIQUES}


def fresh(subscriber: Subscriber, instant: int) -> dict[str, Any]:
    """What a step would see with nothing kept from earlier steps."""
    return as_data(BonusView(resolve(subscriber, instant, POLICY), POLICY))


# -- the snapshot is never stale --------------------------------------------------------------------


@PROPS
@given(st.data())
def test_property_kept_views_equal_fresh_ones_at_any_sequence_of_instants(data: st.DataObject) -> None:
    now, bs = data.draw(scenario())
    subscriber = sub(*bs)
    providers = providers_for(subscriber)
    # back and forth in time, across bucket edges (scenario puts them within 3 days) and the
    # weekend and night windows
    instants = data.draw(st.lists(st.integers(now - 4 * DAY, now + 4 * DAY) | st.sampled_from(
        sorted({now} | {e + d for b in bs for e in (b.expires, b.granted) if e is not None for d in (-1, 0)})
        or [now]), min_size=1, max_size=12))
    for instant in instants:
        assert as_data(providers.bonus(call(instant))) == fresh(subscriber, instant), instant


def test_a_kept_view_is_reused_while_nothing_changes() -> None:
    providers = providers_for(sub(bucket(expires="2026-11-30T23:59:59")))
    first = providers.bonus(call(t("2026-11-25T10:00:00")))
    assert providers.bonus(call(t("2026-11-25T10:00:07"))) is first
    assert providers.bonus(call(t("2026-11-27T23:00:00"))) is first  # a Friday: the same windows closed
    assert providers.bonus(call(t("2026-11-28T10:00:00"))) is not first  # Saturday: the weekend window opened
    assert providers.subscriber(call(t("2026-11-25T10:00:08"))) is providers.subscriber(call(t("2026-11-25T10:00:09")))


def test_an_expiry_between_two_steps_is_seen_at_the_next_step() -> None:
    providers = providers_for(sub(bucket(amount=500, expires="2026-11-25T10:00:05"),
                                  bucket(amount=250, expires="2026-12-15T23:59:59", scope="all")))
    assert providers.bonus(call(t("2026-11-25T10:00:04")))["credit"]["total"] == 750
    assert providers.bonus(call(t("2026-11-25T10:00:05")))["credit"]["total"] == 250
    assert providers.bonus(call(t("2026-11-25T10:00:04")))["credit"]["total"] == 750  # --at may go back


def test_a_grant_taking_effect_between_two_steps_is_seen() -> None:
    providers = providers_for(sub(bucket(amount=500, granted="2026-11-25T10:00:30", expires="2026-11-30T00:00:00")))
    assert providers.bonus(call(t("2026-11-25T10:00:29")))["credit"]["total"] == 0
    assert providers.bonus(call(t("2026-11-25T10:00:30")))["credit"]["total"] == 500


def test_a_window_opening_between_two_steps_is_seen_with_the_same_buckets() -> None:
    night = bucket("internet", "night", 524_288_000, "2026-12-01T06:00:00")
    providers = providers_for(sub(night))
    rubrique = "rubriques"
    assert providers.bonus(call(t("2026-11-25T05:59:59")))["internet"][rubrique]["night"]["usable_now"] is True
    assert providers.bonus(call(t("2026-11-25T06:00:00")))["internet"][rubrique]["night"]["usable_now"] is False
    assert providers.bonus(call(t("2026-11-25T23:59:59")))["internet"][rubrique]["night"]["usable_now"] is False
    assert providers.bonus(call(t("2026-11-26T00:00:00")))["internet"][rubrique]["night"]["usable_now"] is True


def test_a_change_in_the_store_is_seen_at_the_next_step() -> None:
    providers = providers_for(sub(bucket(amount=500)))
    at = t("2026-11-25T10:00:00")
    assert providers.bonus(call(at))["credit"]["total"] == 500
    providers.store.grant(MSISDN, bucket(amount=100, scope="all"))
    assert providers.bonus(call(at + 1))["credit"]["total"] == 600
    providers.store.set_favourites(MSISDN, ["2250705060708"])
    assert providers.subscriber(call(at + 2))["favourites"] == ["2250705060708"]


def test_an_sql_store_read_equal_to_the_last_reuses_the_snapshot(tmp_path) -> None:  # noqa: ANN001
    store = SQLiteAccountStore(f"sqlite:///{tmp_path / 'accounts.db'}")
    providers = providers_for(sub(bucket(amount=500)), store=store)
    at = t("2026-11-25T10:00:00")
    first = providers.bonus(call(at))
    assert providers.bonus(call(at + 1)) is first
    kept = store.get(MSISDN)
    assert store.get(MSISDN) is kept, "the store keeps its last read until it writes (accounts.sqlite.Snapshots)"
    store.grant(MSISDN, bucket(amount=100, scope="all"))
    assert store.get(MSISDN) is not kept
    assert providers.bonus(call(at + 2))["credit"]["total"] == 600


def test_unknown_and_restricted_subscribers() -> None:
    providers = providers_for(sub(bucket(), status=Status.INACTIVE))
    at = t("2026-11-25T10:00:00")
    assert providers.subscriber(call(at, "2250799999999")) is None
    assert as_data(providers.bonus(call(at, "2250799999999")))["credit"]["total"] == 0
    assert providers.subscriber(call(at))["status"] == "inactive"
    assert as_data(providers.bonus(call(at)))["credit"]["all"][0]["lines"] == []


def test_menus_read_the_status_and_offer_type_as_their_text() -> None:
    """The model holds enum members; menus compare and show them as the plain words (main.yaml's
    ``subscriber.status != "active"``, a template printing them)."""
    fields = providers_for(sub(bucket(), status=Status.INACTIVE)).subscriber(call(t("2026-11-25T10:00:00")))
    assert fields is not None and fields["status"] is Status.INACTIVE
    ctx = {"subscriber": fields}
    assert compile_expr('subscriber.status != "active"', filters=BUILTIN_FILTERS).evaluate(ctx, RenderEnv()) is True
    assert compile_expr('subscriber.status == "inactive" and not subscriber.postpaid',
                        filters=BUILTIN_FILTERS).evaluate(ctx, RenderEnv()) is True
    shown = compile_template("{{ subscriber.status }}, {{ subscriber.offer.type | upper }}", filters=BUILTIN_FILTERS)
    assert shown.render(ctx, RenderEnv()) == "inactive, PREPAID"


def test_snapshots_kept_are_bounded() -> None:
    others = [Subscriber(f"22507000000{n:02d}", Status.ACTIVE, s.offer, "fr", s.main) for n in range(5)
              for s in [sub()]]
    providers = providers_for(*others, snapshot_limit=2)
    for n, other in enumerate(others):
        providers.bonus(call(t("2026-11-25T10:00:00") + n, other.msisdn))
        assert len(providers.snapshots) <= 2
    assert list(providers.snapshots) == [others[-2].msisdn, others[-1].msisdn]


def test_a_limit_of_zero_keeps_nothing_and_still_answers() -> None:
    providers = providers_for(sub(bucket(amount=500)), snapshot_limit=0)
    at = t("2026-11-25T10:00:00")
    first = providers.bonus(call(at))
    assert providers.bonus(call(at + 1)) is not first
    assert as_data(providers.bonus(call(at + 1))) == as_data(first)
    assert providers.snapshots == {}


def test_a_view_that_fails_to_build_is_not_kept_as_valid() -> None:
    """Bad data in the store (a rubrique the policy does not know) makes building fail; the next
    step must fail the same way, never show the view kept from before the failure."""
    soon = bucket(amount=500, expires="2026-11-25T10:00:05")
    bad = Bucket("credit", "bogus", 100, t("2026-11-30T00:00:00"), "intra", t("2026-11-25T10:00:05"))
    providers = providers_for(sub(soon, bad))
    assert providers.bonus(call(t("2026-11-25T10:00:04")))["credit"]["total"] == 500
    for instant in (t("2026-11-25T10:00:05"), t("2026-11-25T10:00:06")):
        with pytest.raises(KeyError):
            providers.bonus(call(instant))


def test_a_rebuilt_snapshot_counts_as_recent_for_the_bound() -> None:
    others = [Subscriber(f"22507000000{n:02d}", Status.ACTIVE, s.offer, "fr", s.main) for n in range(3)
              for s in [sub()]]
    providers = providers_for(*others, snapshot_limit=2)
    at = t("2026-11-25T10:00:00")
    providers.subscriber(call(at, others[0].msisdn))
    providers.subscriber(call(at, others[1].msisdn))
    providers.store.set_favourites(others[0].msisdn, ["2250705060708"])
    providers.subscriber(call(at + 1, others[0].msisdn))  # changed in the store: rebuilt
    providers.subscriber(call(at + 2, others[2].msisdn))
    assert list(providers.snapshots) == [others[0].msisdn, others[2].msisdn]
