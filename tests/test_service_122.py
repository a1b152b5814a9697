"""The shipped #122# across several dialogues on one store: what one dialogue changes (a pass
bought, a duplicate asked for), the next one sees."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine import walk as engine_walk

from accounts.policy import load_policy
from accounts.store import AccountStore
from simulator.demo import default_menu_paths, demo_registry, demo_store
from ussd import gsm
from ussd.engine import Engine, Response
from ussd.loader import load_menus_or_raise
from ussd.sessions import MemorySessionStore

POLICY = load_policy()
PREPAID = "2250701020304"
POSTPAID = "2250709080706"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=POLICY.tz)


@pytest.fixture
def store() -> AccountStore:
    return demo_store("memory:", POLICY)


def engine_on(store: AccountStore) -> Engine:
    registry = demo_registry(store, POLICY)
    menus = load_menus_or_raise(default_menu_paths(), registry)
    return Engine(menus, registry, MemorySessionStore(lambda: 0.0), clock=lambda: AT, tz=POLICY.tz)


def walk(engine: Engine, msisdn: str, replies: list[str], at: datetime = AT, lang: str = "fr") -> list[Response]:
    return engine_walk(engine, msisdn, *replies, code="#122#", at=at, lang=lang)


def test_a_pass_bought_is_filed_where_the_policy_says_not_under_bonus_offered(store: AccountStore) -> None:
    engine = engine_on(store)
    before = walk(engine, PREPAID, ["3"])[-1]
    assert "Pass internet" not in before.text  # listed once it holds something
    bought = walk(engine, PREPAID, ["6", "2", "1"])[-1]
    assert bought.end and bought.screen == "pass_bought"
    internet = walk(engine, PREPAID, ["3", "98"])[-1]
    assert internet.page == 2 and "7. Pass internet" in internet.text
    assert walk(engine, PREPAID, ["3", "7"])[-1].text.split("\n")[0] == "Pass internet: 1 Go exp. 02/12/2026 10:00"
    special = walk(engine, PREPAID, ["3", "4"])[-1]  # the help page's "bonus internet offert"
    assert special.text.startswith("Spécial internet: aucun bonus disponible.")
    bucket = [b for b in store.get(PREPAID).buckets if b.granted == int(AT.timestamp())]
    assert [(b.account, b.rubrique) for b in bucket] == [("internet", POLICY.pass_rubrique)]


def test_a_duplicate_is_recorded_once_a_day(store: AccountStore) -> None:
    engine = engine_on(store)
    first = walk(engine, POSTPAID, ["8", "2", "1"])[-1]
    assert first.screen == "invoice_requested" and "11/2026" in first.text and "25/11/2026 10:00" in first.text
    later = walk(engine, POSTPAID, ["8", "2", "1"], AT + timedelta(hours=3))[-1]
    assert later.screen == "invoice_already" and "aujourd'hui à 10:00" in later.text
    assert [(d.month, d.at) for d in store.get(POSTPAID).duplicates] == [("2026-11", int(AT.timestamp()))]
    other = walk(engine, POSTPAID, ["8", "2", "2"], AT + timedelta(hours=3))[-1]
    assert other.screen == "invoice_requested" and "10/2026" in other.text  # another invoice: its own record
    tomorrow = walk(engine, POSTPAID, ["8", "2", "1"], AT + timedelta(days=1))[-1]
    assert tomorrow.screen == "invoice_requested"
    assert len(store.get(POSTPAID).duplicates) == 3


def test_english_screens_name_lines_in_english(store: AccountStore) -> None:
    engine = engine_on(store)
    monthly = walk(engine, PREPAID, ["1", "1"], lang="en")[-1]
    assert monthly.text.split("\n")[:3] == ["Monthly bonus, total: 750 F", "Orange: 500 F exp. 30/11/2026 23:59",
                                            "Bonus: 250 F exp. 15/12/2026 23:59"]
    social = walk(engine, PREPAID, ["3", "6"], lang="en")[-1]
    assert social.text.startswith("Social networks: 200 MB exp.")
    for screen in (monthly, social, walk(engine, PREPAID, ["1", "2"], lang="en")[-1]):
        assert "Réseaux" not in screen.text and "Tous" not in screen.text


SUBSCRIBERS = [PREPAID, POSTPAID, "2250707070707", "2250700000001", "2250700000002", "2250799999999"]
REPLIES = st.lists(st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8", "9", "01", "0", "00", "98", "99",
                                    "x", "", "0705060708", "+225 05 11 22 33 44", "2721202122", "1" * 200]),
                   max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msisdn=st.sampled_from(SUBSCRIBERS), lang=st.sampled_from(["fr", "en"]), replies=REPLIES,
       hours=st.integers(0, 24 * 40))
def test_any_walk_of_122_fits_and_never_fails_a_template(caplog: pytest.LogCaptureFixture, msisdn: str,
                                                           lang: str, replies: list[str], hours: int) -> None:
    caplog.clear()
    engine = engine_on(demo_store("memory:", POLICY))
    at = AT + timedelta(hours=hours)
    response = engine.begin(msisdn, "#122#", at, lang=lang)
    seen = [response]
    for reply in replies:
        if response.end:
            break
        response = engine.reply(response.session, reply, at)
        seen.append(response)
    for shown in seen:
        assert gsm.measure(shown.text).fits and shown.text and "\n?" not in f"\n{shown.text}"
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")], caplog.text


def test_a_request_of_another_day_never_counts_as_made_today(store: AccountStore) -> None:
    engine = engine_on(store)
    later = walk(engine, POSTPAID, ["8", "2", "1"], AT + timedelta(days=3))[-1]  # 28/11
    assert later.screen == "invoice_requested"
    earlier = walk(engine, POSTPAID, ["8", "2", "1"], AT)[-1]  # a clock frozen on 25/11 sees 25/11
    assert earlier.screen == "invoice_requested" and "25/11/2026 10:00" in earlier.text
    same_day = walk(engine, POSTPAID, ["8", "2", "1"], AT - timedelta(hours=1))[-1]  # one of 25/11 stored
    assert same_day.screen == "invoice_already" and "à 10:00" in same_day.text    # after it: still once a day


def test_a_recycled_network_session_id_never_replays_another_dialogues_purchase(store: AccountStore) -> None:
    engine = engine_on(store)
    balances = []
    for _ in range(2):  # two dialogues the network numbered alike (its_session_info is one octet)
        response = engine.begin(PREPAID, "#122#", AT, session_id="7")
        for reply in ("6", "1", "1"):
            response = engine.reply("7", reply, AT)
        assert response.screen == "pass_bought"
        balances.append(store.get(PREPAID).main.balance)
    assert balances == [750, 250]  # two purchases, two debits of 500 F
    assert [d.outcome for d in store.debits(PREPAID)] == ["success", "success"]


def test_a_purchase_bought_twice_in_one_dialogue_is_debited_once(store: AccountStore) -> None:
    engine = engine_on(store)
    first = walk(engine, PREPAID, ["6", "1"])[-1]
    engine.reply(first.session, "1", AT)  # bought: the dialogue ends
    assert store.get(PREPAID).main.balance == 750 and len(store.debits(PREPAID)) == 1
