"""One suite for every AccountStore: memory, a SQLite file and PostgreSQL (fixture ``store_url``).

Sections: storing and reading subscribers; grants and favourites; debits (exactly once per request
id); a property over random debit sequences; real processes debiting one subscriber at once
(SQLite file and PostgreSQL only: the memory store lives in one process); invoice duplicate
requests (once per month and period, also from threads at once); listing subscribers and debits.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from account_strategies import subscribers as generated_subscribers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.model import (
    Bucket,
    DuplicateRequest,
    InternetPlus,
    Invoice,
    MainAccount,
    Offer,
    OfferType,
    Purchase,
    Status,
    Subscriber,
    Usage,
)
from accounts.sqlite import Snapshots, SQLiteAccountStore, sqlite_path
from accounts.store import (
    INSUFFICIENT_FUNDS,
    MAIN_EXPIRED,
    SUCCESS,
    AccountStore,
    DebitRecord,
    DebitResult,
    Listed,
    StoreError,
    UnknownSubscriber,
    decide_debit,
    open_store,
)

HERE = Path(__file__).resolve().parent
WORKER = HERE / "store_worker.py"
T0 = 1_790_000_000  # an instant in 2026
LATER = T0 + 30 * 86_400


def bucket(account: str = "internet", rubrique: str = "monthly", amount: int = 1_000_000, *,
           expires: int = LATER, scope: str | None = None, granted: int | None = None,
           line: str | None = None) -> Bucket:
    return Bucket(account, rubrique, amount, expires, scope, granted, line)


def subscriber(msisdn: str, balance: int = 1500, *, status: Status = Status.ACTIVE, offer: str = "Pass Tout",
               offer_type: OfferType = OfferType.PREPAID, language: str = "fr", favourites: tuple[str, ...] = (),
               buckets: tuple[Bucket, ...] = ()) -> Subscriber:
    return Subscriber(msisdn, status, Offer(offer, offer_type), language, MainAccount(balance, LATER),
                      favourites, buckets)


RICH = subscriber(
    "2250701000001", 2500, favourites=("2250701000002", "2250505050505"),
    buckets=(
        bucket("credit", "monthly", 500, scope="intra", granted=T0 - 10),
        bucket("minutes", "special", 600, scope="international", granted=None, line="Appels vers la France"),
        bucket("internet", "night", 2_147_483_648 * 3, granted=T0, line=None),  # > 32 bits
        bucket("internet", "social", 0, expires=T0 - 1),  # spent and expired: stored all the same
    ))
PLAIN = subscriber("2250701000002", 0, status=Status.INACTIVE, offer="Business", offer_type=OfferType.POSTPAID,
                   language="en")
#: Every service a few screens read, kept in the SQL stores' ``services`` column.
SERVED = replace(
    subscriber("2250701000003", 700, offer="Intense Pro", offer_type=OfferType.POSTPAID, language="en"),
    usage=Usage(T0 - 86_400, 15420, 38, 3_758_096_384, 12750),
    invoices=(Invoice("2026-09", 18500, T0 - 40 * 86_400, T0 - 26 * 86_400, True),
              Invoice("2026-10", 17250, T0 - 10 * 86_400, T0 + 4 * 86_400)),
    internet_plus=InternetPlus(True, (Purchase(T0 - 3600, "Netflix", 5000), Purchase(T0 - 60, "Deezer", 1500))),
    duplicates=(DuplicateRequest("2026-09", T0 - 7200),))


@pytest.fixture
def store(store_url: str) -> Iterator[AccountStore]:
    s = open_store(store_url)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


# -- 1. storing and reading subscribers ----------------------------------------------------------

def test_put_many_then_get_returns_equal_values(store: AccountStore) -> None:
    assert store.put_many([RICH, PLAIN]) == 2
    assert store.get(RICH.msisdn) == RICH
    assert store.get(PLAIN.msisdn) == PLAIN
    assert store.count() == 2


def test_services_are_stored_and_read_back(store: AccountStore) -> None:
    assert store.put_many([SERVED, RICH]) == 2
    assert store.get(SERVED.msisdn) == SERVED
    assert store.get(RICH.msisdn) == RICH
    store.set_internet_plus(SERVED.msisdn, False)  # one service changed, the others kept
    assert store.get(SERVED.msisdn) == replace(SERVED, internet_plus=SERVED.internet_plus._replace(active=False))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sub=generated_subscribers(UTC))
def test_any_importable_subscriber_is_read_back_equal(store: AccountStore, sub: Subscriber) -> None:
    store.put_many([sub])
    assert store.get(sub.msisdn) == sub


def test_get_of_an_unknown_number_is_none(store: AccountStore) -> None:
    assert store.get("2250799999999") is None
    store.put_many([RICH])
    assert store.get("2250799999999") is None
    assert store.get(RICH.msisdn[:-1]) is None


def test_put_many_of_nothing_stores_nothing(store: AccountStore) -> None:
    assert store.put_many([]) == 0
    assert store.count() == 0


def test_put_many_counts_each_number_once_and_keeps_the_last(store: AccountStore) -> None:
    first = subscriber("2250701000009", 100, buckets=(bucket(),))
    last = subscriber("2250701000009", 200, favourites=("2250701000001",))
    assert store.put_many([first, last]) == 1
    assert store.count() == 1
    assert store.get(last.msisdn) == last


def test_put_many_accepts_any_iterable(store: AccountStore) -> None:
    assert store.put_many(s for s in (RICH, PLAIN)) == 2
    assert store.get(RICH.msisdn) == RICH


def test_re_putting_a_subscriber_replaces_it_entirely(store: AccountStore) -> None:
    store.put_many([RICH, PLAIN])
    new = subscriber(RICH.msisdn, 10, status=Status.DEACTIVATED, offer="Mix", offer_type=OfferType.POSTPAID,
                     language="en", favourites=("2250101010101",),
                     buckets=(bucket("credit", "weekend", 7, scope="all"),))
    assert store.put_many([new]) == 1
    assert store.get(RICH.msisdn) == new  # the old four buckets are gone, the old favourites too
    assert store.get(PLAIN.msisdn) == PLAIN  # the other subscriber is untouched
    assert store.count() == 2
    bare = subscriber(RICH.msisdn, 10)
    store.put_many([bare])
    assert store.get(RICH.msisdn) == bare
    assert store.get(RICH.msisdn).buckets == ()


def test_put_many_is_all_or_nothing_when_the_iterable_fails(store: AccountStore) -> None:
    store.put_many([PLAIN])

    def batch() -> Iterator[Subscriber]:
        yield RICH
        yield replace(PLAIN, main=MainAccount(999, LATER))
        raise RuntimeError("the import file is truncated")

    with pytest.raises(RuntimeError):
        store.put_many(batch())
    assert store.get(RICH.msisdn) is None
    assert store.get(PLAIN.msisdn) == PLAIN
    assert store.count() == 1


def test_put_many_is_all_or_nothing_when_one_subscriber_has_a_negative_balance(store: AccountStore) -> None:
    """A batch with one invalid subscriber (balance < 0) is refused whole and changes nothing.

    The SQL stores refuse it through ``CHECK (balance >= 0)``; the memory store must agree, or
    code tested against it can put a subscriber below zero, which no debit may ever do.
    """
    store.put_many([RICH, PLAIN])
    newcomer = subscriber("2250701000003", 300)
    broken = replace(PLAIN, main=MainAccount(-1, LATER))
    changed_rich = replace(RICH, buckets=())
    refused: Exception | None = None
    try:
        store.put_many([newcomer, changed_rich, broken])
    except Exception as exc:  # the SQL drivers' integrity errors; the interface names none
        refused = exc
    assert store.get(PLAIN.msisdn) == PLAIN, f"{store.url}: a negative balance was stored"
    assert store.get(RICH.msisdn) == RICH, f"{store.url}: an earlier subscriber of the refused batch was changed"
    assert store.get(newcomer.msisdn) is None, f"{store.url}: a newcomer of the refused batch was stored"
    assert store.count() == 2
    assert refused is not None
    # The store is still usable after the refused batch.
    assert store.put_many([newcomer]) == 1
    assert store.get(newcomer.msisdn) == newcomer
    assert store.debit(newcomer.msisdn, "after-refusal", 100) == DebitResult(SUCCESS, 200)


def test_count_follows_distinct_numbers(store: AccountStore) -> None:
    assert store.count() == 0
    store.put_many([subscriber(f"22507020000{i:02d}") for i in range(25)])
    assert store.count() == 25
    store.put_many([subscriber(f"22507020000{i:02d}", 5) for i in range(20, 30)])
    assert store.count() == 30


# -- 2. grants and favourites ------------------------------------------------------------------

def test_grant_adds_a_bucket_and_keeps_the_rest(store: AccountStore) -> None:
    store.put_many([RICH, PLAIN])
    extra = bucket("minutes", "omoney", 1200, scope="all", granted=T0 + 60, line="Bonus Orange Money")
    store.grant(RICH.msisdn, extra)
    assert store.get(RICH.msisdn) == replace(RICH, buckets=RICH.buckets + (extra,))
    store.grant(PLAIN.msisdn, bucket())
    store.grant(PLAIN.msisdn, bucket())  # the same bucket twice is two buckets
    assert store.get(PLAIN.msisdn) == replace(PLAIN, buckets=(bucket(), bucket()))
    assert store.count() == 2


def test_set_favourites_replaces_them(store: AccountStore) -> None:
    store.put_many([RICH])
    store.set_favourites(RICH.msisdn, ["2250700000001"])
    assert store.get(RICH.msisdn) == replace(RICH, favourites=("2250700000001",))
    store.set_favourites(RICH.msisdn, [])
    assert store.get(RICH.msisdn) == replace(RICH, favourites=())


@pytest.mark.parametrize("call", [
    lambda s, m: s.grant(m, bucket()),
    lambda s, m: s.set_favourites(m, ["2250700000001"]),
    lambda s, m: s.debit(m, "req-1", 100),
    lambda s, m: s.debit(m, "req-1", 100, [bucket()], at=T0),
    lambda s, m: s.set_internet_plus(m, False),
    lambda s, m: s.request_duplicate(m, "2026-10", T0, T0 - 86_400),
], ids=["grant", "set_favourites", "debit", "debit-with-grants", "set_internet_plus", "request_duplicate"])
def test_changing_an_unknown_number_raises_unknown_subscriber(store: AccountStore, call: Any) -> None:
    store.put_many([PLAIN])
    with pytest.raises(UnknownSubscriber) as raised:
        call(store, "2250799999999")
    assert raised.value.msisdn == "2250799999999"
    assert isinstance(raised.value, KeyError)
    assert store.get("2250799999999") is None
    assert store.count() == 1
    assert store.get(PLAIN.msisdn) == PLAIN


def test_a_debit_refused_for_an_unknown_number_is_not_recorded(store: AccountStore) -> None:
    with pytest.raises(UnknownSubscriber):
        store.debit("2250799999999", "req-1", 100)
    store.put_many([subscriber("2250799999999", 500)])
    assert store.debit("2250799999999", "req-1", 100) == DebitResult(SUCCESS, 400, replayed=False)


# -- 3. debits -------------------------------------------------------------------------------

def test_a_successful_debit_lowers_the_balance_and_grants_in_the_same_call(store: AccountStore) -> None:
    store.put_many([RICH])
    grants = [bucket("internet", "weekly", 1_500_000_000, granted=T0), bucket("minutes", "special", 300,
                                                                              scope="intra", line="Pass")]
    assert store.debit(RICH.msisdn, "buy-1", 1000, grants, at=T0) == DebitResult(SUCCESS, 1500, False)
    assert store.get(RICH.msisdn) == replace(RICH, main=MainAccount(1500, LATER),
                                             buckets=RICH.buckets + tuple(grants))


def test_a_debit_may_take_the_balance_to_exactly_zero(store: AccountStore) -> None:
    store.put_many([subscriber("2250701000005", 300)])
    assert store.debit("2250701000005", "all-of-it", 300) == DebitResult(SUCCESS, 0)
    assert store.debit("2250701000005", "one-more", 1) == DebitResult(INSUFFICIENT_FUNDS, 0)
    assert store.get("2250701000005").main.balance == 0


def test_an_expired_main_account_is_not_spent(store: AccountStore) -> None:
    store.put_many([RICH])
    assert store.debit(RICH.msisdn, "late", 100, [bucket()], at=LATER) == DebitResult(MAIN_EXPIRED, 2500)
    assert store.debit(RICH.msisdn, "late", 100, [bucket()], at=T0) == DebitResult(MAIN_EXPIRED, 2500, True)
    assert store.get(RICH.msisdn) == RICH  # nothing debited, nothing granted
    assert store.debit(RICH.msisdn, "in-time", 100, [], at=LATER - 1).outcome == SUCCESS


def test_insufficient_funds_changes_nothing(store: AccountStore) -> None:
    store.put_many([RICH])
    result = store.debit(RICH.msisdn, "too-dear", 2501, [bucket()], at=T0)
    assert result == DebitResult(INSUFFICIENT_FUNDS, 2500, replayed=False)
    assert store.get(RICH.msisdn) == RICH


def test_a_replay_answers_from_the_record_and_never_debits_twice(store: AccountStore) -> None:
    store.put_many([RICH])
    first = store.debit(RICH.msisdn, "buy-1", 1000, [bucket()], at=T0)
    assert first == DebitResult(SUCCESS, 1500, replayed=False)
    after_first = store.get(RICH.msisdn)
    for amount in (1000, 1, 2500, 99999):  # a retry, whatever amount it carries, is the same purchase
        assert store.debit(RICH.msisdn, "buy-1", amount, [bucket(), bucket()], at=T0 + 5) == replace(
            first, replayed=True)
    assert store.get(RICH.msisdn) == after_first  # same balance, no extra bucket
    assert store.debit(RICH.msisdn, "buy-2", 1000) == DebitResult(SUCCESS, 500)


def test_a_replay_after_a_top_up_returns_the_first_answer(store: AccountStore) -> None:
    """A replay returns what the first request was told, even if the account changed since:
    a refused purchase does not become a purchase on retry, and a made one is not repeated."""
    store.put_many([subscriber("2250701000006", 50)])
    refused = store.debit("2250701000006", "buy-refused", 100)
    made = store.debit("2250701000006", "buy-made", 30)
    assert refused == DebitResult(INSUFFICIENT_FUNDS, 50)
    assert made == DebitResult(SUCCESS, 20)
    store.put_many([subscriber("2250701000006", 5000)])  # top-up (re-import with a new balance)
    assert store.debit("2250701000006", "buy-refused", 100) == DebitResult(INSUFFICIENT_FUNDS, 50, True)
    assert store.debit("2250701000006", "buy-made", 30) == DebitResult(SUCCESS, 20, True)
    assert store.get("2250701000006").main.balance == 5000
    assert store.debit("2250701000006", "buy-new", 100) == DebitResult(SUCCESS, 4900)


def test_the_same_request_id_for_two_subscribers_is_two_debits(store: AccountStore) -> None:
    a, b = subscriber("2250701000007", 100), subscriber("2250701000008", 40)
    store.put_many([a, b])
    assert store.debit(a.msisdn, "shared-id", 60) == DebitResult(SUCCESS, 40)
    assert store.debit(b.msisdn, "shared-id", 60) == DebitResult(INSUFFICIENT_FUNDS, 40)
    assert store.debit(b.msisdn, "shared-id", 10) == DebitResult(INSUFFICIENT_FUNDS, 40, True)
    assert store.debit(a.msisdn, "shared-id", 10) == DebitResult(SUCCESS, 40, True)
    assert store.get(a.msisdn).main.balance == 40
    assert store.get(b.msisdn).main.balance == 40


@pytest.mark.parametrize("amount", [0, -1, -1500])
def test_a_non_positive_amount_raises_value_error_and_records_nothing(store: AccountStore, amount: int) -> None:
    store.put_many([RICH])
    with pytest.raises(ValueError):
        store.debit(RICH.msisdn, "bad-amount", amount, [bucket()])
    assert store.get(RICH.msisdn) == RICH
    # Nothing was recorded under that id: a proper request with it is a fresh debit, not a replay.
    assert store.debit(RICH.msisdn, "bad-amount", 500) == DebitResult(SUCCESS, 2000, replayed=False)


@pytest.mark.parametrize("amount", [0, -1])
def test_a_non_positive_amount_raises_value_error_even_for_a_recorded_request_id(
        store: AccountStore, amount: int) -> None:
    """The amount is checked before anything else, as the SQL stores do: a bad request is an error,
    not a replay of whatever was recorded under its id."""
    store.put_many([RICH])
    assert store.debit(RICH.msisdn, "buy-1", 500) == DebitResult(SUCCESS, 2000)
    with pytest.raises(ValueError):
        store.debit(RICH.msisdn, "buy-1", amount)
    assert store.get(RICH.msisdn).main.balance == 2000


def test_a_non_positive_amount_for_an_unknown_number_is_refused(store: AccountStore) -> None:
    # Which of the two errors comes first is not part of the interface; one of them must.
    with pytest.raises((ValueError, UnknownSubscriber)):
        store.debit("2250799999999", "bad", 0)
    assert store.count() == 0


def test_the_balance_never_goes_below_zero(store: AccountStore) -> None:
    store.put_many([subscriber("2250701000010", 95)])
    results = [store.debit("2250701000010", f"r{i}", 10) for i in range(12)]
    assert [r.outcome for r in results] == [SUCCESS] * 9 + [INSUFFICIENT_FUNDS] * 3
    assert [r.balance for r in results] == [85, 75, 65, 55, 45, 35, 25, 15, 5, 5, 5, 5]
    assert store.get("2250701000010").main.balance == 5


# -- 4. random debit sequences -------------------------------------------------------------------

_numbers = itertools.count(1)
REQUEST_IDS = [f"req-{i}" for i in range(6)]
debit_ops = st.lists(st.tuples(st.sampled_from(REQUEST_IDS), st.integers(1, 400), st.booleans()),
                     min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=st.integers(0, 2000), ops=debit_ops)
def test_random_debit_sequences_debit_each_request_once(store: AccountStore, initial: int,
                                                        ops: list[tuple[str, int, bool]]) -> None:
    msisdn = f"22508{next(_numbers):08d}"  # a fresh subscriber per example
    store.put_many([subscriber(msisdn, initial)])
    grant = bucket("internet", "special", 1024, granted=T0, line="random")
    first: dict[str, DebitResult] = {}
    balance = initial  # the model
    granted = 0
    for request_id, amount, with_grant in ops:
        result = store.debit(msisdn, request_id, amount, [grant] if with_grant else [], at=T0)
        assert result.balance >= 0
        if request_id in first:
            assert result == replace(first[request_id], replayed=True)
            continue
        assert result == decide_debit(balance, amount)
        assert result.replayed is False
        first[request_id] = result
        if result.outcome == SUCCESS:
            balance -= amount
            granted += with_grant
    spent = sum(amount for request_id, amount, _ in
                {rid: (rid, a, g) for rid, a, g in reversed(ops)}.values()  # each id's first op
                if first[request_id].outcome == SUCCESS)
    stored = store.get(msisdn)
    assert stored is not None
    assert stored.main.balance == initial - spent == balance
    assert stored.buckets == (grant,) * granted


# -- 5. real processes on one subscriber -----------------------------------------------------------

PROCESS_TIMEOUT_S = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store several processes can open at once."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    return request.getfixturevalue("pg_url")


def stored_rows(url: str, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """What the database holds, read past the store (``{}`` in ``query`` is the placeholder)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as db:
            return db.execute(query.format("?"), params).fetchall()
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        return db.execute(query.format("%s"), params).fetchall()


