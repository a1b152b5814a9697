"""Resuming a dialogue that dropped: a subscriber whose dialogue timed out or was aborted, and who
dials the same service again within the service's window, is offered "1. Reprendre 2. Recommencer";
1 lands on the screen they had, with their inputs, shown again with what they have now. On every
session store (in memory, and Redis: across nodes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock
from test_service_122 import AT, POLICY, PREPAID

from simulator.demo import default_menu_paths, demo_registry, demo_store
from ussd.engine import RESUME_SCREEN, Engine, Response
from ussd.loader import load_menus, load_menus_or_raise
from ussd.redis_sessions import RedisSessionStore, redis_client
from ussd.registry import Registry
from ussd.sessions import MemorySessionStore, SessionStore

IDLE, TOTAL = 60.0, 180.0
OFFER = "Reprendre là où vous en étiez ?\n1. Reprendre\n2. Recommencer"


@pytest.fixture(params=["memory", "redis"])
def sessions(request: pytest.FixtureRequest) -> Callable[[FakeClock], SessionStore]:
    """Each session store, made on a clock (with Redis, every store made is another node)."""
    if request.param == "memory":
        made: list[MemorySessionStore] = []

        def memory(clock: FakeClock) -> SessionStore:  # one store: nodes share nothing in memory
            if not made:
                made.append(MemorySessionStore(clock, IDLE, TOTAL))
            return made[0]

        return memory
    url = request.getfixturevalue("redis_url")

    def redis(clock: FakeClock) -> SessionStore:
        client, prefix = redis_client(url)
        request.addfinalizer(client.close)
        return RedisSessionStore(client, clock, IDLE, TOTAL, prefix=prefix)

    return redis


def engine_on(sessions: SessionStore, menus: list[Any] | None = None, registry: Registry | None = None) -> Engine:
    registry = registry or demo_registry(demo_store("memory:", POLICY), POLICY)
    loaded = load_menus_or_raise(menus or default_menu_paths(), registry)
    return Engine(loaded, registry, sessions, clock=lambda: AT, tz=POLICY.tz)


def steps(engine: Engine, session: str, *replies: str) -> list[Response]:
    shown = [engine.begin(PREPAID, "#122#", session_id=session)]
    return shown + [engine.reply(session, reply) for reply in replies]


def test_a_timed_out_dialogue_is_offered_again_and_resumes_where_it_was(clock: FakeClock,
                                                                        sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    before = steps(engine, "first", "1", "1")[-1]  # a bonus rubrique, two screens down
    engine.timeout("first")  # the network gave up waiting
    clock.advance(30)
    offer = engine.begin(PREPAID, "#122#", session_id="second")
    assert (offer.text, offer.screen, offer.end) == (OFFER, RESUME_SCREEN, False)
    resumed = engine.reply("second", "1")
    assert (resumed.text, resumed.screen) == (before.text, before.screen)
    assert engine.reply("second", "0").screen == "bonus_credit"  # its way back is there too
    assert engine.reply("second", "0").screen == "home"


def test_start_again_shows_what_a_dial_shows_and_any_other_key_asks_again(clock: FakeClock, sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    home = steps(engine, "first", "1")[0]
    engine.abort("first")  # the subscriber lost the signal: the network aborted
    assert engine.begin(PREPAID, "#122#", session_id="second").screen == RESUME_SCREEN
    wrong = engine.reply("second", "5")
    assert wrong.text == "Choix invalide.\n" + OFFER and wrong.screen == RESUME_SCREEN
    again = engine.reply("second", "2")
    assert (again.text, again.screen) == (home.text, home.screen)
    engine.timeout("second")
    assert engine.begin(PREPAID, "#122#", session_id="third").screen == "home"  # dropped on home: nothing to offer


def test_nothing_is_offered_past_the_window_after_an_end_or_to_whom_dials_a_path(clock: FakeClock,
                                                                                  sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    steps(engine, "a", "1")
    engine.timeout("a")
    clock.advance(121)  # the #122# window is 120 s
    assert engine.begin(PREPAID, "#122#", session_id="b").screen == "home"
    steps(engine, "c", "1")
    engine.timeout("c")
    assert engine.begin(PREPAID, "*122*2#", session_id="d").screen == "bonus_minutes"  # a path dialled: not asked
    engine.timeout("d")
    assert engine.begin(PREPAID, "#122#", session_id="e").screen == RESUME_SCREEN  # a plain dial is
    assert engine.reply("e", "1").screen == "bonus_minutes"  # the dialogue that dropped last
    engine.reply("e", "00")
    ended = steps(engine, "f", "6", "1", "1")[-1]  # a purchase to its end
    assert ended.end and engine.begin(PREPAID, "#122#", session_id="g").screen == "home"


def test_a_dialogue_left_idle_is_offered_within_the_window_from_its_expiry(clock: FakeClock, sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    steps(engine, "idle", "3")
    clock.advance(IDLE + 100)  # expired 100 s ago (nobody told: the timers forgot it)
    assert engine.reply("idle", "1").end  # too late: expired
    assert engine.begin(PREPAID, "#122#", session_id="back").screen == RESUME_SCREEN
    assert engine.reply("back", "1").screen == "bonus_internet"


def test_a_confirmation_is_not_resumed_onto_the_screen_before_it_is(clock: FakeClock, sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    passes = steps(engine, "buy", "6", "1")
    assert passes[-1].screen == "confirm_pass"
    engine.abort("buy")
    engine.begin(PREPAID, "#122#", session_id="again")
    resumed = engine.reply("again", "1")
    assert (resumed.text, resumed.screen) == (passes[1].text, passes[1].screen)  # the list of passes


def test_across_nodes_the_dialogue_dropped_on_one_is_resumed_on_another(clock: FakeClock, redis_url: str) -> None:
    def node() -> Engine:
        client, prefix = redis_client(redis_url)
        return engine_on(RedisSessionStore(client, clock, IDLE, TOTAL, prefix=prefix))

    one, two = node(), node()
    before = steps(one, "here", "2")[-1]
    one.abort("here")
    assert two.begin(PREPAID, "#122#", session_id="there").screen == RESUME_SCREEN
    assert two.reply("there", "1").text == before.text


MENU = """service:
  code: "*777#"
  entry: ask
  {service_resume}
