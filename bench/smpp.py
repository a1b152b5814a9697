"""SMPP speed: dialogues through the fake centre and `ussd serve`, beside a baseline in the same run.

The centre and the load generator run in this process; `ussd serve` (the shipped #122#) and the
baseline (bench/minimal_esme.py: the same Twisted transport, SMPP session and USSD mapping
answering every deliver_sm with a fixed screen, no engine) each run as a process of their own,
bound to the centre in turn.

- Throughput: ``--concurrency`` dialogues (default 100) replying at once, no pause (a closed loop):
  steps/s of the gateway and of the baseline, interleaved ``--rounds`` times; the medians compared.
- Latency under a real load: ``--live`` dialogues (default 1,000) at once, started over 3 s, whose
  subscribers take 1-3 s between replies: the time from each deliver_sm to its submit_sm as the
  centre sees it (p50, p99; the median of ``--rounds`` rounds) and the dialogues lost (all rounds).
  The baseline runs the same load, and its p99 (``baseline_p99_ms``) is this machine's floor: the
  time the centre itself, the load generator and the transport take, in the same process.

The gateway serves 3,000 subscribers from a SQLite file (the embedded default), so that no one
subscriber has 256 dialogues open at once (a session number is one octet).

    python bench/smpp.py [--dialogues 1500] [--rounds 3] [--live 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # the project first, in bench/'s place: bench/http.py would hide the standard library's http

from twisted.internet import defer, reactor, task  # noqa: E402

from simulator.centre import Centre, CentreConfig, CentreFactory  # noqa: E402
from simulator.load import LoadResult, LoadRun, percentile  # noqa: E402

#: The population the walks dial as: enough subscribers that no one has 256 dialogues open at
#: once (a session number is one octet), each the demo's first prepaid subscriber under a new number.
POPULATION = 3000
DB = Path(tempfile.gettempdir()) / "ussd122-bench-smpp.sqlite3"


def population() -> list[str]:
    from dataclasses import replace

    from accounts.demo import DEMO_ACCOUNTS
    from accounts.importer import read_subscribers
    from accounts.policy import load_policy
    from accounts.store import open_store

    model = read_subscribers(DEMO_ACCOUNTS, load_policy().tz)[0]
    numbers = [f"22507{n:08d}" for n in range(POPULATION)]
    DB.unlink(missing_ok=True)
    with open_store(f"sqlite:///{DB}") as store:
        store.put_many(replace(model, msisdn=number) for number in numbers)
    return numbers


def gateway(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}",
                             "--db", f"sqlite:///{DB}", "--at", "2026-11-25T10:00",
                             "--workers", os.environ.get("BENCH_WORKERS", "8")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def baseline(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "minimal_esme.py"), "127.0.0.1", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@defer.inlineCallbacks
def bound(centre: Centre, process: subprocess.Popen[bytes]) -> Any:
    for _ in range(300):
        if centre.bound_links():
            return
        if process.poll() is not None:
            raise RuntimeError("the ESME exited before binding")
        yield task.deferLater(reactor, 0.1, lambda: None)
    raise RuntimeError("the ESME never bound")


@defer.inlineCallbacks
def against(start: Any, centre: Centre, port: int, subscribers: list[str], dialogues: int, concurrency: int,
            think: tuple[float, float] = (0.0, 0.0)) -> Any:
    process = start(port)
    try:
        yield bound(centre, process)
        centre.latencies.clear()
        result: LoadResult = yield LoadRun(reactor, "127.0.0.1", port, dialogues, concurrency, think=think,
                                           subscribers=subscribers, step_timeout=30, ramp=think[1]).start()
        return result, list(centre.latencies)
    finally:
        process.terminate()
        process.wait(30)
        while centre.bound_links():
            yield task.deferLater(reactor, 0.05, lambda: None)


@defer.inlineCallbacks
def bench(args: argparse.Namespace) -> Any:
    centre = Centre(CentreConfig(step_timeout=30, max_duration=180))
    listening = reactor.listenTCP(0, CentreFactory(centre, reactor), interface="127.0.0.1")
    port = listening.getHost().port
    subscribers = population()
    # the centre's own collector pauses are the measuring instrument's noise: keep what set-up
    # built out of its sight, as ussd serve does
    gc.collect()
    gc.freeze()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(args.rounds):
        for start, rates in ((gateway, ours), (baseline, theirs)):
            result, _ = yield against(start, centre, port, subscribers, args.dialogues, args.concurrency)
            rates.append(result.steps / result.elapsed)
            print(f"{start.__name__}: {result.summary()}", file=sys.stderr)
    # latency: interleaved rounds of both sides, the medians reported (one round's p99 on these
    # machines can be ten times another's, the baseline's as much as the gateway's)
    p50s, p99s, base_p99s, lost = [], [], [], 0
    for _ in range(args.rounds):
        for start in (gateway, baseline):
            live, latencies = yield against(start, centre, port, subscribers, args.live * 2, args.live,
                                            think=(1.0, 3.0))
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
            print(f"{start.__name__} under {args.live} live dialogues: {live.summary()} centre_p50_ms={p50:.1f} "
                  f"centre_p99_ms={p99:.1f}", file=sys.stderr)
            if start is gateway:
                p50s.append(p50)
                p99s.append(p99)
                lost += live.lost
            else:
                base_p99s.append(p99)
    steps, base = statistics.median(ours), statistics.median(theirs)
    print(f"BENCH smpp steps_s={steps:.0f} baseline_steps_s={base:.0f} ratio={steps / base:.2f} "
          f"p50_ms={statistics.median(p50s):.1f} p99_ms={statistics.median(p99s):.1f} lost={lost} "
          f"concurrent={args.live} baseline_p99_ms={statistics.median(base_p99s):.1f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dialogues", type=int, default=1500)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--live", type=int, default=1000)
    return on_reactor(bench, p.parse_args())


def on_reactor(run: Any, args: argparse.Namespace) -> int:
    """``run(args)`` (a Deferred) on the reactor until it fires; 1 with its traceback if it failed.
    bench/http.py runs on it too."""
    failure: list[Any] = []
    reactor.callWhenRunning(lambda: run(args).addErrback(failure.append).addBoth(lambda _: reactor.stop()))
    reactor.run()
    if failure:
        failure[0].printTraceback()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
