"""The embedded-defaults set-up: the shipped menus on an account store, sessions in memory.

One place builds it, so the handset, the benchmark and the tests dial the same thing. By default
the store is the SQLite file under the user's data folder, loaded with the demo population the
first time it is empty.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from accounts.importer import read_subscribers
from accounts.policy import Policy, load_policy
from accounts.providers import AccountProviders
from accounts.store import AccountStore, open_store
from ussd.engine import Engine
from ussd.loader import load_menus_or_raise
from ussd.registry import Registry
from ussd.sessions import Clock, MemorySessionStore

#: The menus shipped with the project (``menus/`` beside the packages), unless USSD_MENUS says otherwise.
SHIPPED_MENUS = Path(__file__).resolve().parent.parent / "menus"
DEMO_ACCOUNTS = Path(__file__).resolve().parent.parent / "accounts" / "demo.yaml"

#: A demo subscriber with bonus in every sub-account: what ``make run`` dials as.
DEMO_MSISDN = "2250701020304"


def default_menu_paths() -> list[str]:
    env = os.environ.get("USSD_MENUS")
    return env.split(os.pathsep) if env else [str(SHIPPED_MENUS)]


def demo_store(url: str | None = None, policy: Policy | None = None) -> AccountStore:
    """The store at ``url`` (default: the embedded SQLite file), given the demo population if empty."""
    store = open_store(url)
    if store.count() == 0:
        store.put_many(read_subscribers(DEMO_ACCOUNTS, (policy or load_policy()).tz))
    return store


def demo_registry(store: AccountStore | None = None, policy: Policy | None = None) -> Registry:
    policy = policy or load_policy()
    return AccountProviders(store or demo_store("memory:", policy), policy).register(Registry())


def demo_engine(
    menu_paths: Sequence[str] | None = None,
    *,
    db: str | None = "memory:",
    clock: Clock = time.monotonic,
    idle_timeout: float = 60.0,
    max_duration: float = 180.0,
) -> Engine:
    """``db=None`` is the embedded default (the SQLite file); ``"memory:"`` a private demo copy."""
    policy = load_policy()
    registry = demo_registry(demo_store(db, policy), policy)
    menus = load_menus_or_raise(list(menu_paths or default_menu_paths()), registry)
    sessions = MemorySessionStore(clock, idle_timeout, max_duration)
    return Engine(menus, registry, sessions, clock=lambda: datetime.now(timezone.utc), tz=policy.tz)
