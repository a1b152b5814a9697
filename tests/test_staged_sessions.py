"""A step's session I/O done around it, as the gateway's reactor does it (gateway.session_io with
ussd.redis_sessions.StagedStep): reads fetched before the step, writes sent after. The same
screens as the store doing its own I/O, no Redis round trip from the worker, the race lost found
after the step and answered with the winner's screen (a purchase debited once), and Redis failing
before or after the step met with words. The commands run on the real Redis; the client here
calls back at once, where the gateway's calls back from the reactor's loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_redis_sessions import IDLE, TOTAL, engine_on
from test_service_122 import POLICY, PREPAID

from gateway.session_io import StagedSessions
from gateway.steps import Redo
from simulator.demo import demo_store
from ussd.engine import ERROR_SCREEN, Engine, Response
from ussd.redis_sessions import RedisSessionStore, SessionsUnavailable, StagedStep, redis_client
from ussd.sessions import Dialogue


class RedisNow:
    """What the gateway's client does, on a real Redis, calling back at once; ``down`` makes
    every batch fail as a lost connection does."""

    def __init__(self, store: RedisSessionStore) -> None:
        self.store = store
        self.down = False
        self.batches: list[list[tuple[Any, ...]]] = []

    def execute(self, commands: list[tuple[Any, ...]], then: Callable[[Any], None]) -> None:
        self.batches.append(commands)
        if self.down:
            then(SessionsUnavailable("the session store (Redis): connection lost"))
            return
        with self.store.client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            then(pipe.execute(raise_on_error=False))


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisSessionStore]:
    client, prefix = redis_client(redis_url)
    yield RedisSessionStore(client, time.time, IDLE, TOTAL, prefix=prefix)
    client.close()


def staged_step(shared: StagedSessions, engine: Engine, session: str, work: Callable[[], Any],
                dial: tuple[str, str] | None = None) -> Any:
    """One step as the runner takes it: its reads, the step (on the worker), its writes; a Redo
    runs in its place."""
    io = shared.step(engine, session, dial, reads_record=dial is None)
    while True:
        io.before(lambda: None)
        value = io.within(work)
        outcome: list[Any] = []
        io.after(value, outcome.append)
        if not isinstance(outcome[0], Redo):
            return outcome[0]
        work, io = outcome[0].work, outcome[0].io


def worker_round_trips(store: RedisSessionStore) -> list[Any]:
    """Counts what the store sends to Redis itself (from the worker)."""
    sent: list[Any] = []
    execute = store._execute
    store._execute = lambda commands: (sent.append(commands), execute(commands))[1]  # type: ignore[method-assign]
    return sent


def test_staged_steps_show_what_the_store_alone_shows_and_the_worker_never_waits_on_redis(
        store: RedisSessionStore) -> None:
    accounts = demo_store("memory:", POLICY)
    engine = engine_on(accounts, store)
    replies = ["1", "1", "0", "0", "6", "2"]
    alone = [engine.begin(PREPAID, "#122#", session_id="alone")] + [engine.reply("alone", r) for r in replies]
    shared = StagedSessions(store, RedisNow(store))  # type: ignore[arg-type]
    sent = worker_round_trips(store)
    staged = [staged_step(shared, engine, "staged", lambda: engine.begin(PREPAID, "#122#", session_id="staged"),
                          dial=(PREPAID, "#122#"))]
    for reply in replies:
        staged.append(staged_step(shared, engine, "staged", lambda reply=reply: engine.reply("staged", reply)))
    assert [(r.text, r.screen, r.end) for r in staged] == [(r.text, r.screen, r.end) for r in alone]
    assert sent == []  # every read was fetched before its step, every write sent after it
    kept = store.get("staged")
    assert kept is not None and kept.state == staged[-1].screen == "confirm_pass" and kept.rev == len(replies) + 1


def test_a_staged_purchase_confirmed_on_two_nodes_at_once_is_debited_once_and_both_show_it(
        store: RedisSessionStore) -> None:
    accounts = demo_store("memory:", POLICY)
    balance = accounts.get(PREPAID).main.balance  # type: ignore[union-attr]
    a, b = engine_on(accounts, store), engine_on(accounts, store)
    shared = StagedSessions(store, RedisNow(store))  # type: ignore[arg-type]
    staged_step(shared, a, "buy", lambda: a.begin(PREPAID, "#122#", session_id="buy"), dial=(PREPAID, "#122#"))
    staged_step(shared, a, "buy", lambda: a.reply("buy", "6"))
    assert staged_step(shared, a, "buy", lambda: a.reply("buy", "1")).screen == "confirm_pass"
    # both nodes read the dialogue at the confirmation and run the step: the purchase is the
    # account store's to make once (its request id), and both show it
    one, two = shared.step(a, "buy"), shared.step(b, "buy")
    one.before(lambda: None)
    two.before(lambda: None)
    first, second = one.within(lambda: a.reply("buy", "1")), two.within(lambda: b.reply("buy", "1"))
    outcomes: list[Any] = []
    one.after(first, outcomes.append)
    two.after(second, outcomes.append)
    assert [o.screen for o in outcomes] == ["pass_bought", "pass_bought"] and outcomes[0].text == outcomes[1].text
    assert accounts.get(PREPAID).main.balance == balance - 500  # type: ignore[union-attr]
    assert len(accounts.debits(PREPAID)) == 1


def test_the_staged_step_that_lost_the_race_is_found_after_it_and_answers_with_the_winners_screen(
        store: RedisSessionStore) -> None:
    accounts = demo_store("memory:", POLICY)
    a, b = engine_on(accounts, store), engine_on(accounts, store)
    shared = StagedSessions(store, RedisNow(store))  # type: ignore[arg-type]
    staged_step(shared, a, "race", lambda: a.begin(PREPAID, "#122#", session_id="race"), dial=(PREPAID, "#122#"))
    one, two = shared.step(a, "race"), shared.step(b, "race")
    one.before(lambda: None)
    two.before(lambda: None)
    won, lost = one.within(lambda: a.reply("race", "1")), two.within(lambda: b.reply("race", "2"))
    assert (won.screen, lost.screen) == ("bonus_credit", "bonus_minutes")  # each computed its own
    outcomes: list[Any] = []
    one.after(won, outcomes.append)
    two.after(lost, outcomes.append)
    assert outcomes[0] is won and isinstance(outcomes[1], Redo)
    redo = outcomes[1]
    assert redo.io is not None
    redo.io.before(lambda: None)
    again = redo.io.within(redo.work)
    assert (again.screen, again.text) == (won.screen, won.text)
    assert staged_step(shared, a, "race", lambda: a.reply("race", "0")).screen == "home"  # goes on from the winner's


def test_redis_failing_before_the_step_or_after_it_answers_unavailable(store: RedisSessionStore) -> None:
    engine = engine_on(demo_store("memory:", POLICY), store)
    client = RedisNow(store)
    shared = StagedSessions(store, client)  # type: ignore[arg-type]
    staged_step(shared, engine, "d", lambda: engine.begin(PREPAID, "#122#", session_id="d"), dial=(PREPAID, "#122#"))
    client.down = True  # the fetch fails: the step meets the store's failure where it reads
    answer = staged_step(shared, engine, "d", lambda: engine.reply("d", "1"))
    assert answer.end and answer.screen == ERROR_SCREEN and "indisponible" in answer.text
    client.down = False
    io = shared.step(engine, "d")
    io.before(lambda: None)
    shown = io.within(lambda: engine.reply("d", "1"))
    assert shown.screen == "bonus_credit"
    client.down = True  # the step ran, its record could not be written: its screen cannot stand
    outcome: list[Any] = []
    io.after(shown, outcome.append)
    assert outcome[0].end and outcome[0].screen == ERROR_SCREEN
    silent = Response("d", "", True)  # an abort's silence stands: nothing to tell whom hung up
    io.after(silent, outcome.append)
    assert outcome[1] is silent


def test_a_read_after_a_write_in_one_staged_step_sends_the_write_first(store: RedisSessionStore) -> None:
    record = Dialogue("rw", PREPAID, "122", "home", "fr", time.time(), time.time())
    step = StagedStep("rw", record=False)
    store.staged(step, lambda: store.put(record))
    assert step.writes() and store.get("rw") is None  # kept, not sent
    read = store.staged(step, lambda: store.get("rw"))  # not fetched: read from Redis, after the write
    assert read is not None and read.rev == 1 and step.writes() == []
    step.settle([])  # the write sent from the worker is judged with the step's others: it held
    stale = Dialogue("rw", PREPAID, "122", "bonus", "fr", time.time(), time.time())  # rev 0 is "new": make it stale
    stale.rev = 5
    late = StagedStep("rw", record=False)
    store.staged(late, lambda: store.put(stale))
    with pytest.raises(Exception, match="rw"):
        late.settle(RedisNow(store).store._execute(late.writes()))
