"""The embedded-defaults set-up: the shipped menus on an account store, sessions in memory.

One place builds it, so the handset, the benchmark and the tests dial the same thing. By default
the store is the SQLite file under the user's data folder, loaded with the demo population the
first time it is empty.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from accounts.demo import DEMO_ACCOUNTS, demo_store
from accounts.policy import Policy, load_policy
from accounts.providers import AccountProviders
from accounts.store import AccountStore
from ussd.engine import Engine
from ussd.loader import load_menus_or_raise
from ussd.registry import Registry
from ussd.sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION, MemorySessionStore

from .clock import HandsetClock

#: The menus shipped with the project (``menus/`` beside the packages), unless USSD_MENUS says otherwise.
SHIPPED_MENUS = Path(__file__).resolve().parent.parent / "menus"

#: A demo subscriber with bonus in every sub-account: what ``make run`` dials as.
DEMO_MSISDN = "2250701020304"


def default_menu_paths() -> list[str]:
    env = os.environ.get("USSD_MENUS")
    return env.split(os.pathsep) if env else [str(SHIPPED_MENUS)]


def demo_registry(store: AccountStore | None = None, policy: Policy | None = None) -> Registry:
    policy = policy or load_policy()
    return AccountProviders(store or demo_store("memory:", policy), policy).register(Registry())


def demo_engine(
    menu_paths: Sequence[str] | None = None,
    *,
    db: str | None = "memory:",
    store: AccountStore | None = None,
    policy: Policy | None = None,
    clock: HandsetClock | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    max_duration: float = DEFAULT_MAX_DURATION,
) -> Engine:
    """``db=None`` is the embedded default (the SQLite file); ``"memory:"`` a private demo copy;
    ``store``, one the caller opened (and keeps, to read accounts before and after a walk). The
    engine and its session store both read ``clock`` (default: real time), so timers follow the
    instants the screens are computed at."""
    policy = policy or load_policy()
    clock = clock or HandsetClock()
    registry = demo_registry(store if store is not None else demo_store(db, policy), policy)
    menus = load_menus_or_raise(list(menu_paths or default_menu_paths()), registry)
    sessions = MemorySessionStore(clock.seconds, idle_timeout, max_duration)
    return Engine(menus, registry, sessions, clock=clock, tz=policy.tz)
