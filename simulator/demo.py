"""The embedded-defaults set-up: the shipped menus on an account store, sessions in memory.

One place builds it, so the handset, the benchmark and the tests dial the same thing. By default
the store is the SQLite file under the user's data folder, loaded with the demo population the
first time it is empty.
"""

from __future__ import annotations

from collections.abc import Sequence

from accounts.demo import demo_store
from accounts.policy import Policy, load_policy
from accounts.providers import AccountProviders
from accounts.store import AccountStore
from gateway.config import ServerConfig
from gateway.service import SHIPPED_MENUS, build, default_menu_paths
from ussd.engine import Engine
from ussd.registry import Registry
from ussd.sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION

from .clock import HandsetClock

# SHIPPED_MENUS, default_menu_paths and demo_store are re-exported: the set-up is read from here
__all__ = ["DEMO_MSISDN", "SHIPPED_MENUS", "default_menu_paths", "demo_engine", "demo_registry", "demo_store"]

#: A demo subscriber with bonus in every sub-account: what ``make run`` dials as.
DEMO_MSISDN = "2250701020304"


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
    instants the screens are computed at. Built by the one builder (``gateway.service.build``)."""
    policy = policy or load_policy()
    config = ServerConfig(menus=tuple(menu_paths or ()), db=db, idle_timeout=idle_timeout, max_duration=max_duration)
    store = store if store is not None else demo_store(db, policy)
    return build(config, store=store, clock=clock or HandsetClock(), policy=policy).engine
