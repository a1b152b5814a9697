"""HTTP speed: dialogues through ``ussd serve --http`` (the form convention), beside a baseline in
the same run: a bare Twisted web resource answering every POST with a fixed CON screen
(bench/minimal_http.py), the transport's own limit here.

The client runs in this process: keep-alive HTTP/1.1 connections, each walking #122# dialogues
(the load generator's walks) with sessions of their own; every request carries the whole text so
far, as aggregators send it.

- Throughput: ``--concurrency`` connections (default 50) asking at once, no pause (a closed loop):
  requests/s of the gateway and of the baseline, interleaved ``--rounds`` times, medians compared.
- Latency: an open loop paced at half the gateway's measured throughput (a request starts every
  1/rate s, on a free connection, whatever the answers before it): p50, p99 and errors (a status
  other than 200, or a connection lost).

The gateway serves the SMPP bench's population (3,000 subscribers in a SQLite file).

    python bench/http.py [--requests 6000] [--rounds 3] [--concurrency 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import itertools
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[0] = str(ROOT)  # the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path.append(str(ROOT / "bench"))  # last: the other benches import as modules, the standard library first

import smpp as _SMPP  # noqa: E402  (bench/smpp.py: its population, its runner on the reactor)
from twisted.internet import defer, protocol, reactor, task  # noqa: E402

from simulator.load import WALKS, percentile  # noqa: E402

DB, population = _SMPP.DB, _SMPP.population


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--http", f"127.0.0.1:{port}", "--db",
                             f"sqlite:///{DB}", "--at", "2026-11-25T10:00"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def baseline(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "minimal_http.py"), str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Requests:
    """The form requests of dialogues, one after the other: each walk's texts, then a new session."""

    def __init__(self, subscribers: list[str]) -> None:
        self.numbers = itertools.cycle(subscribers)
        self.sessions = itertools.count()
        self.walks = itertools.cycle(WALKS)

    def dialogue(self) -> list[bytes]:
        session, number, walk = next(self.sessions), next(self.numbers), next(self.walks)
        texts = [""] + ["*".join(walk[:n]) for n in range(1, len(walk) + 1)]
        return [self._request(urlencode({"sessionId": f"b{session}", "serviceCode": "#122#", "phoneNumber": number,
                                         "networkCode": "61201", "text": text}).encode()) for text in texts]

    @staticmethod
    def _request(body: bytes) -> bytes:
        return (b"POST /ussd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class Client(protocol.Protocol):
    """One keep-alive connection: a request, its whole answer, the next."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiting: defer.Deferred[int] | None = None

    def ask(self, request: bytes) -> defer.Deferred[int]:
        self.waiting = defer.Deferred()
        self.transport.write(request)
        return self.waiting

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is None:
            raise ValueError(f"an answer without Content-Length: {head[:120]!r}")
        if len(rest) < length:
            return
        self.buffer = rest[length:]
        status = int(head.split(b" ", 2)[1])
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            waiting.callback(status)

    def connectionLost(self, reason: Any = None) -> None:
        waiting, self.waiting = self.waiting, None
        if waiting is not None:
            waiting.errback(ConnectionError("connection lost"))


def connect(port: int) -> defer.Deferred[Client]:
    return protocol.ClientCreator(reactor, Client).connectTCP("127.0.0.1", port)


@defer.inlineCallbacks
def closed_loop(port: int, requests: Requests, total: int, concurrency: int) -> Any:
    """``concurrency`` connections asking without pause until ``total`` answers: requests/s."""
    done = [0]
    errors = [0]

    @defer.inlineCallbacks
    def worker() -> Any:
        client = yield connect(port)
        while done[0] < total:
            for request in requests.dialogue():
                status = yield client.ask(request)
                done[0] += 1
                errors[0] += status != 200
        client.transport.loseConnection()

    started = time.perf_counter()
    yield defer.gatherResults([worker() for _ in range(concurrency)])
    return done[0] / (time.perf_counter() - started), errors[0]


@defer.inlineCallbacks
def open_loop(port: int, requests: Requests, rate: float, seconds: float) -> Any:
    """A step every 1/rate s, whatever the answers before it: the next step of a dialogue whose
    last one is answered (a new dialogue if none is waiting), on a free connection (a new one if
    none is). Returns the latencies and the errors."""
    free: list[Client] = []
    ready: list[list[bytes]] = []  # dialogues whose last step is answered, with the steps left
    latencies: list[float] = []
    errors = [0]
    pending: list[defer.Deferred[Any]] = []

    @defer.inlineCallbacks
    def one(steps: list[bytes]) -> Any:
        client = free.pop() if free else (yield connect(port))
        started = time.perf_counter()
        try:
            status = yield client.ask(steps.pop(0))
        except ConnectionError:
            errors[0] += 1
            return
        latencies.append(time.perf_counter() - started)
        errors[0] += status != 200
        free.append(client)
        if steps:
            ready.append(steps)

    def tick() -> None:
        pending.append(one(ready.pop(0) if ready else requests.dialogue()))

    ticker = task.LoopingCall(tick)
    ticker.clock = reactor
    ticker.start(1.0 / rate)
    yield task.deferLater(reactor, seconds, lambda: None)
    ticker.stop()
    yield defer.DeferredList(pending)
    for client in free:
        client.transport.loseConnection()
    return latencies, errors[0]


@defer.inlineCallbacks
def serving(start: Callable[[int], subprocess.Popen[bytes]], run: Callable[[int], Any]) -> Any:
    port = free_port()
    process = start(port)
    try:
        for _ in range(300):  # until it listens (bounded)
            try:
                client = yield connect(port)
                client.transport.loseConnection()
                break
            except Exception:
                yield task.deferLater(reactor, 0.1, lambda: None)
        result = yield run(port)
        return result
    finally:
        process.terminate()
        process.wait(30)


@defer.inlineCallbacks
def bench(args: argparse.Namespace) -> Any:
    requests = Requests(population())
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        for start, rates in ((gateway, ours), (baseline, theirs)):
            rate, errors = yield serving(
                start, lambda port: closed_loop(port, requests, args.requests, args.concurrency))
            rates.append(rate)
            print(f"{start.__name__}: req_s={rate:.0f} errors={errors}", file=sys.stderr)
    steps, base = statistics.median(ours), statistics.median(theirs)
    pace = steps / 2
    latencies, errors = yield serving(gateway, lambda port: open_loop(port, requests, pace, args.seconds))
    print(f"gateway, open loop at {pace:.0f} req/s for {args.seconds:g} s: {len(latencies)} answered, {errors} errors",
          file=sys.stderr)
    print(f"BENCH http req_s={steps:.0f} baseline_req_s={base:.0f} ratio={steps / base:.2f} "
          f"p50_ms={percentile(latencies, 50) * 1000:.1f} p99_ms={percentile(latencies, 99) * 1000:.1f} "
          f"errors={errors}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=6000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    return int(_SMPP.on_reactor(bench, p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
