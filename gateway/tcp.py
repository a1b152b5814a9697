"""What every TCP connection of the USSD path needs from the socket."""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp


def no_delay(transport: Any) -> None:
    """Send each write at once (TCP_NODELAY). A USSD exchange is a few small PDUs that each wait
    for the peer's answer: with Nagle's algorithm on, a write held for the ACK of the one before
    meets the peer's delayed ACK, and a screen waits up to 40 ms on Linux for nothing. Transports
    without a socket (tests' string transports) have nothing to set."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)


class _Connection(tcp.Server):
    """An accepted connection whose local address is asked of the kernel once: Twisted's web
    server asks for it on every request (``Request.__init__``), a system call each time, a
    twentieth of a request's time on the reactor's thread under load."""

    _host: Any = None

    def getHost(self) -> Any:
        if self._host is None:
            self._host = super().getHost()
        return self._host


class _Port(tcp.Port):
    transport = _Connection


def listen(reactor: Any, port: int, factory: Any, interface: str) -> tcp.Port:
    """``reactor.listenTCP``, for a server whose connections' local address is read once."""
    listening = _Port(port, factory, 50, interface, reactor)
    listening.startListening()
    return listening
