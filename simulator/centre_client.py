"""A handset on the fake USSD centre (:mod:`simulator.centre`), blocking: what ``ussd dial --via
smpp://HOST:PORT`` and ``ussd transcript --via`` dial through, so a walk goes handset -> centre ->
SMPP -> gateway -> engine and back, as on the network.

Each call waits for its one answer line, within ``timeout``. A timer that ended the dialogue while
the subscriber was reading may have said so unasked: :meth:`CentreHandset.reply` looks for that
line before sending, and returns it instead, as a phone shows "connection ended".
"""

from __future__ import annotations

import json
import select
import socket
from collections import deque
from types import TracebackType
from typing import Any

from ussd import gsm
from ussd.engine import Response

#: What a network timer's end looks like in a Response: no text, the dialogue over, this screen.
TIMEOUT_SCREEN = "timeout"
_MAX_LINE = 1 << 16


class CentreError(Exception):
    """The centre refused a command (its words), or could not be reached or read."""


class JsonLineSocket:
    """A blocking connection speaking one JSON object a line: each wait bounded by ``timeout``,
    each line at most 64 KiB, every failure a :class:`CentreError` naming ``peer``."""

    def __init__(self, host: str, port: int, timeout: float, peer: str) -> None:
        self.timeout = timeout
        self.peer = peer
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise CentreError(f"cannot reach {peer} at {host}:{port}: {exc.strerror or exc}") from None
        self._buffer = bytearray()

    def send(self, obj: dict[str, Any]) -> None:
        try:
            self._sock.sendall(json.dumps(obj).encode("utf-8") + b"\n")
        except OSError as exc:
            raise CentreError(f"the connection to {self.peer} failed: {exc.strerror or exc}") from None

    def next_line(self) -> dict[str, Any]:
        """The next line, waiting for it (within the timeout)."""
        while True:
            line = self._cut()
            if line is not None:
                return line
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise CentreError(f"no answer from {self.peer} within {self.timeout:g} s") from None
            except OSError as exc:
                raise CentreError(f"the connection to {self.peer} failed: {exc.strerror or exc}") from None
            if not data:
                raise CentreError(f"{self.peer} closed the connection")
            self._buffer += data

    def drain(self) -> list[dict[str, Any]]:
        """The lines said unasked, read without waiting."""
        while True:
            try:
                readable, _, _ = select.select([self._sock], [], [], 0)
                data = self._sock.recv(65536) if readable else b""
            except OSError:
                break
            if not data:
                break
            self._buffer += data
        lines = []
        while (line := self._cut()) is not None:
            lines.append(line)
        return lines

    def close(self) -> None:
        self._sock.close()

    def _cut(self) -> dict[str, Any] | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > _MAX_LINE:
                raise CentreError(f"{self.peer} sent a line longer than {_MAX_LINE} octets")
            return None
        raw = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        try:
            line = json.loads(raw)
        except ValueError:
            raise CentreError(f"{self.peer} sent a line that is not JSON: {raw[:60]!r}") from None
        if not isinstance(line, dict):
            raise CentreError(f"{self.peer} sent a line that is not an object: {raw[:60]!r}")
        return line