def debit_records(url: str, msisdn: str) -> list[tuple[str, int, str, int]]:
    """The debits table as the database holds it: (request_id, amount, outcome, balance)."""
    return stored_rows(url, "SELECT request_id, amount, outcome, balance FROM debits WHERE msisdn = {} "
                            "ORDER BY request_id", (msisdn,))


def run_workers(url: str, jobs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Run one worker process per job on ``url``: all open their store, then all start at once.
    Returns each worker's results; fails the test if a worker errs or the whole takes too long."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    procs: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    try:
        for _ in jobs:
            procs.append(subprocess.Popen([sys.executable, str(WORKER), url], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                          cwd=HERE.parent, env=env))
        for proc in procs:  # wait until every worker has its store open
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, "a worker did not get ready in time"
                chunk = proc.stdout.read(1)
                if not chunk:
                    _, err = proc.communicate(timeout=5)
                    pytest.fail(f"worker exited with {proc.returncode} before it was ready:\n{err.decode()}")
                line += chunk
            assert line == b"ready\n"
        for proc, job in zip(procs, jobs, strict=True):  # go
            assert proc.stdin is not None
            data = (json.dumps(job) + "\n").encode()
            assert len(data) < 4096  # one pipe write, taken whole; communicate() closes stdin later
            assert proc.stdin.write(data) == len(data)
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err.decode()}"
            outputs.append(json.loads(out))
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_processes_debiting_one_subscriber_apply_each_debit_once(shared_url: str) -> None:
    msisdn, initial, amount, n, workers = "2250709000001", 1500, 10, 50, 4
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([subscriber(msisdn, initial)])
    jobs = [{"msisdn": msisdn, "amount": amount, "grant": True,
             "ids": [f"w{w}-{i}" for i in range(n)],
             "replays": [f"w{w}-{i}" for i in range(0, n, n // 10)]}  # 10 of its own ids
            for w in range(workers)]
    outputs = run_workers(shared_url, jobs)

    firsts = [r for out in outputs for r in out if r["phase"] == "first"]
    replays = [r for out in outputs for r in out if r["phase"] == "replay"]
    assert len(firsts) == workers * n and len(replays) == workers * 10
    assert not any(r["replayed"] for r in firsts)
    assert all(r["replayed"] for r in replays)
    assert all(r["balance"] >= 0 for r in firsts + replays)
    successes = [r for r in firsts if r["outcome"] == SUCCESS]
    refused = [r for r in firsts if r["outcome"] == INSUFFICIENT_FUNDS]
    assert len(successes) == initial // amount == 150
    assert len(refused) == workers * n - 150
    # Serialised debits: the balances the successes report are exactly 1490, 1480, ..., 0, once each.
    assert sorted(r["balance"] for r in successes) == list(range(0, initial, amount))
    assert all(r["balance"] == 0 for r in refused)  # refused only once nothing was left
    for out in outputs:  # within one worker, each success sees a lower balance than the one before
        own = [r["balance"] for r in out if r["phase"] == "first" and r["outcome"] == SUCCESS]
        assert own == sorted(own, reverse=True) and len(set(own)) == len(own)
    by_id = {r["id"]: r for r in firsts}
    for r in replays:
        original = by_id[r["id"]]
        assert (r["outcome"], r["balance"]) == (original["outcome"], original["balance"])

    with open_store(shared_url) as store:
        final = store.get(msisdn)
    assert final is not None
    assert final.main.balance == initial - amount * len(successes) == 0
    assert len(final.buckets) == len(successes)  # one grant per successful debit, none for refused ones
    records = debit_records(shared_url, msisdn)
    assert len(records) == workers * n
    assert sorted(records) == sorted((r["id"], amount, r["outcome"], r["balance"]) for r in firsts)


def test_processes_racing_on_the_same_request_ids_debit_each_once(shared_url: str) -> None:
    msisdn, initial, amount, n, workers = "2250709000002", 10_000, 10, 50, 2
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([subscriber(msisdn, initial)])
    ids = [f"same-{i}" for i in range(n)]
    # Both workers send the same ids, in the same order, from the same start signal.
    outputs = run_workers(shared_url, [{"msisdn": msisdn, "amount": amount, "grant": True, "ids": ids}] * workers)

    results = [r for out in outputs for r in out]
    assert len(results) == workers * n
    for request_id in ids:
        answers = [r for r in results if r["id"] == request_id]
        applied = [r for r in answers if not r["replayed"]]
        assert len(applied) == 1, f"{request_id}: {answers}"
        assert applied[0]["outcome"] == SUCCESS
        for r in answers:
            assert (r["outcome"], r["balance"]) == (SUCCESS, applied[0]["balance"])
    applied_balances = sorted(r["balance"] for r in results if not r["replayed"])
    assert applied_balances == list(range(initial - amount * n, initial, amount))

    with open_store(shared_url) as store:
        final = store.get(msisdn)
    assert final is not None
    assert final.main.balance == initial - amount * n
    assert len(final.buckets) == n
    assert len(debit_records(shared_url, msisdn)) == n


def test_processes_racing_on_one_request_id_debit_once(shared_url: str) -> None:
    msisdn = "2250709000003"
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([subscriber(msisdn, 1000)])
    outputs = run_workers(shared_url, [{"msisdn": msisdn, "amount": 300, "ids": ["the-one"]}] * 2)
    results = sorted((r for out in outputs for r in out), key=lambda r: r["replayed"])
    assert [(r["outcome"], r["balance"], r["replayed"]) for r in results] == [
        (SUCCESS, 700, False), (SUCCESS, 700, True)]
    with open_store(shared_url) as store:
        assert store.get(msisdn).main.balance == 700
    assert debit_records(shared_url, msisdn) == [("the-one", 300, SUCCESS, 700)]


def test_a_reopened_store_keeps_subscribers_and_debit_records(shared_url: str) -> None:
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([RICH])
        first = store.debit(RICH.msisdn, "buy-1", 1000, [bucket()], at=T0)
    with open_store(shared_url) as store:
        store.migrate()  # migrating again is harmless
        assert store.get(RICH.msisdn) == replace(RICH, main=MainAccount(1500, LATER),
                                                 buckets=RICH.buckets + (bucket(),))
        assert store.debit(RICH.msisdn, "buy-1", 1000) == replace(first, replayed=True)
        assert store.get(RICH.msisdn).main.balance == 1500


def test_status_and_offer_type_are_stored_as_their_text_and_read_back_as_enums(shared_url: str) -> None:
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([PLAIN])
        got = store.get(PLAIN.msisdn)
        assert got is not None and got.status is Status.INACTIVE and got.offer.type is OfferType.POSTPAID
    held = "SELECT status, offer_type FROM subscribers WHERE msisdn = {}"
    assert stored_rows(shared_url, held, (PLAIN.msisdn,)) == [("inactive", "postpaid")]


@pytest.mark.parametrize("column", ["status", "offer_type"])
def test_a_row_holding_a_status_or_type_no_release_writes_is_a_store_error(shared_url: str, column: str) -> None:
    """A row edited by hand: one line naming the subscriber and the text, not a traceback."""
    with open_store(shared_url) as store:
        store.migrate()
        store.put_many([PLAIN, RICH])
    run_sql(shared_url, [f"UPDATE subscribers SET {column} = 'suspended' WHERE msisdn = '{PLAIN.msisdn}'"])
    with open_store(shared_url) as store:
        for read in (lambda: store.get(PLAIN.msisdn), lambda: list(store.subscribers()),
                     lambda: store.search(PLAIN.msisdn, 10)):
            with pytest.raises(StoreError, match=rf"subscriber {PLAIN.msisdn}: 'suspended' is not a valid"):
                read()
        assert store.get(RICH.msisdn) == RICH  # the others are served as before


# -- 6. invoice duplicate requests ----------------------------------------------------------------

def test_a_duplicate_is_recorded_once_per_month_and_period(store: AccountStore) -> None:
    store.put_many([SERVED])
    earlier = SERVED.duplicates  # 2026-09, asked at T0 - 7200
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0, since=T0 - 86_400) is True
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 + 60, since=T0 - 86_400) is False  # already asked
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 + 60, since=T0) is False  # at == since: asked
    assert store.request_duplicate(SERVED.msisdn, "2026-09", T0 + 120, since=T0 - 7199) is True  # asked before since
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 + 86_400, since=T0 + 1) is True  # a new period
    assert store.get(SERVED.msisdn) == replace(SERVED, duplicates=earlier + (
        DuplicateRequest("2026-10", T0), DuplicateRequest("2026-09", T0 + 120),
        DuplicateRequest("2026-10", T0 + 86_400)))
    # a day that ends before the requests recorded later: they do not count (a clock frozen earlier)
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 - 86_400, since=T0 - 90_000, until=T0 - 3600) is True
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 - 86_000, since=T0 - 90_000, until=T0 - 3600) is False
    assert store.request_duplicate(SERVED.msisdn, "2026-10", T0 + 30, since=T0 - 10, until=T0 + 3600) is False


