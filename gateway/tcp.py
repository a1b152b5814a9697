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


def send_now(transport: Any, data: bytes) -> None:
    """Write ``data`` to the socket now when nothing waits before it, else as ``write`` does.
    Twisted's ``write`` sends on the loop's next turn, having asked epoll to watch the socket for
    writing, and unwatches it after: two system calls and a turn for every small request of a
    client that then waits for the answer (a step's Redis commands). Where the transport is not
    a socket's, or Twisted's buffers are not as this expects, it is ``write``."""
    sock = getattr(transport, "socket", None)
    if (sock is None or getattr(transport, "dataBuffer", b"x") or getattr(transport, "_tempDataLen", 1)
            or not transport.connected or transport.disconnecting):
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
