"""The reactor as the gateway uses it, typed: what it calls, as Protocols.

Twisted declares its reactor as zope interfaces (``IReactorTime``, ``IReactorTCP``...) whose
methods have no ``self``: mypy reads them only through the mypy-zope plugin, and without it every
call on an interface-typed value is an error, and no class (not even ``task.Clock``) is one. So the
gateway's parts say what they call of the reactor here, each as little as it needs (the tests give
them ``task.Clock`` or ``MemoryReactorClock``); where a value goes back to Twisted's own typed API,
:func:`twisted_clock` and :func:`twisted_threads` say what it is there, and :func:`global_reactor`
is Twisted's reactor as these Protocols see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet import protocol

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
    from twisted.python.threadpool import ThreadPool


class Timer(Protocol):
    """A call :meth:`Clock.callLater` scheduled (Twisted's ``IDelayedCall``)."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """The time and its timers (``IReactorTime``)."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., object], /, *args: object, **kw: object) -> Timer: ...


class ThreadedClock(Clock, Protocol):
    """A clock whose loop takes calls from other threads (``IReactorThreads``): the step runner's."""

    def callFromThread(self, callable: Callable[..., object], /, *args: object, **kw: object) -> None: ...


class Dialer(Clock, Protocol):
    """A clock that opens connections (``IReactorTCP``, ``IReactorUNIX``): the Redis client's."""

    def connectTCP(self, host: str, port: int, factory: protocol.ClientFactory, timeout: float = 30,
                   bindAddress: tuple[str, int] | None = None) -> object: ...

    def connectUNIX(self, address: str, factory: protocol.ClientFactory, timeout: float = 30,
                    checkPID: bool = False) -> object: ...


class Reactor(ThreadedClock, Dialer, Protocol):
    """The whole reactor, as ``ussd serve`` drives it."""

    def listenTCP(self, port: int, factory: protocol.Factory[Any], backlog: int = 50,
                  interface: str = "") -> object: ...

    def getThreadPool(self) -> ThreadPool: ...

    def callWhenRunning(self, callable: Callable[..., object], /, *args: object, **kw: object) -> object: ...

    def run(self, installSignalHandlers: bool = True) -> None: ...

    def stop(self) -> None: ...


def twisted_clock(clock: Clock) -> IReactorTime:
    """``clock`` where Twisted asks for an ``IReactorTime`` (``LoopingCall.clock``, ``deferLater``,
    ``Deferred.addTimeout``): what it calls of one is what :class:`Clock` says."""
    return cast("IReactorTime", clock)


def twisted_threads(reactor: Reactor) -> IReactorFromThreads:
    """``reactor`` where Twisted asks for an ``IReactorFromThreads`` (``deferToThreadPool``)."""
    return cast("IReactorFromThreads", reactor)


def global_reactor() -> Reactor:
    """Twisted's global reactor (installed on first use)."""
    from twisted.internet import reactor

    return cast(Reactor, reactor)
