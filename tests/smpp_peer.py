"""One end of an SMPP link over a real socket, for tests: the sans-IO session on a blocking socket
with bounded waits, so a test can play the centre against `ussd serve` PDU by PDU."""

from __future__ import annotations

import socket
import time
from typing import Any

from gateway import pdu
from gateway.smpp_session import Request, SmppSession


class SocketPeer:
    def __init__(self, sock: socket.socket, role: str = "smsc", timeout: float = 20.0) -> None:
        self.sock = sock
        self.session = SmppSession(role)  # type: ignore[arg-type]
        self.timeout = timeout
        self.events: list[Any] = []
        sock.settimeout(0.2)

    @classmethod
    def accept(cls, listener: socket.socket, timeout: float = 30.0) -> SocketPeer:
        listener.settimeout(timeout)
        sock, _ = listener.accept()
        return cls(sock)

    def flush(self) -> None:
        out = self.session.data_to_send()
        if out:
            self.sock.sendall(out)

    def next_event(self, timeout: float | None = None) -> Any:
        """The next event from the other end (its requests are left for the test to answer)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.events:
            if time.monotonic() > deadline:
                raise TimeoutError("no PDU from the other end in time")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the other end closed the connection")
            self.events.extend(self.session.receive(data, time.monotonic()))
            self.flush()  # what the session answers itself (enquire_link, faults)
        return self.events.pop(0)

    def expect_request(self, command: str, timeout: float | None = None) -> pdu.Pdu:
        """The next request of ``command``, skipping answers to our own requests."""
        while True:
            event = self.next_event(timeout)
            if isinstance(event, Request):
                assert event.pdu.command == command, f"expected {command}, got {event.pdu.command}"
                return event.pdu

    def bind(self, *modes: str) -> pdu.Pdu:
        """Accept the other end's bind (of one of ``modes``; default: a transceiver)."""
        while True:
            event = self.next_event()
            if isinstance(event, Request):
                break
        request = event.pdu
        assert request.command in [f"bind_{mode}" for mode in (modes or ("transceiver",))], request.command
        self.session.accept_bind(request)
        self.flush()
        return request

    def deliver(self, **fields: Any) -> None:
        self.session.request("deliver_sm", now=time.monotonic(), **fields)
        self.flush()

    def screen(self, timeout: float | None = None) -> pdu.Pdu:
        """The next submit_sm, answered."""
        submit = self.expect_request("submit_sm", timeout)
        self.session.respond(submit, message_id=f"m{submit.sequence}")
        self.flush()
        return submit

    def close(self) -> None:
        self.sock.close()
