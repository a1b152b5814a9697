"""Stores under faults, for real: a PostgreSQL connection terminated, a server gone and back, a
row lock held elsewhere, a server that stops answering, a user without privileges, a SQLite
database locked by another writer. Each fails the step within the store's bound as the store's own
typed error; an outage ends the dialogue on "service momentarily unavailable" (never "not an
Orange customer"), and the next step after the fault works without a new process."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from conftest import PG_URL
from tcp_proxy import TcpProxy
from test_service_122 import AT, POLICY, PREPAID, engine_on, walk

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.model import MainAccount
from accounts.store import (
    DEFAULT_TIMEOUT_S,
    AccountStore,
    StoreConflict,
    StoreDenied,
    StoreError,
    StoreRefused,
    StoreSchemaMissing,
    StoreTimeout,
    StoreUnreachable,
    open_store,
)
from accounts.watchdog import Watchdog
from ussd import messages
from ussd.engine import ERROR_SCREEN

T = TypeVar("T")
UNAVAILABLE = messages.DEFAULTS["error"]["fr"]
#: A bound short enough for the tests; the default is checked on its own.
BOUND = 0.5


def finished(fn: Callable[[], T], guard: float = 60.0) -> T:
    """``fn()``, run on a thread the test waits for at most ``guard`` seconds: a hang fails the
    test instead of stalling the suite (this is not a timing threshold: the bound under test is a
    fraction of it)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(guard)
    assert not thread.is_alive(), f"still waiting after {guard} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def demo_on(url: str, timeout: float = BOUND) -> AccountStore:
    store = open_store(url, timeout)
    store.migrate()
    store.put_many(read_subscribers(DEMO_ACCOUNTS, POLICY.tz))
    return store


def backend_pid(store: AccountStore) -> int:
    """The server process serving this thread's connection of ``store``."""
    return int(store._read("SELECT pg_backend_pid()", ())[0][0])  # type: ignore[attr-defined]


@pytest.fixture
def pg(pg_url: str) -> Iterator[AccountStore]:
    store = demo_on(pg_url)
    yield store
    store.close()


# -- PostgreSQL: reconnecting ------------------------------------------------------------------

def test_a_terminated_connection_is_replaced_and_the_next_step_works(pg: AccountStore) -> None:
    engine = engine_on(pg)
    assert walk(engine, PREPAID, [])[-1].screen == "home"
    for operation in ("read", "write"):
        pid = backend_pid(pg)
        with psycopg.connect(PG_URL, autocommit=True) as admin:  # what a restart or a failover does to it
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        if operation == "read":
            assert walk(engine, PREPAID, [])[-1].screen == "home"
        else:  # a debit on the dead connection: its BEGIN is tried again on a new one
            assert pg.debit(PREPAID, f"after-terminate-{secrets.token_hex(4)}", 50, at=0).outcome == "success"
        assert backend_pid(pg) != pid


def test_while_the_server_is_away_subscribers_are_told_it_is_unavailable_then_it_works_again(pg_url: str) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    store = demo_on(proxy.url(pg_url))
    engine = engine_on(store)
    try:
        opened = engine.begin(PREPAID, "#122#", AT)
        assert opened.screen == "home"
        proxy.down()
        during = finished(lambda: engine.reply(opened.session, "6", AT))  # mid-dialogue
        assert (during.text, during.end, during.screen) == (UNAVAILABLE, True, ERROR_SCREEN)
        fresh = finished(lambda: engine.begin(PREPAID, "#122#", AT))  # a new dialogue: not an unknown subscriber
        assert (fresh.text, fresh.end, fresh.screen) == (UNAVAILABLE, True, ERROR_SCREEN)
        assert len(engine.sessions) == 0, "a dialogue the outage ended is kept"
        proxy.up()
        assert finished(lambda: engine.begin(PREPAID, "#122#", AT)).screen == "home"
    finally:
        proxy.down()
        store.close()


def test_a_server_down_at_start_is_unreachable_and_the_message_hides_the_password() -> None:
    with pytest.raises(StoreUnreachable) as raised:
        finished(lambda: open_store("postgresql://ussd:s3cr3t-pw@127.0.0.1:1/test", BOUND))
    assert "s3cr3t-pw" not in str(raised.value) and "127.0.0.1:1" in str(raised.value)


# -- bounded waits -----------------------------------------------------------------------------

