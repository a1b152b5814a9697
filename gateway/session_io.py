"""A shared session store's I/O, done by the reactor around each step (see ``gateway.steps``).

The engine reads and writes the session store as it always does; for a step the gateway runs, the
Redis store answers its reads from what the reactor fetched before the step, and keeps its writes
for the reactor to send after it (:class:`ussd.redis_sessions.StagedStep`). One definition of
what a step does, whoever does the I/O: the store alone, in tests and tools, or the reactor here.

After the step: a store that lost its compare-and-set (another node stepped the dialogue
meanwhile) answers with the screen the winner left, as the engine does when it finds out itself;
Redis failing answers "momentarily unavailable".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer, threads

from ussd.engine import Engine, Response
from ussd.errors import Unavailable
from ussd.loader import split_short_code
from ussd.redis_sessions import (
    RedisAddress,
    RedisSessionStore,
    SessionsUnavailable,
    StagedStep,
    find_primary,
    redis_address,
)
from ussd.sessions import SessionConflict

from .reactor import Reactor, twisted_threads
from .redis_async import AsyncRedis
from .resp import Reply
from .steps import Redo, as_failure

log = logging.getLogger("ussd.sessions")
T = TypeVar("T")


class StagedSessions:
    """Builds each step's :class:`SessionStepIO` for ``store``, its I/O on ``client``."""

    def __init__(self, store: RedisSessionStore, client: AsyncRedis) -> None:
        self.store = store
        self.client = client

    @classmethod
    def connect(cls, reactor: Reactor, store: RedisSessionStore, url: str) -> StagedSessions | None:
        """For the store opened from ``url``; None where the reactor cannot reach it itself (TLS:
        the store's own client then does the I/O, from the workers)."""
        address = redis_address(url)
        if address.tls:
            log.warning("sessions over TLS: each step's Redis I/O runs on its worker (redis-py), "
                        "about twice the CPU a step costs otherwise")
            return None

        def resolve(found: RedisAddress) -> defer.Deferred[tuple[str, int]]:
            return threads.deferToThreadPool(twisted_threads(reactor), reactor.getThreadPool(), find_primary, found)

        return cls(store, AsyncRedis(reactor, address, store.scripts, resolve=resolve if address.sentinels else None))

    def step(self, engine: Engine, session: str, dial: tuple[str, str] | None = None,
             reads_record: bool = True) -> SessionStepIO:
        """The I/O of one step of ``session``: ``dial`` (the number and the code dialled) when
        it may begin a dialogue; ``reads_record`` unless it only begins one."""
        parsed = split_short_code(dial[1]) if dial is not None else None
        dropped = (dial[0], parsed[0]) if dial is not None and parsed is not None else None
        return SessionStepIO(self, engine, StagedStep(session, reads_record, dropped))

    def close(self) -> None:
        self.client.close()


class SessionStepIO:
    """One step's reads before it, and writes after it (:class:`gateway.steps.StepIO`)."""

    __slots__ = ("owner", "engine", "staged")

    def __init__(self, owner: StagedSessions, engine: Engine, staged: StagedStep) -> None:
        self.owner = owner
        self.engine = engine
        self.staged = staged

    def before(self, then: Callable[[], None]) -> None:
        commands = self.owner.store.reads(self.staged)
        if not commands:
            then()
            return

        def fetched(replies: list[Reply] | SessionsUnavailable) -> None:
            if isinstance(replies, SessionsUnavailable):
                self.staged.down = replies  # the step's every store operation raises it, as it would have
            else:
                self.staged.fetched(commands, replies)
            then()

        self.owner.client.execute(commands, fetched)

    def within(self, work: Callable[[], T]) -> T:
        return self.owner.store.staged(self.staged, work)

    def after(self, value: Any, then: Callable[[Any], None]) -> None:
        staged = self.staged
        commands = staged.writes()
        if not commands and not staged.settled:
            then(value)
        elif not commands:
            then(self._judge([], value))
        else:
            self.owner.client.execute(commands, lambda replies: then(self._judge(replies, value)))

    def _judge(self, replies: list[Reply] | SessionsUnavailable, value: Any) -> Any:
        """The step's result if what it wrote stands; else what answers instead."""
        try:
            if isinstance(replies, SessionsUnavailable):
                raise replies
            self.staged.settle(replies)
        except SessionConflict:
            engine, session = self.engine, self.staged.session_id
            log.info("dialogue %s: stepped elsewhere meanwhile; answering with the screen stored there", session)
            return Redo(lambda: engine.shown(session), self.owner.step(engine, session))
        except Unavailable as exc:
            return self._unavailable(exc, value)
        except Exception:  # a bug: the runner reports it as a failed step
            return as_failure()
        return value

    def _unavailable(self, exc: Unavailable, value: Any) -> Any:
        """What the step wrote is not stored: its screen cannot stand (an abort's silence can)."""
        if isinstance(value, Response) and value.text:
            return self.engine.sessions_down(self.staged.session_id, exc)
        log.warning("dialogue %s: %s", self.staged.session_id, exc)
        return value
