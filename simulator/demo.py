"""The embedded-defaults set-up: the shipped menus on the demo population, sessions in memory.

One place builds it, so the handset, the benchmark and the tests dial the same thing.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from accounts.demo import DemoAccounts
from ussd.engine import Engine
from ussd.loader import load_menus_or_raise
from ussd.registry import Registry
from ussd.sessions import Clock, MemorySessionStore

#: The menus shipped with the project (``menus/`` beside the packages), unless USSD_MENUS says otherwise.
SHIPPED_MENUS = Path(__file__).resolve().parent.parent / "menus"

#: A demo subscriber with bonus in every sub-account: what ``make run`` dials as.
DEMO_MSISDN = "2250701020304"


def default_menu_paths() -> list[str]:
    env = os.environ.get("USSD_MENUS")
    return env.split(os.pathsep) if env else [str(SHIPPED_MENUS)]


def demo_registry(accounts: DemoAccounts | None = None) -> Registry:
    return (accounts or DemoAccounts.load()).register(Registry())


def demo_engine(
    menu_paths: Sequence[str] | None = None,
    *,
    accounts: DemoAccounts | None = None,
    clock: Clock = time.monotonic,
    idle_timeout: float = 60.0,
    max_duration: float = 180.0,
) -> Engine:
    registry = demo_registry(accounts)
    menus = load_menus_or_raise(list(menu_paths or default_menu_paths()), registry)
    sessions = MemorySessionStore(clock, idle_timeout, max_duration)
    return Engine(menus, registry, sessions, clock=lambda: datetime.now(timezone.utc))
