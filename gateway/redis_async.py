"""The gateway's Redis connection on the reactor's thread: each step's session reads before it runs
and its writes after, pipelined with every other dialogue's on one connection.

Why not redis-py from the workers (as the store does on its own): a worker waiting on a socket
hands the interpreter lock to the reactor and back, twice a step; that, not Redis, was most of
what shared dialogues cost (``bench/nodes.py``: 2.2 times an in-memory step's CPU). Here a step's
commands wait in the reactor's loop with everyone else's, and a busy node sends and reads many
steps' commands in one system call each.

Bounded: every batch has ``timeout`` seconds for its replies (then everything pending fails and
the connection is dropped: later replies could no longer be matched to their commands); a
connection that fails or drops is tried again after a delay that doubles up to
:data:`MAX_RETRY_S`, and meanwhile commands fail at once (the step shows "momentarily
unavailable": nothing queues up behind a dead server).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twisted.internet import defer, protocol
from twisted.python.failure import Failure

from ussd.redis_sessions import DEFAULT_TIMEOUT_S, Command, RedisAddress, SessionsUnavailable

from .reactor import Dialer, Timer
from .resp import Reply, ReplyReader, RespError, RespProtocolError, encode_command
from .tcp import hang_up, no_delay, send_now, transport_of

if TYPE_CHECKING:
    from twisted.internet.interfaces import IConnector

log = logging.getLogger("ussd.sessions")

#: The first delay before connecting again after a failure, and the longest.
FIRST_RETRY_S, MAX_RETRY_S = 0.1, 2.0


#: Told a batch's replies, or why there are none (a Deferred per batch cost more than its parse).
Then = Callable[[list[Reply] | SessionsUnavailable], None]


class _Batch:
    """Commands sent together, and whom to tell their replies."""

    __slots__ = ("count", "replies", "then", "sent")

    def __init__(self, count: int, then: Then, sent: float) -> None:
        self.count = count
        self.replies: list[Reply] = []
        self.then = then
        self.sent = sent


class RedisProtocol(protocol.Protocol):
    """One connection: batches out, replies matched to them in order."""

    def __init__(self, client: AsyncRedis) -> None:
        self.client = client
        self.reader = ReplyReader()
        self.waiting: deque[_Batch] = deque()

    def connectionMade(self) -> None:
        no_delay(self.transport)
        self.client._connected(self)

    def send(self, commands: list[Command], then: Then, now: float) -> None:
        self.waiting.append(_Batch(len(commands), then, now))
        transport = transport_of(self)
        if transport is None:
            raise RuntimeError("a Redis connection sends once connected")
        send_now(transport, b"".join([encode_command(*command) for command in commands]))

    def dataReceived(self, data: bytes) -> None:
        try:
            replies = self.reader.feed(data)
        except RespProtocolError as exc:
            log.error("Redis sent what is not its protocol (%s): connection dropped", exc)
            hang_up(self, abort=True)
            return
        waiting = self.waiting
        for reply in replies:
            if not waiting:
                log.error("Redis sent a reply to no command: connection dropped")
                hang_up(self, abort=True)
                return
            batch = waiting[0]
            batch.replies.append(reply)
            if len(batch.replies) == batch.count:
                waiting.popleft()
                batch.then(batch.replies)

    def fail_all(self, why: str) -> None:
        waiting, self.waiting = self.waiting, deque()
        for batch in waiting:
            batch.then(SessionsUnavailable(f"the session store (Redis): {why}"))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.fail_all(f"connection lost ({reason.getErrorMessage()})")
        self.client._lost(self)


class _Factory(protocol.ClientFactory):
    def __init__(self, client: AsyncRedis) -> None:
        self.client = client

    def buildProtocol(self, addr: object) -> RedisProtocol:
        return RedisProtocol(self.client)

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.client._failed(reason.getErrorMessage())


@dataclass
class _Retry:
    delay: float = FIRST_RETRY_S
    at: float = 0.0
    why: str = ""


class AsyncRedis:
    """A pipelining Redis client for the reactor's thread (only): :meth:`execute` sends a batch
    of commands and calls back with their replies (an error reply is a :class:`RespError` among
    them), or with SessionsUnavailable. Connects when first asked, and again after a loss;
    ``scripts`` (SHA-1 -> text) are loaded on every new connection, so EVALSHA always finds them."""

    def __init__(self, reactor: Dialer, address: RedisAddress, scripts: dict[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S,
                 resolve: Callable[[RedisAddress], defer.Deferred[tuple[str, int]]] | None = None) -> None:
        self.reactor = reactor
        self.address = address
        self.scripts = dict(scripts or {})
        self.timeout = timeout
        #: For a Sentinel address: finds the primary's (host, port) (off the reactor's thread).
        self.resolve = resolve
        self._link: RedisProtocol | None = None
        #: While connecting: the batches waiting for the connection.
        self._connecting: list[tuple[list[Command], Then]] | None = None
        self._connector: object = None
        self._retry = _Retry()
        self._watch: Timer | None = None
        #: A connection still being greeted (authentication, scripts): not yet serving.
        self._greeting: RedisProtocol | None = None
        self._closed = False

    # -- commands ------------------------------------------------------------------------------

    def execute(self, commands: list[Command], then: Then) -> None:
        """``commands`` in one pipeline; ``then`` is called with their replies, in order (or with
        SessionsUnavailable), on the reactor's thread."""
        link = self._link
        if link is None:
            self._connection(commands, then)
            return
        if not link.waiting:
            self._arm(self.reactor.seconds())
        link.send(commands, then, self.reactor.seconds())

    def _arm(self, since: float) -> None:
        if self._watch is None:
            self._watch = self.reactor.callLater(max(0.0, since + self.timeout - self.reactor.seconds()),
                                                 self._check_late)

    def _check_late(self) -> None:
        """The oldest batch waiting past ``timeout``: everything fails, the connection goes."""
        self._watch = None
        for link in (self._link, self._greeting):
            if link is None or not link.waiting:
                continue
            oldest = link.waiting[0].sent
            if self.reactor.seconds() - oldest >= self.timeout:
                log.warning("Redis did not answer within %g s: connection dropped", self.timeout)
                link.fail_all(f"no answer within {self.timeout:g} s")
                self._drop(link)
            else:
                self._arm(oldest)

    # -- the connection ------------------------------------------------------------------------

    def _connection(self, commands: list[Command], then: Then) -> None:
        """Send once connected (connecting if nobody is), or fail at once while the last
        failure's delay runs."""
        if self._closed:
            then(SessionsUnavailable("the session store (Redis): the client is closed"))
            return
        if self._connecting is not None:
            self._connecting.append((commands, then))
            return
        now = self.reactor.seconds()
        if now < self._retry.at:
            then(SessionsUnavailable(f"the session store (Redis) is unavailable ({self._retry.why}); "
                                     f"trying again in {self._retry.at - now:.1f} s"))
            return
        self._connecting = [(commands, then)]
        self._connect()

    def _connect(self) -> None:
        address = self.address
        if address.sentinels and self.resolve is not None:
            self.resolve(address).addCallbacks(lambda found: self._dial(*found),
                                               lambda failure: self._failed(failure.getErrorMessage()))
        elif address.path is not None:
            self._connector = self.reactor.connectUNIX(address.path, _Factory(self), timeout=self.timeout)
        else:
            self._dial(address.host, address.port)

    def _dial(self, host: str, port: int) -> None:
        self._connector = self.reactor.connectTCP(host, port, _Factory(self), timeout=self.timeout)

    def _connected(self, link: RedisProtocol) -> None:
        """Connected: authenticate, choose the database, load the scripts; then serve."""
        address = self.address
        hello: list[Command] = []
        if address.password is not None:
            hello.append(("AUTH", *([address.username] if address.username else []), address.password))
        if address.db:
            hello.append(("SELECT", address.db))
        hello.extend(("SCRIPT", "LOAD", text) for text in self.scripts.values())
        if not hello:
            self._ready(link)
            return
        self._greeting = link
        self._arm(self.reactor.seconds())
        link.send(hello, lambda replies: self._greeted(link, replies), self.reactor.seconds())

    def _greeted(self, link: RedisProtocol, replies: list[Reply] | SessionsUnavailable) -> None:
        self._greeting = None
        if isinstance(replies, SessionsUnavailable):
            self._failed(str(replies))
            return
        refused = [reply for reply in replies if isinstance(reply, RespError)]
        if refused:
            self._failed(f"refused at connection: {refused[0].message}")
            self._drop(link)
            return
        self._ready(link)

    def _ready(self, link: RedisProtocol) -> None:
        self._link = link
        self._retry = _Retry()
        waiting, self._connecting = self._connecting or [], None
        for commands, then in waiting:
            self.execute(commands, then)

    def _failed(self, why: str) -> None:
        """Connecting failed: the waiting steps are told, and no new try before the delay."""
        self._greeting = None
        retry = self._retry
        self._retry = _Retry(min(MAX_RETRY_S, retry.delay * 2), self.reactor.seconds() + retry.delay, why)
        log.warning("the session store (Redis) is unavailable: %s; trying again in %.1f s", why, retry.delay)
        waiting, self._connecting = self._connecting or [], None
        for _, then in waiting:
            then(SessionsUnavailable(f"the session store (Redis) is unavailable: {why}"))

    def _lost(self, link: RedisProtocol) -> None:
        if self._link is link:
            self._link = None
            if not self._closed:
                log.warning("the connection to the session store (Redis) was lost")
        elif self._connecting is not None:
            self._failed("the connection closed while connecting")

    def _drop(self, link: RedisProtocol) -> None:
        if self._link is link:
            self._link = None
        hang_up(link, abort=True)

    def close(self) -> None:
        self._closed = True
        if self._watch is not None and self._watch.active():
            self._watch.cancel()
        self._watch = None
        for link in (self._link, self._greeting):
            if link is not None:
                self._drop(link)
