"""``ussd load``: scripted walks of many subscribers at once through the fake USSD centre, for QA
and the benchmarks. Each dialogue is a handset connection to the centre (its JSON-lines side);
``concurrency`` of them are in flight at any time; subscribers may take a while between replies, as
people type. The summary says what was done and what was lost, and why."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IConnector, IDelayedCall
from twisted.protocols.basic import LineOnlyReceiver

#: Walks of #122# over the demo population: the menus, bonus screens and back, an offer, passes.
WALKS: tuple[tuple[str, ...], ...] = (
    ("1", "0", "2", "0", "3"),
    ("1", "1", "0", "0"),
    ("4",),
    ("5",),
    ("6", "1", "2"),  # a pass's confirmation, declined
    ("7", "0", "3", "1"),
)
#: The demo population's active subscribers.
DEMO_SUBSCRIBERS: tuple[str, ...] = ("2250701020304", "2250707070707", "2250709080706")


@dataclass
class LoadResult:
    dialogues: int = 0
    completed: int = 0
    #: Ended by the network (a timer) before the walk was done.
    aborted: int = 0
    #: No screen came back, the connection failed, or the centre said it could not carry it.
    lost: int = 0
    steps: int = 0
    elapsed: float = 0.0
    #: Seconds from each line sent to its screen, as a handset waits.
    latencies: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    #: Why the network ended dialogues early (the centre's timers: "step timeout", ...).
    abort_reasons: dict[str, int] = field(default_factory=dict)

    def lose(self, why: str) -> None:
        self.lost += 1
        self.reasons[why] = self.reasons.get(why, 0) + 1

    def abort(self, why: str) -> None:
        self.aborted += 1
        self.abort_reasons[why] = self.abort_reasons.get(why, 0) + 1

    def summary(self) -> str:
        rate = self.steps / self.elapsed if self.elapsed else 0.0
        p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
        why = "".join(f" lost_{k.replace(' ', '_')}={v}" for k, v in sorted(self.reasons.items()))
        why += "".join(f" aborted_{k.replace(' ', '_')}={v}" for k, v in sorted(self.abort_reasons.items()))
        return (f"dialogues={self.dialogues} completed={self.completed} aborted={self.aborted} lost={self.lost} "
                f"steps={self.steps} steps_s={rate:.0f} p50_ms={p50 * 1000:.1f} p99_ms={p99 * 1000:.1f}{why}")


class Reactor(Protocol):
    """What a run needs of the reactor: its clock and TCP connections."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: object,
                  **kwargs: object) -> IDelayedCall: ...

    def connectTCP(self, host: str, port: int, factory: protocol.ClientFactory, timeout: float = 30,
                   bindAddress: tuple[str, int] | None = None) -> IConnector: ...


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


class _Walker(LineOnlyReceiver):
    """One subscriber's dialogue over the handset protocol."""

    delimiter = b"\n"
    MAX_LENGTH = 65536

    def __init__(self, run: LoadRun, msisdn: str, code: str, walk: tuple[str, ...]) -> None:
        self.run, self.msisdn, self.code, self.walk = run, msisdn, code, list(walk)
        self.sent_at = 0.0
        self.done: defer.Deferred[None] = defer.Deferred()
        self.finished = False
        self.timer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self.send({"dial": self.code, "msisdn": self.msisdn})

    def send(self, command: dict[str, Any]) -> None:
        self.sent_at = self.run.reactor.seconds()
        self.timer = self.run.reactor.callLater(self.run.step_timeout, self.finish, "no answer in time")
        self._write(command)

    def _write(self, command: dict[str, Any]) -> None:
        """One line of the handset protocol (as ``sendLine``, which Twisted leaves untyped)."""
        if self.transport is not None:
            self.transport.write(json.dumps(command).encode() + self.delimiter)

    def lineReceived(self, line: bytes) -> None:
        if self.finished:
            return
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        result = self.run.result
        try:
            answer = json.loads(line)
        except ValueError:
            self.finish("a line that is not JSON")
            return
        if "error" in answer:
            self.finish(f"centre: {str(answer['error'])[:40]}")
            return
        if answer.get("timeout"):
            result.abort(str(answer.get("reason") or "timer")[:40])
            self.finish(None, counted=True)
            return
        result.steps += 1
        result.latencies.append(self.run.reactor.seconds() - self.sent_at)
        if answer.get("end") or not self.walk:
            if not answer.get("end"):
                self._write({"hangup": True})
            self.finish(None)
            return
        key = self.walk.pop(0)
        low, high = self.run.think
        delay = random.uniform(low, high) if high else 0.0
        if delay:
            self.run.reactor.callLater(delay, self.send, {"reply": key})
        else:
            self.send({"reply": key})

    def finish(self, lost: str | None, counted: bool = False) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        if lost is not None:
            self.run.result.lose(lost)
        elif not counted:
            self.run.result.completed += 1
        if self.transport is not None:
            self.transport.loseConnection()
        self.done.callback(None)

    def connectionLost(self, reason: Any = None) -> None:
        self.finish("connection lost")


class _WalkerFactory(protocol.ClientFactory):
    def __init__(self, walker: _Walker) -> None:
        self.walker = walker

    def buildProtocol(self, addr: Any) -> _Walker:
        return self.walker

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        self.walker.finish("cannot connect")