screens:
  ask:
    type: input
    text: "Montant ?"
    input: {{kind: amount}}
    save: amount
    next: show
  show:
    type: menu
    text: "Montant: {{{{ input.amount }}}}"
    {screen_resume}
    options:
      - label: "Suite"
        goto: done
  done:
    type: end
    text: "Fin"
"""


def menu(folder: Path, service_resume: str = "", screen_resume: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.yaml").write_text(MENU.format(service_resume=service_resume, screen_resume=screen_resume),
                                   encoding="utf-8")
    return folder


def test_inputs_come_back_and_the_menu_sets_the_window_and_what_is_not_resumed(clock: FakeClock,
                                                                               tmp_path: Path) -> None:
    engine = engine_on(MemorySessionStore(clock, IDLE, TOTAL), [menu(tmp_path / "a")], Registry())
    engine.begin(PREPAID, "*777#", session_id="a")
    assert engine.reply("a", "1500").text.startswith("Montant: 1500")
    engine.abort("a")
    engine.begin(PREPAID, "*777#", session_id="b")
    assert engine.reply("b", "1").text.startswith("Montant: 1500")  # the input given before
    for folder, resume in (("never", ("resume: 0", "")), ("not_here", ("", "resume: false"))):
        engine = engine_on(MemorySessionStore(clock, IDLE, TOTAL), [menu(tmp_path / folder, *resume)], Registry())
        engine.begin(PREPAID, "*777#", session_id="c")
        engine.reply("c", "1500")
        engine.abort("c")
        offered = engine.begin(PREPAID, "*777#", session_id="d")
        if folder == "never":
            assert offered.screen == "ask"
        else:  # "show" may not be resumed onto: the screen before it is "ask"... the entry: nothing to offer
            assert offered.screen == RESUME_SCREEN and engine.reply("d", "1").screen == "ask"


@pytest.mark.parametrize("service_resume,screen_resume,says", [
    ("resume: -1", "", "service resume: expected 0 (never) to 3600 seconds"),
    ("resume: soon", "", "service resume: expected 0 (never) to 3600 seconds, found 'soon'"),
    ("", "resume: perhaps", "resume: expected true or false"),
])
def test_a_resume_setting_that_is_not_one_is_named_at_its_place(tmp_path: Path, service_resume: str,
                                                                screen_resume: str, says: str) -> None:
    result = load_menus([menu(tmp_path, service_resume, screen_resume)], Registry())
    assert any(says in str(problem) and "m.yaml:" in str(problem) for problem in result.problems), result.problems


def test_an_offer_that_drops_offers_the_same_dialogue_again(clock: FakeClock, sessions: Any) -> None:
    engine = engine_on(sessions(clock))
    before = steps(engine, "first", "1", "1")[-1]
    engine.abort("first")
    assert engine.begin(PREPAID, "#122#", session_id="offer").screen == RESUME_SCREEN
    engine.abort("offer")  # lost again, on the offer itself
    assert engine.begin(PREPAID, "#122#", session_id="again").screen == RESUME_SCREEN
    assert engine.reply("again", "1").text == before.text
