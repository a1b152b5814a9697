"""The fake USSD centre on real TCP (127.0.0.1, a free port): ``ussd centre`` in a subprocess, a tiny
ESME made of the gateway's SmppSession on a plain socket, and handsets through the blocking client.
Every wait is bounded; nothing asserts how long anything took."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway import pdu
from gateway.smpp_session import Answer, BindRefused, Bound, Request, SmppSession, Unbound
from gateway.ussd_smpp import DIALECTS, Abort, Begin, Reply, UssdSmpp
from simulator.centre import main
from simulator.centre_client import TIMEOUT_SCREEN, CentreError, CentreHandset
from ussd.engine import Response

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIBER = "2250701020304"
MENU = "Menu\n1. Solde\n2. Bonus"
WAIT = 10.0  # the bound on every wait: a failing test fails within it


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"not within {WAIT} s: {what}")


@dataclass
class Running:
    """A running ``ussd centre``: its port, its process and its log."""

    port: int
    proc: subprocess.Popen[str]
    errors: Any

    def log(self) -> str:
        self.errors.seek(0)
        return str(self.errors.read())


@contextmanager
def centre(*args: str) -> Iterator[Running]:
    """``ussd centre`` on a free port; SIGTERM at the end, which must exit 0 with no traceback."""
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from simulator.centre import main; sys.exit(main(sys.argv[1:]))",
             "--port", "0", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], WAIT * 2)
            line = proc.stdout.readline() if ready else ""
            match = re.search(r"listening on 127\.0\.0\.1:(\d+) ", line)
            assert match, f"no listening line: {line!r}"
            yield Running(int(match.group(1)), proc, errors)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(WAIT * 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(WAIT)
            errors.seek(0)
            log = errors.read()
        assert proc.returncode == 0, log
        assert "Traceback" not in log, log


class TinyEsme(threading.Thread):
    """A gateway that answers each deliver_sm with a fixed screen: the menu to a dial, the end to a
    reply. ``via``: the transmitter its submit_sm go by (a transmitter+receiver pair)."""

    def __init__(self, port: int, dialect: str = "default", mode: str = "transceiver", answer: bool = True,
                 via: TinyEsme | None = None, system_id: str = "gw", password: str = "pw") -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock.settimeout(0.05)
        self.session = SmppSession("esme")
        self.mapping = UssdSmpp(DIALECTS[dialect])
        self.answer, self.via = answer, via or self
        self.events: list[Any] = []
        self.units: list[Any] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ended = threading.Event()
        with self.lock:
            self.session.bind(mode, system_id, password)
            self._flush()
        self.start()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    for event in self.session.receive(data):
                        self.events.append(event)
                        if isinstance(event, Request) and event.pdu.command == "deliver_sm":
                            self._deliver(event.pdu)
                    self._flush()
        finally:
            self.ended.set()

    def _deliver(self, read: pdu.Pdu) -> None:
        self.session.respond(read)
        unit = self.mapping.receive(read)
        self.units.append(unit)
        if not self.answer or not isinstance(unit, (Begin, Reply)):
            return
        screen = (Response(unit.unit.session, MENU, False) if isinstance(unit, Begin)
                  else Response(unit.unit.session, f"Choix {unit.text}. Au revoir", True))
        self.via.submit(self.mapping.submit(screen, unit.unit), mine=self.via is self)

    def submit(self, fields: dict[str, Any], mine: bool = False) -> None:
        if mine:  # the lock is held already
            self.session.request("submit_sm", **fields)
            return
        with self.lock:
            self.session.request("submit_sm", **fields)
            self._flush()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.sock.sendall(data)

    def of(self, kind: type) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.stopping.set()
        self.join(WAIT)
        self.sock.close()


@contextmanager
def esme(port: int, **kwargs: Any) -> Iterator[TinyEsme]:
    gateway = TinyEsme(port, **kwargs)
    try:
        yield gateway
    finally:
        gateway.close()


def bound(gateway: TinyEsme) -> TinyEsme:
    wait_for(lambda: gateway.of(Bound) or gateway.of(BindRefused), "an answer to the bind")
    assert gateway.of(Bound), gateway.events
    return gateway


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_dialogue_through_the_centre_in_each_dialect(dialect: str) -> None:
    with centre("--dialect", dialect) as running, esme(running.port, dialect=dialect) as gateway:
        bound(gateway)
        with CentreHandset("127.0.0.1", running.port, WAIT) as handset:
            first = handset.begin(SUBSCRIBER, "#122#")
            assert (first.text, first.end, first.coding, first.units) == (MENU, False, "gsm7", len(MENU))
            assert first.session == f"centre:{SUBSCRIBER}:0"
            last = handset.reply("1")
            assert (last.text, last.end) == ("Choix 1. Au revoir", True)
            assert handset.begin(SUBSCRIBER, "*122*6#").text == MENU  # the number is free again: recycled
            handset.hangup()
            if DIALECTS[dialect].abort_ops or DIALECTS[dialect].end_flag_aborts:
                wait_for(lambda: isinstance(gateway.units[-1], Abort), "the abort")
        assert [type(u) for u in gateway.units][:3] == [Begin, Reply, Begin]
        assert all(a.status == pdu.ROK for a in gateway.of(Answer) if a.request == "submit_sm")


def test_a_transmitter_and_receiver_pair_from_one_gateway() -> None:
    with centre() as running, esme(running.port, mode="transmitter") as tx:
        bound(tx)
        with esme(running.port, mode="receiver", via=tx) as rx:
            bound(rx)
            with CentreHandset("127.0.0.1", running.port, WAIT) as handset:
                assert handset.begin(SUBSCRIBER, "#122#").text == MENU
                assert handset.reply("2").end
            assert [type(u) for u in rx.units] == [Begin, Reply] and tx.units == []
            # the centre shows the screen and answers the submit_sm at once: the handset may read
            # its screen before the transmitter reads that answer
            answered = lambda: [a.status for a in tx.of(Answer) if a.request == "submit_sm"]  # noqa: E731
            wait_for(lambda: len(answered()) == 2, "the second submit_sm_resp")
            assert answered() == [pdu.ROK, pdu.ROK]


def test_the_step_timer_ends_the_dialogue_on_both_sides_over_tcp() -> None:
    with centre("--step-timeout", "0.2") as running, esme(running.port, answer=False) as gateway:
        bound(gateway)
        with CentreHandset("127.0.0.1", running.port, WAIT) as handset:
            ended = handset.begin(SUBSCRIBER, "#122#")
            assert (ended.text, ended.end, ended.screen) == ("", True, TIMEOUT_SCREEN)
        wait_for(lambda: [type(u) for u in gateway.units] == [Begin, Abort], "the abort")


def test_the_dialogue_limit_is_told_unasked_and_the_next_reply_sees_it() -> None:
    with centre("--max-duration", "0.3") as running, esme(running.port) as gateway:
        bound(gateway)
        with CentreHandset("127.0.0.1", running.port, WAIT) as handset:
            assert handset.begin(SUBSCRIBER, "#122#").text == MENU
            wait_for(lambda: any(isinstance(u, Abort) for u in gateway.units), "the abort")
            ended = handset.reply("1")  # the subscriber answers too late
            assert (ended.end, ended.screen) == (True, TIMEOUT_SCREEN)
            assert handset.begin(SUBSCRIBER, "#122#").text == MENU  # nothing stale in the way


def test_bind_credentials_when_configured() -> None:
    with centre("--system-id", "gw", "--password", "secret") as running:
        with esme(running.port, password="wrong") as refused:
            wait_for(lambda: refused.of(BindRefused), "the refusal")
            assert refused.of(BindRefused) == [BindRefused(pdu.RINVPASWD)]
        with esme(running.port, system_id="gw", password="secret") as accepted:
            bound(accepted)


def test_garbage_on_both_kinds_of_connection_is_answered_and_the_centre_serves_on() -> None:
    with centre() as running:
        with socket.create_connection(("127.0.0.1", running.port), timeout=WAIT) as smpp:
            smpp.sendall(pdu.HEADER.pack(16, 0x99, 0, 5))  # an unknown command
            assert recv_exactly(smpp, 16) == pdu.encode_nack(5, pdu.RINVCMDID)
            smpp.sendall(b"\x00\x00\x00\x05garbage")  # a length no PDU has: nack, then closed
            assert recv_exactly(smpp, 16) == pdu.encode_nack(0, pdu.RINVCMDLEN)
            assert smpp.recv(16) == b""
        with socket.create_connection(("127.0.0.1", running.port), timeout=WAIT) as raw:
            raw.sendall(b"hello\n\xff\xfe\n[1]\n" + b"{" * 5000 + b"\n")
            lines = [recv_line(raw) for _ in range(4)]
            said_each = ["not JSON", "not UTF-8", "not a JSON object", "line longer than 4096"]
            for line, said in zip(lines, said_each, strict=True):
                assert said in line and line.startswith('{"error": ')
        with esme(running.port) as gateway, CentreHandset("127.0.0.1", running.port, WAIT) as handset:
            bound(gateway)
            assert handset.begin(SUBSCRIBER, "#122#").text == MENU


def test_handset_errors_over_tcp() -> None:
    with centre() as running, CentreHandset("127.0.0.1", running.port, WAIT) as handset:
        with pytest.raises(CentreError, match="no gateway bound"):
            handset.begin(SUBSCRIBER, "#122#")
        with pytest.raises(CentreError, match="no dialogue open"):
            handset.reply("1")
        with esme(running.port) as gateway:
            bound(gateway)
            with pytest.raises(CentreError, match="not a phone number"):
                handset.begin("12", "#122#")
            assert handset.begin(SUBSCRIBER, "#122#").text == MENU


def test_shutdown_ends_dialogues_and_unbinds_the_gateway() -> None:
    with centre() as running, esme(running.port) as gateway, CentreHandset("127.0.0.1", running.port, WAIT) as handset:
        bound(gateway)
        assert handset.begin(SUBSCRIBER, "#122#").text == MENU
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(WAIT * 2) == 0
        wait_for(lambda: gateway.of(Unbound), "the centre's unbind")
        with pytest.raises(CentreError, match="shutting down"):
            handset.reply("1")


def test_sigusr1_freezes_the_centre_and_sigusr2_thaws_it() -> None:
    with centre("--step-timeout", "0.2") as running, esme(running.port) as gateway:
        bound(gateway)
        running.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "frozen" in running.log(), "the centre freezing")
        with CentreHandset("127.0.0.1", running.port, WAIT) as handset:
            ended = handset.begin(SUBSCRIBER, "#122#")  # the dial never reached the gateway
            assert (ended.end, ended.screen) == (True, TIMEOUT_SCREEN)
            assert gateway.units == []
            running.proc.send_signal(signal.SIGUSR2)
            wait_for(lambda: len(gateway.units) == 2, "what waited")
            assert [type(u) for u in gateway.units] == [Begin, Abort]
            assert handset.begin(SUBSCRIBER, "#122#").text == MENU


def test_the_client_says_when_no_centre_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with pytest.raises(CentreError, match="cannot reach the USSD centre"):
        CentreHandset("127.0.0.1", free, WAIT)


def test_main_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "70000"]) == 2
    with pytest.raises(SystemExit):
        main(["--dialect", "nope"])
    with pytest.raises(SystemExit):
        main(["--step-timeout", "-1"])
    assert "invalid choice" in capsys.readouterr().err


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    for _ in range(100):
        if len(data) >= size:
            break
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_line(sock: socket.socket) -> str:
    data = b""
    for _ in range(10_000):
        char = sock.recv(1)
        if char in (b"", b"\n"):
            break
        data += char
    return data.decode()
