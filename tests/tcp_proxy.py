"""A TCP proxy on 127.0.0.1 in front of a real server, that a test can take down and bring back
on the same port: what a store sees when its server restarts, fails over or vanishes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.up()

    def up(self) -> None:
        """Listen (again, on the same port) and forward every connection to the target."""
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)

    def down(self) -> None:
        """Refuse new connections and cut every open one, as a server going away does."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            opened, self._open = self._open, set()
        for sock in opened:
            _cut(sock)
        for thread in self._threads:
            thread.join(5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def url(self, base: str) -> str:
        """``base`` (a postgresql:// URL on the target) through this proxy."""
        host = f"{self.target[0]}:{self.target[1]}"
        assert host in base, base
        return base.replace(host, f"127.0.0.1:{self.port}")

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=5)
            server.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        for chunk in _chunks(source):
            try:
                sink.sendall(chunk)
            except OSError:
                break
        _cut(sink)
        _cut(source)


def _chunks(sock: socket.socket) -> Iterator[bytes]:
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        yield chunk


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
