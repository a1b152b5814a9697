"""Dialogues in a real Redis, as several gateway nodes share them: records versioned and refused
cleanly, Redis's own expiry, the compare-and-set that lets one of two racing steps win (and a
purchase raced on two nodes debited once), and an outage met with words, then recovered from.
(The store's behaviour shared with the in-memory store is tested in ``test_sessions.py``.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock
from tcp_proxy import TcpProxy
from test_service_122 import AT, POLICY, PREPAID

from accounts.store import AccountStore
from simulator.demo import default_menu_paths, demo_registry, demo_store
from ussd.engine import ERROR_SCREEN, Engine, Response
from ussd.loader import load_menus_or_raise
from ussd.redis_sessions import FORMAT, RedisSessionStore, SessionsUnavailable, redis_client
from ussd.sessions import Dialogue, SessionConflict

IDLE, TOTAL = 60.0, 180.0


@pytest.fixture
def redis(redis_url: str) -> Iterator[tuple[Any, str]]:
    client, prefix = redis_client(redis_url)
    yield client, prefix
    client.close()


def node(redis: tuple[Any, str], clock: Callable[[], float]) -> RedisSessionStore:
    """One gateway node's session store (each node its own client, as each process has)."""
    _, prefix = redis
    client, _ = redis_client(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    return RedisSessionStore(client, clock, IDLE, TOTAL, prefix=prefix)


def dialogue(session_id: str, now: float) -> Dialogue:
    return Dialogue(session_id, PREPAID, "122", "home", "fr", now, now)


def test_of_two_nodes_storing_one_dialogue_read_at_the_same_revision_one_wins(redis: tuple[Any, str],
                                                                               clock: FakeClock) -> None:
    one, two = node(redis, clock), node(redis, clock)
    one.put(dialogue("s", clock()))
    first, second = one.get("s"), two.get("s")
    assert first is not None and second is not None and first.rev == second.rev == 1
    first.state = "bonus_credit"
    one.put(first)
    second.state = "offer"
    with pytest.raises(SessionConflict):
        two.put(second)
    assert two.get("s").state == "bonus_credit"  # type: ignore[union-attr]
    restarted = dialogue("s", clock())  # a new dialogue under a recycled id replaces the old one
    two.put(restarted)
    assert one.get("s") == restarted and restarted.rev == 1


def test_redis_forgets_a_dialogue_by_itself_at_its_deadline(redis: tuple[Any, str], clock: FakeClock) -> None:
    client, prefix = redis
    store = node(redis, clock)
    store.put(dialogue("idle", clock()))
    assert IDLE * 1000 - 1000 < client.pttl(f"{prefix}s:idle") <= IDLE * 1000
    old = dialogue("old", clock())
    old.started -= TOTAL - 5  # 5 s of its total life left: that, not the idle timeout, is its TTL
    store.put(old)
    assert 4000 < client.pttl(f"{prefix}s:old") <= 5000
    # its last record outlives it a while, so that a late reply is answered in its language
    assert client.pttl(f"{prefix}e:old") > 5000


@pytest.mark.parametrize("fields", [
    {"v": "3"},  # a newer release's format
    {"rec": b'["s", "2250707070707"]'},  # a row of too few fields
    {"rec": b'{"id": "s", "unknown": 1}'},  # not a dialogue's fields
    {"rec": b"not json"},
])
def test_a_record_not_of_this_release_is_refused_not_misread(redis: tuple[Any, str], clock: FakeClock,
                                                              fields: dict[str, Any],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    client, prefix = redis
    store = node(redis, clock)
    store.put(dialogue("s", clock()))
    client.hset(f"{prefix}s:s", mapping=fields)
    assert store.get("s") is None
    assert "refused" in caplog.text


# -- two engines (two nodes) on one Redis ---------------------------------------------------------

def engine_on(store: AccountStore, sessions: RedisSessionStore) -> Engine:
    registry = demo_registry(store, POLICY)
    menus = load_menus_or_raise(default_menu_paths(), registry)
    return Engine(menus, registry, sessions, clock=lambda: AT, tz=POLICY.tz)


class Racing(RedisSessionStore):
    """A node whose next read is overtaken: the other node's step runs between this node's read
    and its store, as two steps of one dialogue arriving at two nodes at once do."""

    overtake: Callable[[], Any] | None = None

    def get(self, session_id: str) -> Dialogue | None:
        read = super().get(session_id)
        overtake, self.overtake = self.overtake, None
        if overtake is not None:
            overtake()
        return read


def test_a_dialogue_stepped_on_two_nodes_in_turn_shows_what_one_node_shows(redis: tuple[Any, str]) -> None:
    store = demo_store("memory:", POLICY)
    a, b = (engine_on(store, node(redis, time.time)) for _ in range(2))
    alone = engine_on(demo_store("memory:", POLICY), node(redis, time.time))
    replies = ["1", "1", "0", "0", "6", "2"]
    expected = [alone.begin(PREPAID, "#122#", session_id="alone")]
    for reply in replies:
        expected.append(alone.reply("alone", reply))
    shown = [a.begin(PREPAID, "#122#", session_id="turns")]
    for n, reply in enumerate(replies):
        shown.append((b if n % 2 == 0 else a).reply("turns", reply))
    assert [(r.text, r.screen, r.end) for r in shown] == [(r.text, r.screen, r.end) for r in expected]


def test_a_purchase_confirmed_on_two_nodes_at_once_is_debited_once(redis: tuple[Any, str]) -> None:
    store = demo_store("memory:", POLICY)
    balance = store.get(PREPAID).main.balance  # type: ignore[union-attr]
    racing = Racing(node(redis, time.time).client, time.time, IDLE, TOTAL, prefix=redis[1])
    a, b = engine_on(store, node(redis, time.time)), engine_on(store, racing)
    a.begin(PREPAID, "#122#", session_id="buy")
    a.reply("buy", "6")
    assert a.reply("buy", "1").screen == "confirm_pass"
    answers: list[Response] = []
    racing.overtake = lambda: answers.append(a.reply("buy", "1"))  # node a confirms while b is at it
    answers.append(b.reply("buy", "1"))
    assert [r.screen for r in answers] == ["pass_bought", "pass_bought"], answers
    assert answers[0].text == answers[1].text and answers[0].end
    assert store.get(PREPAID).main.balance == balance - 500  # type: ignore[union-attr]
    assert len(store.debits(PREPAID)) == 1


def test_the_step_that_lost_the_race_answers_with_the_winners_screen(redis: tuple[Any, str]) -> None:
    store = demo_store("memory:", POLICY)
    racing = Racing(node(redis, time.time).client, time.time, IDLE, TOTAL, prefix=redis[1])
    a, b = engine_on(store, node(redis, time.time)), engine_on(store, racing)
    a.begin(PREPAID, "#122#", session_id="race")
    won: list[Response] = []
    racing.overtake = lambda: won.append(a.reply("race", "1"))  # a shows Bonus Crédit
    lost = b.reply("race", "2")  # b would have shown Bonus Minutes
    assert won[0].screen == "bonus_credit" and (lost.text, lost.screen) == (won[0].text, won[0].screen)
    assert a.reply("race", "0").screen == "home"  # the dialogue goes on from the winner's screen


# -- Redis away ------------------------------------------------------------------------------------

def test_while_redis_is_away_steps_end_on_unavailable_then_it_works_again(redis: tuple[Any, str]) -> None:
    proxy = TcpProxy(("127.0.0.1", 6379))
    try:
        client, _ = redis_client(f"redis://127.0.0.1:{proxy.port}/0?prefix={redis[1]}", timeout=1.0)
        sessions = RedisSessionStore(client, time.time, IDLE, TOTAL, prefix=redis[1])
        aborted: list[Exception] = []
        engine = engine_on(demo_store("memory:", POLICY), sessions)
        engine.on_aborted = aborted.append
        assert not engine.begin(PREPAID, "#122#", session_id="d").end
        proxy.down()
        started = time.monotonic()
        for answer in (engine.reply("d", "1"), engine.begin(PREPAID, "#122#", session_id="e")):
            assert answer.end and answer.screen == ERROR_SCREEN and "indisponible" in answer.text
        assert time.monotonic() - started < 10  # bounded by the client's timeouts, not hung
        assert any(isinstance(exc, SessionsUnavailable) for exc in aborted)
        with pytest.raises(SessionsUnavailable):
            sessions.ping()
        proxy.up()
        for _ in range(50):  # the client reconnects on its next use (bounded)
            try:
                sessions.ping()
                break
            except SessionsUnavailable:
                time.sleep(0.1)
        assert not engine.begin(PREPAID, "#122#", session_id="f").end
        assert engine.reply("f", "1").screen == "bonus_credit"
    finally:
        proxy.down()


def test_a_record_format_is_this_releases() -> None:
    assert FORMAT == 2  # a change of the record's shape bumps it: older nodes then refuse, not misread


def test_a_record_the_release_before_wrote_is_read_and_dropped_for_resuming(redis: tuple[Any, str],
                                                                             clock: FakeClock) -> None:
    """Format 1 (a JSON object), as nodes of the release before write it during a rolling upgrade."""
    import json

    client, prefix = redis
    store = node(redis, clock)
    old = dialogue("older", clock())
    old.inputs["amount"] = "500"
    fields = old.to_dict()
    del fields["rev"]
    client.hset(f"{prefix}s:older", mapping={"v": "1", "rev": "3", "rec": json.dumps(fields)})
    client.zadd(f"{prefix}live", {"older": store.deadline(old)})
    read = store.get("older")
    assert read is not None and read.inputs == {"amount": "500"} and read.rev == 3
    store.put(read)  # written back in this release's format
    assert client.hget(f"{prefix}s:older", "v") == b"2" and store.get("older").inputs == {"amount": "500"}
    client.hset(f"{prefix}s:older", mapping={"v": "1", "rec": json.dumps(fields)})
    store.drop("older")
    found = store.dropped(PREPAID, "122")
    assert found is not None and found[0].id == "older" and found[0].inputs == {"amount": "500"}


# -- the form convention across nodes (gateway.ussd_http.form_step) ------------------------------

def form_walk(engines: list[Engine], texts: list[str], session: str = "http:f") -> list[Any]:
    """The form requests ``texts`` (the whole text each time, as aggregators send it), each on
    the next engine in turn, read against the dialogue's record."""
    from gateway.ussd_http import Continue, form_step

    return [form_step(engines[n % len(engines)], Continue(session, text, "#122#", PREPAID))
            for n, text in enumerate(texts)]


def test_form_requests_on_two_nodes_in_turn_show_what_one_node_shows(redis: tuple[Any, str]) -> None:
    from gateway.ussd_http import Bad

    store = demo_store("memory:", POLICY)
    a, b = (engine_on(store, node(redis, time.time)) for _ in range(2))
    texts = ["", "1", "1*1", "1*1*0", "1*1*0*0", "1*1*0*0*6"]
    one_node = form_walk([engine_on(demo_store("memory:", POLICY), node(redis, time.time))], texts, "http:one")
    two_nodes = form_walk([a, b], texts)
    assert [(r.text, r.screen) for r in two_nodes] == [(r.text, r.screen) for r in one_node]
    # a retry of the last request, on the other node: the same screen, nothing applied again
    again = form_walk([b], ["1*1*0*0*6"])[0]
    assert (again.text, again.screen) == (two_nodes[-1].text, two_nodes[-1].screen)
    assert form_walk([a], ["1*1*0*0*6*1"])[0].screen == "confirm_pass"
    assert form_walk([b], ["2*1"]) == [Bad(400, "text: does not continue the replies this session has given")]


def test_a_form_step_after_the_end_on_another_node_is_told_so_and_buys_nothing(redis: tuple[Any, str]) -> None:
    store = demo_store("memory:", POLICY)
    a, b = (engine_on(store, node(redis, time.time)) for _ in range(2))
    bought = form_walk([a], ["", "6", "6*1", "6*1*1"])[-1]
    assert bought.end and bought.screen == "pass_bought"
    late = form_walk([b], ["6*1*1"])[0]  # the aggregator's retry of the last step, elsewhere
    assert late.end and late.screen != "pass_bought" and len(store.debits(PREPAID)) == 1


def test_a_first_form_request_with_digits_dials_them_after_the_code(redis: tuple[Any, str]) -> None:
    engine = engine_on(demo_store("memory:", POLICY), node(redis, time.time))
    first = form_walk([engine], ["6*2"])[0]
    assert first.screen == "confirm_pass"  # *122*6*2#: the second pass, its confirmation asked


def test_through_sentinel_the_store_finds_the_primary_by_its_name(redis_url: str, tmp_path: Path) -> None:
    """A real Sentinel (redis-server --sentinel) watching the test Redis as ``ussdtest``."""
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor ussdtest 127.0.0.1 6379 1\n")
    sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        prefix = redis_url.rpartition("prefix=")[2]
        url = f"redis+sentinel://127.0.0.1:{port}/ussdtest/0?prefix={prefix}"
        client = None
        for _ in range(100):  # until the Sentinel answers (bounded)
            try:
                client, prefix = redis_client(url)
                client.ping()
                break
            except Exception:
                time.sleep(0.05)
        assert client is not None
        store = RedisSessionStore(client, time.time, IDLE, TOTAL, prefix=prefix)
        record = dialogue("via-sentinel", time.time())
        store.put(record)
        assert store.get("via-sentinel") == record
        assert node((client, prefix), time.time).get("via-sentinel") == record  # a plain URL sees the same
    finally:
        sentinel.terminate()
        sentinel.wait(30)


def test_a_form_retried_on_another_node_while_the_first_answers_it_buys_nothing(redis: tuple[Any, str]) -> None:
    """The retry's node reads the record (the pass list), the first node answers the same text
    meanwhile (now the confirmation): the retry must not take its '1' as the confirmation."""
    from gateway.ussd_http import Continue, form_step

    store = demo_store("memory:", POLICY)
    balance = store.get(PREPAID).main.balance  # type: ignore[union-attr]
    racing = Racing(node(redis, time.time).client, time.time, IDLE, TOTAL, prefix=redis[1])
    a, b = engine_on(store, node(redis, time.time)), engine_on(store, racing)
    form_walk([a], ["", "6"])
    first: list[Any] = []
    racing.overtake = lambda: first.append(form_step(a, Continue("http:f", "6*1", "#122#", PREPAID)))
    retried = form_step(b, Continue("http:f", "6*1", "#122#", PREPAID))
    assert first[0].screen == "confirm_pass" and (retried.text, retried.screen) == (first[0].text, first[0].screen)
    assert store.get(PREPAID).main.balance == balance and not store.debits(PREPAID)  # type: ignore[union-attr]


def test_sentinel_addresses_are_read_or_refused_in_one_line() -> None:
    from gateway.config import parse_sessions_url
    from ussd.redis_sessions import sentinel_hosts

    assert sentinel_hosts("a:26380,[::1]:26381,b,[::2]") == [("a", 26380), ("::1", 26381), ("b", 26379), ("::2", 26379)]
    for bad in ("a:x", ":1", "[::1]:99999"):
        with pytest.raises(ValueError, match="a Sentinel's address"):
            sentinel_hosts(bad)
    with pytest.raises(ValueError, match="name the primary"):
        parse_sessions_url("redis+sentinel://h:26379")
    assert parse_sessions_url("redis+sentinel://:p%40ss@h1:26379,h2/main/1") == "redis+sentinel://:p%40ss@h1:26379,h2/main/1"


def test_a_drop_keeps_the_dialogue_for_resuming_and_a_record_of_another_format_not(redis: tuple[Any, str],
                                                                                   clock: FakeClock) -> None:
    client, prefix = redis
    store = node(redis, clock)
    store.put(dialogue("kept", clock()))
    store.drop("kept")
    assert store.get("kept") is None and len(store) == 0
    found = store.dropped(PREPAID, "122")
    assert found is not None and found[0].id == "kept" and found[1] == clock()
    store.forget_dropped(PREPAID, "122")
    store.put(dialogue("other", clock()))
    client.delete(f"{prefix}r:122:{PREPAID}")
    client.hset(f"{prefix}s:other", "v", "9")  # written by a newer release
    store.drop("other")
    assert store.dropped(PREPAID, "122") is None and client.exists(f"{prefix}s:other") == 0


def test_a_value_with_no_json_form_ends_the_step_with_words_and_names_itself(redis: tuple[Any, str],
                                                                             clock: FakeClock) -> None:
    from datetime import date

    from ussd.redis_sessions import RecordNotStorable

    store = node(redis, clock)
    record = dialogue("odd", clock())
    record.inputs["when"] = date(2026, 11, 25)  # a menu saving a date, not its text
    with pytest.raises(RecordNotStorable, match="at home: a value it holds has no JSON form"):
        store.put(record)
    assert store.get("odd") is None
