"""What every TCP connection of the USSD path needs from the socket."""

from __future__ import annotations

from typing import Any


def no_delay(transport: Any) -> None:
    """Send each write at once (TCP_NODELAY). A USSD exchange is a few small PDUs that each wait
    for the peer's answer: with Nagle's algorithm on, a write held for the ACK of the one before
    meets the peer's delayed ACK, and a screen waits up to 40 ms on Linux for nothing. Transports
    without a socket (tests' string transports) have nothing to set."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)
