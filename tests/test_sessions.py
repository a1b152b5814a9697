"""The session stores on a fake clock: idle and total limits, sweeping, records. Every test runs
against the in-memory store and against a real Redis (the multi-node store)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ussd.redis_sessions import RedisSessionStore, redis_client
from ussd.sessions import Dialogue, MemorySessionStore

IDLE = 60.0
TOTAL = 180.0


def dialogue(session_id: str, clock: FakeClock, **extra) -> Dialogue:
    now = clock()
    fields = dict(id=session_id, msisdn="2250701000001", service="555", state="home", lang="fr",
                  started=now, touched=now)
    return Dialogue(**{**fields, **extra})


@pytest.fixture(params=["memory", "redis"])
def store_on(request: pytest.FixtureRequest) -> Any:
    """Each session store in turn, made on a given clock."""
    if request.param == "memory":
        return lambda clock, **limits: MemorySessionStore(clock, **{"idle_timeout": IDLE, "max_duration": TOTAL,
                                                                     **limits})
    client, prefix = redis_client(request.getfixturevalue("redis_url"))
    request.addfinalizer(client.close)
    return lambda clock, **limits: RedisSessionStore(client, clock, prefix=prefix,
                                                     **{"idle_timeout": IDLE, "max_duration": TOTAL, **limits})


def test_get_put_delete(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    assert store.get("a") is None and len(store) == 0
    one = dialogue("a", clock)
    store.put(one)
    assert store.get("a") == one and len(store) == 1
    store.put(dialogue("b", clock))
    assert len(store) == 2
    store.delete("a")
    assert store.get("a") is None and store.get("b") is not None and len(store) == 1
    store.delete("a")  # deleting what is not there is fine
    store.delete("never")
    assert len(store) == 1


def test_put_marks_touched_now_and_replaces(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    record = dialogue("a", clock)
    record.touched = 0.0
    clock.advance(5)
    store.put(record)
    assert record.touched == clock.now == 1005.0
    newer = dialogue("a", clock, state="amount")
    store.put(newer)
    assert store.get("a") == newer and len(store) == 1


def test_idle_expiry_is_exactly_at_idle_timeout(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    store.put(dialogue("a", clock))
    start = clock.now
    clock.now = start + 59.999
    assert store.get("a") is not None
    clock.now = start + 60.0
    assert store.get("a") is None
    assert len(store) == 0  # the expired dialogue was dropped by get


def test_an_expired_dialogue_is_remembered_as_ended_not_live(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    store.put(dialogue("a", clock, lang="en"))
    store.put(dialogue("b", clock))
    assert store.ended("a") is None  # live, not ended
    clock.now += IDLE
    assert store.get("a") is None
    ended = store.ended("a")
    assert ended is not None and ended.lang == "en"
    assert store.sweep() == 1  # b, moved to the ended ones too
    assert store.ended("b") is not None and len(store) == 0
    store.delete("c")
    assert store.ended("c") is None  # never existed


def test_ended_dialogues_are_bounded_oldest_first(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """(In memory; Redis forgets them by time: ``ended_ttl``.)"""
    monkeypatch.setattr("ussd.sessions.ENDED_LIMIT", 3)
    store = MemorySessionStore(clock, idle_timeout=IDLE, max_duration=TOTAL)
    for n in range(5):
        store.put(dialogue(f"s{n}", clock))
    clock.now += IDLE
    assert store.sweep() == 5
    assert [store.ended(f"s{n}") is not None for n in range(5)] == [False, False, True, True, True]


def test_get_does_not_refresh_but_put_does(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    store.put(dialogue("a", clock))
    store.put(dialogue("b", clock))
    clock.advance(50)
    store.put(store.get("a"))  # the engine stores a dialogue back after each step: touched
    assert store.get("b") is not None  # read only: not touched
    clock.advance(50)
    assert store.get("a") is not None  # idle 50 s
    assert store.get("b") is None  # idle 100 s, although read 50 s ago


def test_total_limit_ends_even_a_busy_dialogue(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    record = dialogue("a", clock)
    store.put(record)
    start = clock.now
    for at in (50, 100, 150, 179):
        clock.now = start + at
        assert store.get("a") == record
        store.put(record)
    clock.now = start + 179.999
    assert store.get("a") == record
    clock.now = start + 180.0
    assert store.get("a") is None and len(store) == 0


def test_sweep_drops_only_expired_and_counts_them(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    start = clock.now
    old = dialogue("old", clock)
    old.started = start - 100  # began long ago: touched often, only the total limit can end it
    store.put(old)
    store.put(dialogue("idle", clock))
    clock.advance(30)
    store.put(dialogue("mid", clock))
    clock.advance(20)
    store.put(dialogue("fresh", clock))
    store.put(old)  # touched again at +50: now the most recently touched
    assert store.sweep() == 0
    clock.now = start + 80  # "idle" idle 80 s; "old" 180 s old though touched 30 s ago
    assert store.sweep() == 2
    assert store.get("idle") is None and store.get("old") is None
    assert store.get("mid") is not None and store.get("fresh") is not None
    assert len(store) == 2
    assert store.sweep() == 0
    clock.now = start + 90  # "mid" touched at +30: idle 60 s
    assert store.sweep() == 1 and len(store) == 1 and store.get("fresh") is not None


def test_sweep_of_an_empty_store(clock: FakeClock, store_on: Any) -> None:
    assert store_on(clock).sweep() == 0


def test_sweep_after_many_puts(clock: FakeClock, store_on: Any) -> None:
    store = store_on(clock)
    start = clock.now
    for n in range(500):
        clock.now = start + n * 0.5  # one dialogue every half second, for 250 s
        store.put(dialogue(f"s{n}", clock))
    clock.now = start + 300.0
    # Live: touched after start + 240 (idle < 60): n * 0.5 > 240, so n >= 481.
    assert store.sweep() == 481
    assert len(store) == 19
    assert all(store.get(f"s{n}") is not None for n in range(481, 500))
    assert store.sweep() == 0


@pytest.mark.parametrize("idle, total", [(0, 180), (-1, 180), (60, 0), (60, -5), (0, 0)])
def test_invalid_timeouts_raise(clock: FakeClock, idle: float, total: float, store_on: Any) -> None:
    with pytest.raises(ValueError):
        store_on(clock, idle_timeout=idle, max_duration=total)


def test_dialogue_round_trip_through_a_dict_and_json(clock: FakeClock) -> None:
    record = dialogue(
        "a", clock, page=2, pages=3, inputs={"amount": 1000, "number": "2250701020304"},
        history=["home", "amount"], result={"balance": 500, "lines": [1, 2]},
        shown=["page one", "page two", "page three"],
    )
    data = record.to_dict()
    assert Dialogue.from_dict(data) == record
    assert Dialogue.from_dict(json.loads(json.dumps(data))) == record
    data["inputs"]["amount"] = 1  # a copy, not a view
    data["history"].append("x")
    assert record.inputs["amount"] == 1000 and record.history == ["home", "amount"]


@given(st.builds(
    Dialogue,
    id=st.text(min_size=1, max_size=20), msisdn=st.from_regex(r"\A225[0-9]{10}\Z"),
    service=st.sampled_from(["122", "555"]), state=st.sampled_from(["home", "amount", "bonus_credit"]),
    lang=st.sampled_from(["fr", "en"]), started=st.floats(0, 1e9), touched=st.floats(0, 1e9),
    page=st.integers(0, 9), pages=st.integers(1, 9),
    inputs=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=10))),
    history=st.lists(st.text(max_size=10), max_size=5),
    result=st.none() | st.dictionaries(st.text(max_size=8), st.integers()),
    shown=st.none() | st.lists(st.text(max_size=30), max_size=3),
))
def test_any_dialogue_round_trips(record: Dialogue) -> None:
    assert Dialogue.from_dict(record.to_dict()) == record
    assert Dialogue.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert Dialogue.from_row(json.loads(json.dumps(record.to_row())), record.rev) == record


# -- the store against a model ---------------------------------------------------------------------

IDS = ["a", "b", "c", "d"]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(IDS)),
        st.tuples(st.just("get"), st.sampled_from(IDS)),
        st.tuples(st.just("delete"), st.sampled_from(IDS)),
        st.tuples(st.just("advance"), st.sampled_from([0, 1, 10, 29, 30, 59, 60, 61, 90, 179, 180, 200])),
        st.tuples(st.just("sweep"), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_store_matches_a_model(ops: Any, store_on: Any) -> None:
    clock = FakeClock()
    store = store_on(clock)
    for sid in IDS:  # each example starts from nothing (Redis keeps what the last one stored)
        store.delete(sid)
    model: dict[str, tuple[float, float]] = {}  # id -> (started, touched) of what the store holds
    records: dict[str, Dialogue] = {}

    def live(sid: str) -> bool:
        started, touched = model[sid]
        return clock.now - touched < IDLE and clock.now - started < TOTAL

    for op, arg in ops:
        if op == "put":
            if arg in model and live(arg):
                record = records[arg]  # the same dialogue goes on: it keeps its start
            else:
                record = records[arg] = dialogue(arg, clock)
            store.put(record)
            model[arg] = (record.started, clock.now)
        elif op == "get":
            expected = arg in model and live(arg)
            got = store.get(arg)
            assert (got is not None) == expected, (op, arg, clock.now, model)
            if expected:
                assert got == records[arg]
            else:
                model.pop(arg, None)
        elif op == "delete":
            store.delete(arg)
            model.pop(arg, None)
        elif op == "advance":
            clock.advance(arg)
        else:
            expired = [sid for sid in model if not live(sid)]
            assert store.sweep() == len(expired), (clock.now, model)
            for sid in expired:
                del model[sid]
        assert len(store) == len(model)
    assert store.sweep() == sum(1 for sid in model if not live(sid))
