"""One engine shared by worker threads, as the gateway runs it: eight threads buying passes for
one subscriber at once, on every store, keep the balance to the franc; the in-memory session
store and the providers' snapshots hold under concurrent steps."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from test_service_122 import AT, POLICY, PREPAID, engine_on, walk

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.model import RUBRIQUES, MainAccount
from accounts.providers import AccountProviders
from accounts.store import open_store
from ussd.registry import ProviderCall
from ussd.sessions import Dialogue, MemorySessionStore

THREADS = 8
PRICE = 500  # the first pass of the catalogue
PURCHASES_AFFORDED = 30
ATTEMPTS_PER_THREAD = 6  # 48 attempts for 30 affordable purchases: some are refused


def run_threads(work: Callable[[int], None], count: int = THREADS) -> None:
    """``work(i)`` on ``count`` threads started together, switching between them as often as
    the interpreter can (so that races show); every error is re-raised here."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads), "a thread is still running"
    assert not errors, errors


def test_eight_threads_buying_through_one_engine_keep_the_balance_to_the_franc(store_url: str) -> None:
    store = open_store(store_url)
    store.migrate()
    people = read_subscribers(DEMO_ACCOUNTS, POLICY.tz)
    buyer = next(p for p in people if p.msisdn == PREPAID)
    store.put_many([*people, replace(buyer, main=MainAccount(PRICE * PURCHASES_AFFORDED, buyer.main.expires))])
    engine = engine_on(store)
    seen: Counter[str] = Counter()
    counting = threading.Lock()

    def buy(_: int) -> None:
        for _ in range(ATTEMPTS_PER_THREAD):
            last = walk(engine, PREPAID, ["6", "1", "1"])[-1]
            with counting:
                seen[last.screen or ""] += 1

    run_threads(buy)
    store_after = store.get(PREPAID)
    debits = store.debits(PREPAID)
    store.close()
    assert seen == {"pass_bought": PURCHASES_AFFORDED,
                    "pass_short": THREADS * ATTEMPTS_PER_THREAD - PURCHASES_AFFORDED}, seen
    assert store_after.main.balance == 0
    refused = THREADS * ATTEMPTS_PER_THREAD - PURCHASES_AFFORDED
    assert Counter(d.outcome for d in debits) == {"success": PURCHASES_AFFORDED, "insufficient_funds": refused}
    assert len({d.request_id for d in debits}) == len(debits)
    assert len(engine.sessions) == 0


def test_the_memory_session_store_holds_under_concurrent_steps_and_sweeps() -> None:
    now = [0.0]
    sessions = MemorySessionStore(lambda: now[0], idle_timeout=5, max_duration=50)
    rounds = 2000

    def step(i: int) -> None:
        if i == 0:  # one thread sweeps and moves the clock, as the gateway's timer does
            for _ in range(rounds):
                now[0] += 0.01
                sessions.sweep()
            return
        for n in range(rounds):
            sid = f"{i}-{n % 50}"
            sessions.put(Dialogue(sid, PREPAID, "122", "home", "fr", now[0], now[0]))
            sessions.get(sid)
            if n % 3 == 0:
                sessions.delete(sid)

    run_threads(step)
    assert len(sessions) == len({sid for sid in sessions._live})  # type: ignore[attr-defined]
    now[0] += 100
    sessions.sweep()
    assert len(sessions) == 0


def whole(view: Mapping[str, Any]) -> dict[str, Any]:
    return {account: view[account] for account in RUBRIQUES}


def test_snapshots_shared_by_threads_always_match_a_fresh_read() -> None:
    """Threads reading one subscriber's bonus at instants on both sides of an expiry: each sees
    the view its instant calls for, never one kept for another span."""
    store = open_store("memory:")
    store.put_many(read_subscribers(DEMO_ACCOUNTS, POLICY.tz))
    shared = AccountProviders(store, POLICY)
    sub = store.get(PREPAID)
    expiry = min(b.expires for b in sub.buckets if b.expires > int(AT.timestamp()))
    instants = [AT.fromtimestamp(expiry - 1, POLICY.tz), AT.fromtimestamp(expiry, POLICY.tz)]
    expected = {at: whole(AccountProviders(store, POLICY).bonus(ProviderCall(PREPAID, at))) for at in instants}
    wrong: list[str] = []

    def read(i: int) -> None:
        for n in range(300):
            at = instants[(i + n) % 2]
            view = shared.bonus(ProviderCall(PREPAID, at))
            if whole(view) != expected[at]:
                wrong.append(f"thread {i} at {at}")

    run_threads(read)
    assert expected[instants[0]] != expected[instants[1]], "the instants must straddle a change"
    assert wrong == []


@pytest.mark.parametrize("days", [0, 1])
def test_one_thread_sees_its_own_purchase_on_the_next_screen(days: int) -> None:
    """A thread's read kept for its step is its own: another thread's step never hands it a
    subscriber read before this thread's purchase."""
    store = open_store("memory:")
    store.put_many(read_subscribers(DEMO_ACCOUNTS, POLICY.tz))
    engine = engine_on(store)
    at = AT + timedelta(days=days)
    before = store.get(PREPAID).main.balance

    def buy(i: int) -> None:
        if i % 2:
            for _ in range(50):
                walk(engine, PREPAID, [], at)
        else:
            last = walk(engine, PREPAID, ["6", "1", "1"], at)[-1]
            assert last.screen in {"pass_bought", "pass_short"}

    run_threads(buy, 4)
    bought = sum(1 for d in store.debits(PREPAID) if d.outcome == "success")
    assert store.get(PREPAID).main.balance == before - PRICE * bought