def test_connections_carry_the_default_bound(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        assert store.timeout == DEFAULT_TIMEOUT_S == 3.0  # type: ignore[attr-defined]
        settings = store._read("SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "  # type: ignore[attr-defined]
                               "current_setting('idle_in_transaction_session_timeout')", ())
        assert settings == [("3s", "3s", "3s")]
    finally:
        store.close()


def test_a_row_lock_held_elsewhere_fails_the_purchase_within_the_bound(pg: AccountStore, pg_url: str) -> None:
    engine = engine_on(pg)
    confirm = walk(engine, PREPAID, ["6", "1"])[-1]
    assert confirm.screen == "confirm_pass"
    before = pg.get(PREPAID)
    with psycopg.connect(pg_url) as holder:  # another node, stuck in a transaction on this row
        holder.execute("SELECT balance FROM subscribers WHERE msisdn = %s FOR UPDATE", (PREPAID,))
        bought = finished(lambda: engine.reply(confirm.session, "1", AT))
        holder.rollback()
    assert bought.screen == "pass_failed", "a lock wait must route to the action's error outcome"
    assert pg.get(PREPAID) == before and pg.debits(PREPAID) == []


def test_a_slow_statement_is_cancelled_by_the_server(pg: AccountStore) -> None:
    with pytest.raises(StoreTimeout):
        finished(lambda: pg._read("SELECT pg_sleep(30)", ()))  # type: ignore[attr-defined]
    assert pg.get(PREPAID) is not None


def test_a_server_that_stops_answering_is_cut_at_the_bound(pg: AccountStore) -> None:
    """A stopped server process: its host still acknowledges every packet, so neither keepalives
    nor the server's own timeouts end the wait; the watchdog does."""
    def stop_then_read() -> tuple[int, Any, int]:  # on one thread: it has a connection of its own
        pid = backend_pid(pg)
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(StoreTimeout, match="no answer within 0.5 s"):
                pg.get(PREPAID)
        finally:
            os.kill(pid, signal.SIGCONT)
        return pid, pg.get(PREPAID), backend_pid(pg)

    stopped, read_after, serving = finished(stop_then_read)
    assert read_after is not None and serving != stopped, "the cut connection must be replaced"


# -- typed errors ------------------------------------------------------------------------------

def test_a_user_without_privileges_gets_denied(pg: AccountStore, pg_url: str) -> None:
    role = f"ussd_reader_{secrets.token_hex(4)}"
    schema = psycopg.conninfo.conninfo_to_dict(pg_url)["options"].split("=")[-1]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    try:
        store = open_store(pg_url.replace("postgres@", f"{role}@"), BOUND)
        try:
            with pytest.raises(StoreDenied, match="permission denied"):
                store.get(PREPAID)
        finally:
            store.close()
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("sqlstate, kind", [
    ("40001", StoreConflict), ("40P01", StoreConflict), ("42501", StoreDenied), ("25006", StoreDenied),
    ("55P03", StoreTimeout), ("57014", StoreTimeout), ("57P01", StoreUnreachable), ("08006", StoreUnreachable),
    ("53300", StoreUnreachable), ("23514", StoreRefused), ("42P01", StoreSchemaMissing), ("XX000", StoreError),
])
def test_every_driver_error_becomes_a_store_error(pg: AccountStore, sqlstate: str, kind: type[StoreError]) -> None:
    error = pg._error(psycopg.errors.lookup(sqlstate)("the server said no"))  # type: ignore[attr-defined]
    assert type(error) is kind and isinstance(error, StoreError)


def test_an_empty_database_says_run_migrate(pg_url: str) -> None:
    store = open_store(pg_url, BOUND)
    try:
        with pytest.raises(StoreSchemaMissing, match="ussd accounts migrate"):
            store.get(PREPAID)
    finally:
        store.close()


def test_a_negative_balance_is_refused_alike_by_every_store(store_url: str) -> None:
    store = open_store(store_url, BOUND)
    store.migrate()
    sub = read_subscribers(DEMO_ACCOUNTS, POLICY.tz)[0]
    with pytest.raises(StoreRefused):
        store.put_many([replace(sub, main=MainAccount(-1, sub.main.expires))])
    store.close()


# -- SQLite --------------------------------------------------------------------------------------

def test_a_sqlite_writer_holding_the_lock_fails_the_purchase_within_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "accounts.sqlite3"
    store = demo_on(f"sqlite:///{path}")
    engine = engine_on(store)
    confirm = walk(engine, PREPAID, ["6", "1"])[-1]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        bought = finished(lambda: engine.reply(confirm.session, "1", AT))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert bought.screen == "pass_failed" and store.debits(PREPAID) == []
    with pytest.raises(StoreTimeout, match="locked"):
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            store.debit(PREPAID, "r1", 100)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert store._read("PRAGMA busy_timeout", ()) == [(int(BOUND * 1000),)]  # type: ignore[attr-defined]


def test_a_provider_outage_ends_the_dialogue_on_any_store() -> None:
    """The engine's side, whatever the store: a read failing as an outage is not an absence."""
    class Down(type(open_store("memory:"))):  # type: ignore[misc]
        def get(self, msisdn: str) -> Any:
            raise StoreUnreachable("memory: is down")

    response = engine_on(Down()).begin(PREPAID, "#122#", AT)
    assert (response.text, response.end, response.screen) == (UNAVAILABLE, True, ERROR_SCREEN)


# -- the watchdog, on an injected clock --------------------------------------------------------

def test_the_watchdog_cuts_only_what_outlives_its_deadline() -> None:
    now = [0.0]
    dog = Watchdog(clock=lambda: now[0])
    cuts: list[str] = []
    slow = dog.arm(1.0, lambda: cuts.append("slow"))
    quick = dog.arm(1.0, lambda: cuts.append("quick"))
    now[0] = 0.5
    assert dog.check() == 0 and dog.disarm(quick) is True
    now[0] = 1.0
    assert dog.check() == 1 and cuts == ["slow"]
    assert dog.disarm(slow) is False, "a cut operation must be told so"
    now[0] = 5.0
    assert dog.check() == 0 and cuts == ["slow"]
    dog.close()
