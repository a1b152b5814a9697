"""What every TCP connection of the USSD path needs from the socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet import address, protocol, tcp

if TYPE_CHECKING:
    from twisted.internet.interfaces import IProtocolFactory

    from .reactor import Reactor


class Transport(Protocol):
    """What the USSD path asks of a connection (Twisted's ``ITCPTransport``, an interface mypy
    cannot call without the mypy-zope plugin: see :mod:`gateway.reactor`)."""

    def write(self, data: bytes) -> None: ...

    def loseConnection(self) -> None: ...

    def abortConnection(self) -> None: ...


class Listener(Protocol):
    """A port listening (Twisted's ``IListeningPort``)."""

    def stopListening(self) -> object: ...


def transport_of(connection: protocol.Protocol) -> Transport | None:
    """The transport ``connection`` is connected by (None before it connects)."""
    return cast("Transport | None", connection.transport)


def hang_up(connection: protocol.Protocol, abort: bool = False) -> None:
    """Close ``connection`` once what was written is sent, or at once, dropping it (``abort``);
    nothing if it never connected."""
    transport = transport_of(connection)
    if transport is None:
        return
    if abort:
        transport.abortConnection()
    else:
        transport.loseConnection()


def no_delay(transport: object) -> None:
    """Send each write at once (TCP_NODELAY). A USSD exchange is a few small PDUs that each wait
    for the peer's answer: with Nagle's algorithm on, a write held for the ACK of the one before
    meets the peer's delayed ACK, and a screen waits up to 40 ms on Linux for nothing. Transports
    without a socket (tests' string transports) have nothing to set."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)


def send_now(transport: Transport, data: bytes) -> None:
    """Write ``data`` to the socket now when nothing waits before it, else as ``write`` does.
    Twisted's ``write`` sends on the loop's next turn, having asked epoll to watch the socket for
    writing, and unwatches it after: two system calls and a turn for every small request of a
    client that then waits for the answer (a step's Redis commands). Where the transport is not
    a socket's, or Twisted's buffers are not as this expects, it is ``write``."""
    sock = getattr(transport, "socket", None)
    buffered = getattr(transport, "dataBuffer", b"x") or getattr(transport, "_tempDataLen", 1)
    if (sock is None or buffered or not getattr(transport, "connected", False)
            or getattr(transport, "disconnecting", True)):
        transport.write(data)
        return
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:  # the connection is going: Twisted's own write finds out and reports it
        transport.write(data)
        return
    if sent < len(data):
        transport.write(data[sent:])


class _Connection(tcp.Server):
    """An accepted connection whose local address is asked of the kernel once: Twisted's web
    server asks for it on every request (``Request.__init__``), a system call each time, a
    twentieth of a request's time on the reactor's thread under load."""

    _host: address.IPv4Address | address.IPv6Address | None = None

    def getHost(self) -> address.IPv4Address | address.IPv6Address:
        if self._host is None:
            self._host = super().getHost()  # type: ignore[no-untyped-call]  # Twisted's is unannotated
        return self._host


class _Port(tcp.Port):
    transport = _Connection


def listen(reactor: Reactor, port: int, factory: protocol.Factory[Any], interface: str) -> Listener:
    """``reactor.listenTCP``, for a server whose connections' local address is read once."""
    # a Factory is an IProtocolFactory, which mypy cannot see without the mypy-zope plugin
    listening = _Port(port, cast("IProtocolFactory", factory), 50, interface, reactor)
    listening.startListening()
    return listening
