"""The one place that builds a running service from a configuration: menus, account store, policy,
catalogue, session store, time zone, timers. ``ussd serve``, ``ussd dial``, the fake centre's QA
set-ups, the tests and the benchmarks all build theirs here, so they run the same thing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from accounts.catalogue import CATALOGUE_FILE, load_catalogue
from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.policy import POLICY_FILE, Policy, load_policy
from accounts.providers import AccountProviders
from accounts.store import AccountStore, open_store
from ussd.engine import Engine
from ussd.loader import MenuError, load_menus_or_raise
from ussd.registry import Registry
from ussd.sessions import MemorySessionStore, SessionStore

from .config import ServerConfig

log = logging.getLogger("ussd.service")


class Clock(Protocol):
    """What the engine and the session store read: the instant screens are computed at, and the
    seconds timers count in (a frozen clock may keep both still: see ``simulator.clock``)."""

    def __call__(self) -> datetime: ...

    def seconds(self) -> float: ...


@dataclass
class WallClock:
    """Real time for the session timers; the screens' instant real too, or frozen at ``at``."""

    tz: tzinfo
    at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else datetime.now(self.tz)

    def seconds(self) -> float:
        return time.monotonic()


@dataclass
class Service:
    config: ServerConfig
    engine: Engine
    store: AccountStore
    policy: Policy
    sessions: SessionStore
    clock: Clock

    def close(self) -> None:
        self.store.close()


#: The menus shipped with the project (``menus/`` beside the packages).
SHIPPED_MENUS = Path(__file__).resolve().parent.parent / "menus"


def default_menu_paths() -> list[str]:
    """The shipped menus, unless ``USSD_MENUS`` names others (paths joined by the OS's separator)."""
    env = os.environ.get("USSD_MENUS")
    return env.split(os.pathsep) if env else [str(SHIPPED_MENUS)]


def menu_paths(config: ServerConfig) -> list[str]:
    """Where the service's menus are read from: the configuration's, else the defaults."""
    return list(config.menus) or default_menu_paths()


class ReloadRunning(Exception):
    """A reload was asked while another was running (the second is refused, not queued)."""


@dataclass(frozen=True)
class Reloaded:
    """What a reload did: the version now served, whether it changed, and the problems that
    made it refuse the new menus (then the old ones keep serving)."""

    version: str
    changed: bool = False
    problems: tuple[str, ...] = ()
    #: Menu versions still kept for dialogues begun on them.
    kept: int = 0


def reload_menus(service: Service) -> Reloaded:
    """Read the service's menus again and begin new dialogues on them, if they pass the checks
    ``ussd serve`` starts with; running dialogues finish on the version they began on. Slow
    (reads and compiles every file): off the reactor's thread."""
    engine = service.engine
    try:
        menus = load_menus_or_raise(menu_paths(service.config), engine.registry)
    except MenuError as exc:
        return Reloaded(engine.version, problems=tuple(str(problem) for problem in exc.problems))
    changed = engine.reload(menus)
    return Reloaded(engine.version, changed, kept=len(engine.retired()))


def open_sessions(config: ServerConfig, clock: Clock) -> SessionStore:
    """Where dialogues live between steps: this process's memory, or Redis (several nodes). In
    Redis their times are the nodes' shared wall clock, unless the clock is a QA one (frozen or
    steered: then its own seconds, so a transcript's clock moves reach the timers there too)."""
    if config.sessions is None:
        return MemorySessionStore(clock.seconds, config.idle_timeout, config.max_duration)
    from ussd.redis_sessions import RedisSessionStore, redis_client

    client, prefix = redis_client(config.sessions)
    seconds = time.time if isinstance(clock, WallClock) else clock.seconds
    return RedisSessionStore(client, seconds, config.idle_timeout, config.max_duration, prefix=prefix)


def build(config: ServerConfig, *, store: AccountStore | None = None, clock: Clock | None = None,
          policy: Policy | None = None) -> Service:
    """A service as ``config`` says. ``store``, ``clock`` and ``policy``: ones the caller made
    (tests, the handset's steerable clock). The store is filled with the demo population only with
    ``config.demo`` and only when it is empty. Raises the loaders' errors (MenuError,
    PolicyError, CatalogueError, StoreError), each naming what is wrong where."""
    policy = policy or load_policy(config.policy or POLICY_FILE)
    tz = ZoneInfo(config.timezone)
    catalogue = load_catalogue(config.catalogue or CATALOGUE_FILE)
    if store is None:
        store = open_store(config.db, config.db_timeout)
        if config.demo:
            store.migrate()
            if store.count() == 0:
                store.put_many(read_subscribers(DEMO_ACCOUNTS, policy.tz))
    registry = AccountProviders(store, policy, catalogue).register(Registry())
    loaded = load_menus_or_raise(menu_paths(config), registry)
    at = config.at if config.at is None or config.at.tzinfo is not None else config.at.replace(tzinfo=tz)
    clock = clock or WallClock(tz, at)
    if at is not None:
        log.warning("THE ENGINE'S CLOCK IS FROZEN AT %s (--at): for QA set-ups only", at.isoformat())
    sessions = open_sessions(config, clock)
    engine = Engine(loaded, registry, sessions, clock=clock, tz=tz)
    return Service(config, engine, store, policy, sessions, clock)