class CentreHandset:
    def __init__(self, host: str = "127.0.0.1", port: int = 2775, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._socket = JsonLineSocket(host, port, timeout, "the USSD centre")
        self._lines: deque[dict[str, Any]] = deque()

    # -- the handset -------------------------------------------------------------------------

    def begin(self, msisdn: str, code: str) -> Response:
        """Dial ``code`` as ``msisdn``: the first screen."""
        self._drain()
        self._lines.clear()  # what was left of an earlier dialogue
        self._send({"dial": code, "msisdn": msisdn})
        return self._answer()

    def reply(self, text: str) -> Response:
        """Answer the screen shown: the next one."""
        self._drain()
        while self._lines:
            line = self._lines.popleft()
            if line.get("end"):  # the network ended the dialogue before this reply
                return self._read(line)
        self._send({"reply": text})
        return self._answer()

    def hangup(self) -> None:
        """Hang up (nothing is answered)."""
        self._send({"hangup": True})

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> CentreHandset:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- the line protocol ---------------------------------------------------------------------

    def _send(self, obj: dict[str, Any]) -> None:
        self._socket.send(obj)

    def _drain(self) -> None:
        self._lines.extend(self._socket.drain())

    def _answer(self) -> Response:
        line = self._lines.popleft() if self._lines else self._socket.next_line()
        return self._read(line)

    def _read(self, line: dict[str, Any]) -> Response:
        if "error" in line:
            raise CentreError(str(line["error"]))
        session = str(line.get("session", ""))
        end = bool(line.get("end"))
        if line.get("timeout"):
            return Response(session, "", True, TIMEOUT_SCREEN)
        text = line.get("text")
        coding = line.get("coding")
        if not isinstance(text, str) or coding not in ("gsm7", "ucs2"):
            raise CentreError(f"the centre sent a line this handset cannot read: {str(line)[:80]}")
        units = line.get("units")
        if not isinstance(units, int):
            units = gsm.septets(text) if coding == "gsm7" and gsm.is_gsm7(text) else gsm.ucs2_units(text)
        return Response(session, text, end, None, 1, 1, coding, units)


def parse_via(text: str) -> tuple[str, int]:
    """``smpp://HOST:PORT`` (the address the centre takes binds on) -> (host, port); ValueError."""
    from gateway.config import parse_smpp_url

    try:
        link = parse_smpp_url(text)
    except ValueError:
        raise ValueError(f"expected smpp://HOST:PORT (the fake centre's address), found {text[:80]!r}") from None
    return link.host, link.port


class ViaCentre:
    """What the handset and the transcript runner call (``begin``, ``reply``, ``abort``) carried
    through a USSD centre to whatever gateway is bound to it, instead of a local engine. The
    instant of each step is the gateway's own (``ussd serve --at`` freezes it), not the caller's."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.handset = CentreHandset(host, port, timeout)

    def begin(self, msisdn: str, code: str, at: object = None, *, lang: str | None = None,
              session_id: str | None = None) -> Response:
        return self.handset.begin(msisdn, code)

    def reply(self, session_id: str, text: str, at: object = None) -> Response:
        return self.handset.reply(text)

    def abort(self, session_id: str) -> Response:
        self.handset.hangup()
        return Response(session_id, "", True)

    def close(self) -> None:
        self.handset.close()


class QaClient:
    """The gateway's QA control (``ussd serve --qa``, :mod:`gateway.qa`), blocking."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self._socket = JsonLineSocket(host, port, timeout, "the gateway's QA control")

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        self._socket.send(command)
        answer = self._socket.next_line()
        if "error" in answer:
            raise CentreError(f"the gateway's QA control: {answer['error']}")
        return answer

    def close(self) -> None:
        self._socket.close()


class ViaGateway(ViaCentre):
    """:class:`ViaCentre` with the gateway's QA control beside it: the screens come through the
    centre as a subscriber sees them, and what the network does not carry (the screen's id, the
    page) is asked of the gateway, which must have sent the very text the handset shows."""

    def __init__(self, centre: tuple[str, int], qa: tuple[str, int], timeout: float = 30.0) -> None:
        super().__init__(*centre, timeout=timeout)
        try:
            self.qa = QaClient(*qa, timeout=timeout)
        except CentreError:
            self.handset.close()
            raise
        self.msisdn = ""

    def begin(self, msisdn: str, code: str, at: object = None, *, lang: str | None = None,
              session_id: str | None = None) -> Response:
        self.msisdn = msisdn
        return self._shown(self.handset.begin(msisdn, code))

    def reply(self, session_id: str, text: str, at: object = None) -> Response:
        return self._shown(self.handset.reply(text))

    def _shown(self, seen: Response) -> Response:
        if seen.screen == TIMEOUT_SCREEN:  # the network's timer: the gateway sent nothing
            return seen
        sent = self.qa.call({"shown": self.msisdn})
        if sent.get("text") != seen.text or bool(sent.get("end")) != seen.end:
            raise CentreError(f"the handset shows {seen.text[:60]!r} (end {seen.end}) but the gateway sent "
                              f"{str(sent.get('text'))[:60]!r} (end {bool(sent.get('end'))})")
        return Response(seen.session, seen.text, seen.end, sent.get("screen"), int(sent.get("page") or 1),
                        int(sent.get("pages") or 1), seen.coding, seen.units)

    def close(self) -> None:
        super().close()
        self.qa.close()
