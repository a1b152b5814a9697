"""Shared fixtures: a fake clock, a test registry over a small in-memory population, engines."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ussd.engine import Engine
from ussd.loader import load_menus_or_raise
from ussd.registry import ActionCall, Outcome, ProviderCall, Registry
from ussd.sessions import MemorySessionStore

HERE = Path(__file__).parent
GOOD_MENUS = HERE / "menus" / "good"
BROKEN_MENUS = HERE / "menus" / "broken"
SHIPPED_MENUS = HERE.parent / "menus"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """Seconds that only move when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def shop_population() -> dict[str, dict[str, Any]]:
    return {
        "2250701000001": {"status": "active", "offer": "prepaid", "balance": 1500, "language": "fr",
                          "lines": [{"name": f"Ligne {n}", "amount": n * 100} for n in range(1, 31)]},
        "2250701000002": {"status": "active", "offer": "postpaid", "balance": 50, "language": "en", "lines": []},
        "2250701000003": {"status": "inactive", "offer": "prepaid", "balance": 35, "language": "fr", "lines": []},
    }


def shop_registry(population: dict[str, dict[str, Any]]) -> Registry:
    registry = Registry()

    def subscriber(call: ProviderCall) -> dict[str, Any] | None:
        return population.get(call.msisdn)

    def debit(call: ActionCall) -> Outcome:
        sub = population[call.msisdn]
        amount = int(call.args["amount"])
        if sub["balance"] < amount:
            return Outcome("insufficient_funds")
        sub["balance"] -= amount
        return Outcome("success", {"balance": sub["balance"]})

    registry.provider("subscriber", subscriber)
    registry.action("debit", debit, {"success", "insufficient_funds"})
    return registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def population() -> dict[str, dict[str, Any]]:
    return shop_population()


@pytest.fixture
def engine(clock: FakeClock, population: dict[str, dict[str, Any]]) -> Engine:
    registry = shop_registry(population)
    menus = load_menus_or_raise([GOOD_MENUS], registry)
    sessions = MemorySessionStore(clock, idle_timeout=60, max_duration=180)
    return Engine(menus, registry, sessions, clock=lambda: AT)


# -- account stores ------------------------------------------------------------------------------

#: The PostgreSQL server the suite runs against (a real one: CI starts it). Unreachable -> the
#: tests that need it fail, they are not skipped.
PG_URL = os.environ.get("USSD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"ussd_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each account store in turn: the same tests run against all of them."""
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    return request.getfixturevalue("pg_url")


# -- session stores ------------------------------------------------------------------------------

#: The Redis server the session suite runs against (a real one: CI starts it). Unreachable -> the
#: tests that need it fail, they are not skipped.
REDIS_URL = os.environ.get("USSD_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose keys carry a fresh prefix, deleted afterwards."""
    import redis

    prefix = f"ussd-test-{secrets.token_hex(6)}:"
    sep = "&" if "?" in REDIS_URL else "?"
    try:
        yield f"{REDIS_URL}{sep}prefix={prefix}"
    finally:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