@dataclass
class LoadRun:
    reactor: Reactor
    host: str
    port: int
    dialogues: int
    concurrency: int
    code: str = "#122#"
    think: tuple[float, float] = (0.0, 0.0)
    subscribers: Sequence[str] = DEMO_SUBSCRIBERS
    step_timeout: float = 60.0
    #: The walks dialogues take in turn (each the keys typed after the dial).
    walks: Sequence[tuple[str, ...]] = WALKS
    #: Seconds over which the first ``concurrency`` dialogues start (people do not all dial at once).
    ramp: float = 0.0
    progress: TextIO | None = None
    result: LoadResult = field(default_factory=LoadResult)

    def start(self) -> defer.Deferred[LoadResult]:
        """Run every dialogue, ``concurrency`` at a time; fires with the result."""
        self._started = self.reactor.seconds()
        self._next = 0
        self._running = 0
        self._finished: defer.Deferred[LoadResult] = defer.Deferred()
        if self.dialogues <= 0:
            self._finished.callback(self.result)
        first = min(self.concurrency, self.dialogues)
        for n in range(first):
            if self.ramp:
                self.reactor.callLater(self.ramp * n / first, self._launch)
            else:
                self._launch()
        return self._finished

    def _launch(self) -> None:
        n = self._next
        self._next += 1
        self._running += 1
        self.result.dialogues += 1
        walk = self.walks[n % len(self.walks)]
        walker = _Walker(self, self.subscribers[n % len(self.subscribers)], self.code, walk)
        walker.done.addBoth(self._ended)
        self.reactor.connectTCP(self.host, self.port, _WalkerFactory(walker), timeout=10)

    def _ended(self, _: object) -> None:
        self._running -= 1
        if self._next < self.dialogues:
            self._launch()
        self._show()
        if self._running == 0 and not self._finished.called:
            self.result.elapsed = self.reactor.seconds() - self._started
            if self.progress is not None:
                self.progress.write("\n")
            self._finished.callback(self.result)

    def _show(self) -> None:
        if self.progress is None:
            return
        done = self.result.dialogues - self._running
        width = 30
        filled = width * done // max(1, self.dialogues)
        self.progress.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.dialogues} dialogues, "
                            f"{self.result.steps} steps, {self.result.lost} lost")
        self.progress.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """``ussd load --via smpp://HOST:PORT --dialogues N --concurrency C [--code CODE] [--think A-B]``."""
    import argparse

    from twisted.internet import reactor

    from .centre_client import parse_via

    p = argparse.ArgumentParser(prog="ussd load", description=__doc__.split("\n")[0])
    p.add_argument("--via", required=True, metavar="smpp://HOST:PORT", help="the fake centre's address")
    p.add_argument("--dialogues", type=int, default=100, metavar="N")
    p.add_argument("--concurrency", type=int, default=10, metavar="C")
    p.add_argument("--code", default="#122#")
    p.add_argument("--think", default="0", metavar="A-B", help="seconds a subscriber takes between replies (e.g. 1-3)")
    p.add_argument("--ramp", type=float, default=0.0, metavar="S", help="start the first C dialogues over S seconds")
    p.add_argument("--msisdn", action="append", metavar="N",
                   help="a subscriber to dial as (repeatable; default: the demo's)")
    p.add_argument("--walk", action="append", metavar="KEYS",
                   help="the keys a dialogue types after the dial, as 6*1*1 (repeatable; taken in turn; "
                        "default: the built-in walks of #122#)")
    p.add_argument("--step-timeout", type=float, default=60.0, metavar="S",
                   help="seconds a handset waits for a screen before it counts the step lost (60)")
    args = p.parse_args(argv)
    try:
        host, port = parse_via(args.via)
        low, _, high = args.think.partition("-")
        think = (float(low), float(high or low))
        if args.dialogues < 0 or args.concurrency < 1 or think[0] < 0 or think[1] < think[0]:
            raise ValueError("--dialogues >= 0, --concurrency >= 1, --think A-B with 0 <= A <= B")
        if not args.step_timeout > 0:
            raise ValueError("--step-timeout: expected a number of seconds above 0")
        walks = [tuple(walk.split("*")) for walk in args.walk or []]
        if any(not key or len(key) > 182 for walk in walks for key in walk) or len(walks) > 1000:
            raise ValueError("--walk: expected keys joined by *, as 6*1*1")
    except ValueError as exc:
        print(f"ussd load: {exc}", file=sys.stderr)
        return 2
    run = LoadRun(reactor, host, port, args.dialogues, args.concurrency, args.code, think,
                  subscribers=args.msisdn or DEMO_SUBSCRIBERS, ramp=max(0.0, args.ramp),
                  step_timeout=args.step_timeout, walks=walks or WALKS,
                  progress=sys.stderr if sys.stderr.isatty() else None)
    outcome: list[LoadResult] = []

    def done(result: LoadResult) -> None:
        outcome.append(result)
        reactor.stop()

    reactor.callWhenRunning(lambda: run.start().addCallback(done))
    started = time.monotonic()
    reactor.run()
    result = outcome[0] if outcome else run.result
    print(result.summary() + f" wall_s={time.monotonic() - started:.1f}")
    return 0 if result.lost == 0 else 1