def test_a_duplicate_request_keeps_the_subscribers_other_data(store: AccountStore) -> None:
    store.put_many([RICH, PLAIN])
    assert store.request_duplicate(RICH.msisdn, "2026-11", T0, since=T0 - 86_400) is True
    assert store.get(RICH.msisdn) == replace(RICH, duplicates=(DuplicateRequest("2026-11", T0),))
    assert store.get(PLAIN.msisdn) == PLAIN
    store.grant(RICH.msisdn, bucket())  # and later changes keep the request
    assert store.get(RICH.msisdn).duplicates == (DuplicateRequest("2026-11", T0),)


def test_threads_asking_for_one_duplicate_at_once_record_it_once(store_url: str, store: AccountStore) -> None:
    """Eight threads ask at the same moment; on the SQL stores each has its own store object
    (its own connection), as separate gateway nodes would."""
    store.put_many([SERVED])
    threads = 8
    stores = [store] * threads if store_url == "memory:" else [open_store(store_url) for _ in range(threads)]
    start = threading.Barrier(threads)
    answers: list[bool] = []

    def ask(own: AccountStore, n: int) -> None:
        start.wait()
        answers.append(own.request_duplicate(SERVED.msisdn, "2026-10", T0 + n, since=T0 - 86_400))

    try:
        workers = [threading.Thread(target=ask, args=(own, n)) for n, own in enumerate(stores)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(PROCESS_TIMEOUT_S)
    finally:
        for own in stores:
            if own is not store:
                own.close()
    assert sorted(answers) == [False] * (threads - 1) + [True]
    recorded = [d for d in store.get(SERVED.msisdn).duplicates if d.month == "2026-10"]
    assert len(recorded) == 1 and T0 <= recorded[0].at < T0 + threads


# -- 7. listing subscribers and debits ---------------------------------------------------------------

def test_subscribers_are_listed_by_number_with_status_and_offer(store: AccountStore) -> None:
    assert list(store.subscribers()) == []
    deactivated = subscriber("2250100000001", status=Status.DEACTIVATED, offer="Mix Découverte")
    store.put_many([SERVED, RICH, deactivated, PLAIN])
    assert list(store.subscribers()) == [
        ("2250100000001", "deactivated", "Mix Découverte", "prepaid"),
        ("2250701000001", "active", "Pass Tout", "prepaid"),
        ("2250701000002", "inactive", "Business", "postpaid"),
        ("2250701000003", "active", "Intense Pro", "postpaid"),
    ]
    assert all(type(row.status) is Status and type(row.offer_type) is OfferType for row in store.subscribers())
    assert [row.msisdn for row in store.subscribers(Status.ACTIVE)] == [RICH.msisdn, SERVED.msisdn]
    assert list(store.subscribers(Status.INACTIVE)) == [Listed(PLAIN.msisdn, Status.INACTIVE, "Business",
                                                               OfferType.POSTPAID)]
    assert list(store.subscribers("nosuch")) == []


def test_a_search_finds_numbers_holding_the_text_by_number_and_at_most_the_limit(store: AccountStore) -> None:
    assert store.search("0701", 10) == []
    others = [subscriber(f"22505{n:08d}") for n in range(30)]
    store.put_many([SERVED, RICH, PLAIN, *others])
    assert [row.msisdn for row in store.search("0701", 10)] == [RICH.msisdn, PLAIN.msisdn, SERVED.msisdn]
    assert store.search("01000002", 10) == [Listed(PLAIN.msisdn, Status.INACTIVE, "Business", OfferType.POSTPAID)]
    assert all(type(row.status) is Status and type(row.offer_type) is OfferType for row in store.search("", 50))
    assert [row.msisdn for row in store.search("", 3)] == [f"22505{n:08d}" for n in range(3)]
    assert len(store.search("22505", 50)) == 30 and len(store.search("22505", 7)) == 7
    assert store.search("0701", 0) == []
    assert store.search("%", 10) == store.search("_", 10) == store.search("\\", 10) == []  # only themselves

def test_debits_are_listed_newest_first_with_what_came_of_them(store: AccountStore) -> None:
    store.put_many([RICH, PLAIN])
    assert store.debits(RICH.msisdn) == []
    store.debit(RICH.msisdn, "buy-1", 1000, [bucket()], at=T0)
    store.debit(RICH.msisdn, "too-dear", 5000, at=T0 + 60)
    store.debit(RICH.msisdn, "buy-1", 1000, at=T0 + 90)  # a replay is not a new debit
    store.debit(RICH.msisdn, "buy-3", 500, at=T0 + 120)
    store.debit(RICH.msisdn, "buy-2", 500, at=T0 + 120)  # the same second: recorded last, listed first
    store.debit(RICH.msisdn, "back-dated", 1, at=T0 - 10)
    store.debit(PLAIN.msisdn, "buy-1", 1, at=T0)
    assert store.debits(RICH.msisdn) == [
        DebitRecord("buy-2", 500, SUCCESS, 500, T0 + 120),
        DebitRecord("buy-3", 500, SUCCESS, 1000, T0 + 120),
        DebitRecord("too-dear", 5000, INSUFFICIENT_FUNDS, 1500, T0 + 60),
        DebitRecord("buy-1", 1000, SUCCESS, 1500, T0),
        DebitRecord("back-dated", 1, SUCCESS, 499, T0 - 10),
    ]
    assert store.debits(PLAIN.msisdn) == [DebitRecord("buy-1", 1, INSUFFICIENT_FUNDS, 0, T0)]
    assert store.debits("2250799999999") == []


# v2, before debits had their order (``seq``): what a store of that version holds.
V2_SCHEMA = [
    "CREATE TABLE subscribers (msisdn TEXT PRIMARY KEY, status TEXT NOT NULL, offer_name TEXT NOT NULL, "
    "offer_type TEXT NOT NULL, language TEXT NOT NULL, balance BIGINT NOT NULL CHECK (balance >= 0), "
    "main_expires BIGINT NOT NULL, favourites TEXT NOT NULL DEFAULT '[]', buckets TEXT NOT NULL DEFAULT '[]', "
    "services TEXT NOT NULL DEFAULT '{}')",
    "CREATE TABLE debits (msisdn TEXT NOT NULL, request_id TEXT NOT NULL, amount BIGINT NOT NULL, "
    "outcome TEXT NOT NULL, balance BIGINT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (msisdn, request_id))",
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (2)",
    f"INSERT INTO subscribers (msisdn, status, offer_name, offer_type, language, balance, main_expires) "
    f"VALUES ('{PLAIN.msisdn}', 'active', 'Business', 'postpaid', 'en', 900, {LATER})",
    f"INSERT INTO debits VALUES ('{PLAIN.msisdn}', 'old', 100, 'success', 900, {T0})",
]


def run_sql(url: str, statements: list[str]) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as db:
            for statement in statements:
                db.execute(statement)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        for statement in statements:
            db.execute(statement)


def test_a_version_2_store_is_upgraded_and_keeps_its_debits(shared_url: str) -> None:
    run_sql(shared_url, V2_SCHEMA)
    with open_store(shared_url) as store:
        store.migrate()
        assert store.debit(PLAIN.msisdn, "new", 100, at=T0) == DebitResult(SUCCESS, 800)
        assert store.debit(PLAIN.msisdn, "old", 100) == DebitResult(SUCCESS, 900, replayed=True)
        assert store.debits(PLAIN.msisdn) == [DebitRecord("new", 100, SUCCESS, 800, T0),
                                              DebitRecord("old", 100, SUCCESS, 900, T0)]


# -- SQLite's kept reads (accounts.sqlite.Snapshots) ------------------------------------------------

def test_sqlite_keeps_a_read_until_it_writes_and_sees_another_process_within_the_check(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    now = [0.0]
    with open_store(url) as serving, open_store(url) as other:  # two connections: as two processes
        assert isinstance(serving, SQLiteAccountStore)
        serving.snapshots.clock = lambda: now[0]
        serving.put_many([subscriber("2250701000001", 1500)])
        kept = serving.get("2250701000001")
        assert kept is not None and serving.get("2250701000001") is kept
        serving.debit("2250701000001", "own", 100)  # its own write: seen at once
        assert serving.get("2250701000001").main.balance == 1400  # type: ignore[union-attr]
        other.debit("2250701000001", "elsewhere", 100)
        assert serving.get("2250701000001").main.balance == 1400  # type: ignore[union-attr]  # not asked yet
        now[0] += serving.snapshots.check_every
        assert serving.get("2250701000001").main.balance == 1300  # type: ignore[union-attr]
        assert serving.get("2250701000002") is None  # unknown: that is kept too
        other.put_many([subscriber("2250701000002", 700)])
        assert serving.get("2250701000002") is None
        now[0] += serving.snapshots.check_every
        assert serving.get("2250701000002").main.balance == 700  # type: ignore[union-attr]


def test_a_read_that_raced_a_write_is_not_kept() -> None:
    changes = [0]
    snapshots = Snapshots(lambda: changes[0], check_every=1e9)
    old, new = subscriber("2250701000001", 1500), subscriber("2250701000001", 1400)
    reads: list[Subscriber] = []

    def racing_read(msisdn: str) -> Subscriber:
        reads.append(old)
        if len(reads) == 1:
            snapshots.written()  # the write commits while this read is on its way
        return old

    assert snapshots.get("2250701000001", racing_read) is old
    assert snapshots.get("2250701000001", lambda msisdn: new) is new  # read again, not the raced one
    assert snapshots.get("2250701000001", racing_read) is new and len(reads) == 1


def test_threads_reading_while_one_debits_never_see_a_balance_older_than_the_last_commit(tmp_path: Path) -> None:
    url, msisdn = f"sqlite:///{tmp_path / 'race.db'}", "2250701000001"
    with open_store(url) as store:
        store.put_many([subscriber(msisdn, 100_000)])
        committed = [100_000]
        stale: list[tuple[int, int]] = []
        done = threading.Event()

        def reader() -> None:
            while not done.is_set():
                floor = committed[0]  # committed before this read began: the read may not show more
                seen = store.get(msisdn).main.balance  # type: ignore[union-attr]
                if seen > floor:
                    stale.append((seen, floor))

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for thread in readers:
            thread.start()
        try:
            for n in range(100):
                committed[0] = store.debit(msisdn, f"r{n}", 10).balance
        finally:
            done.set()
            for thread in readers:
                thread.join(timeout=60)
        assert not stale, stale[:3]
        assert store.get(msisdn).main.balance == 100_000 - 1000  # type: ignore[union-attr]
