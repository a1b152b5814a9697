"""Several nodes: what sharing dialogues costs. #122# dialogues driven by the load generator through
the fake centre (both in this process) to, in turn:

- one `ussd serve` node with its dialogues in memory,
- one node with its dialogues in Redis,
- two nodes sharing Redis (the centre sends each dialogue to one bind or the other),

all three on the same accounts in PostgreSQL (what several nodes share). This machine has 2 cores,
so the bench compares cost, not throughput: the CPU time the nodes themselves spent (each
process's own, from /proc) per dialogue and per step, over ``--rounds`` interleaved rounds, medians
compared:

- ``scale_cost``: two nodes' CPU per dialogue (summed) / one Redis node's (target <= 1.15);
- ``redis_cost``: a Redis node's CPU per step / an in-memory node's (target <= 1.25);

each the median of the ratios within a round (the three runs of a round follow one another, each
configuration first in turn: the machine's speed drifts more between rounds than within one).

By default the load is a closed loop: each of ``--concurrency`` subscribers answers a screen as
soon as it shows. A node's CPU per step depends on its load (a busy reactor reads and writes many
steps in one system call), and in a closed loop the slower configuration is also the less loaded
one; ``--think A-B`` (seconds a subscriber takes to answer) brings the three to about the same
load instead (``--concurrency 200 --think 0.1-0.2``: about 1,150 steps a second each).

Needs PostgreSQL and Redis on 127.0.0.1 (as the tests do; ``USSD_TEST_PG``, ``USSD_TEST_REDIS``).

    python bench/nodes.py [--dialogues 2000] [--concurrency 50] [--rounds 5] [--think 0-0]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path.append(str(ROOT / "bench"))  # last: the other benches import as modules, the standard library first

from twisted.internet import defer, reactor, task  # noqa: E402

from simulator.centre import Centre, CentreConfig, CentreFactory  # noqa: E402
from simulator.load import LoadRun  # noqa: E402

PG_URL = os.environ.get("USSD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("USSD_TEST_REDIS", "redis://127.0.0.1:6379/0")
POPULATION = 3000
TICK = os.sysconf("SC_CLK_TCK")


import smpp as _SMPP  # noqa: E402  (bench/smpp.py: its population, its runner on the reactor)


def accounts() -> tuple[str, list[str], Any]:
    """A fresh PostgreSQL schema holding the population: (its URL, the numbers, the drop)."""
    from dataclasses import replace

    import psycopg

    from accounts.demo import DEMO_ACCOUNTS
    from accounts.importer import read_subscribers
    from accounts.policy import load_policy
    from accounts.store import open_store

    schema = f"ussd_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    model = read_subscribers(DEMO_ACCOUNTS, load_policy().tz)[0]
    numbers = [f"22507{n:08d}" for n in range(POPULATION)]
    with open_store(url) as store:
        store.migrate()
        store.put_many(replace(model, msisdn=number) for number in numbers)

    def drop() -> None:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")

    return url, numbers, drop


def cpu_seconds(pid: int) -> float:
    """The process's own CPU time so far (user + system)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def forget(sessions: str) -> None:
    """Delete what a run left in Redis under its prefix (ended and resumable copies live on)."""
    from ussd.redis_sessions import redis_client

    client, prefix = redis_client(sessions)
    for keys in batched(client.scan_iter(f"{prefix}*", count=1000), 1000):
        client.delete(*keys)
    client.close()


def batched(items: Any, size: int) -> Any:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def node(port: int, db: str, sessions: str | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}",
                             "--db", db, "--at", "2026-11-25T10:00", "--workers", os.environ.get("BENCH_WORKERS", "8"),
                             *(["--sessions", sessions] if sessions else [])],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@defer.inlineCallbacks
def measure(kind: str, db: str, numbers: list[str], args: argparse.Namespace) -> Any:
    """(CPU ms per dialogue, CPU ms per step, dialogues lost) of one configuration."""
    centre = Centre(CentreConfig())
    listening = reactor.listenTCP(0, CentreFactory(centre, reactor), interface="127.0.0.1")
    port = listening.getHost().port
    sessions = (None if kind == "memory"
                else f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}prefix=bench-{secrets.token_hex(4)}:")
    nodes = [node(port, db, sessions) for _ in range(2 if kind == "two" else 1)]
    try:
        for _ in range(300):  # until every node is bound (bounded)
            if len(centre.bound_links()) == len(nodes):
                break
            if any(n.poll() is not None for n in nodes):
                raise RuntimeError(f"a {kind} node exited at start")
            yield task.deferLater(reactor, 0.1, lambda: None)
        else:
            raise RuntimeError(f"the {kind} nodes never bound")
        yield LoadRun(reactor, "127.0.0.1", port, 200, args.concurrency, subscribers=numbers,
                      think=args.think).start()  # warm up
        before = sum(cpu_seconds(n.pid) for n in nodes)
        result = yield LoadRun(reactor, "127.0.0.1", port, args.dialogues, args.concurrency, subscribers=numbers,
                               think=args.think).start()
        spent = sum(cpu_seconds(n.pid) for n in nodes) - before
    finally:
        for n in nodes:
            n.terminate()
        for n in nodes:
            n.wait(30)
        yield listening.stopListening()
        if sessions is not None:
            forget(sessions)
    lost = result.lost + result.aborted
    print(f"{kind}: {result.summary()} cpu_s={spent:.2f}", file=sys.stderr)
    return spent * 1000 / max(1, result.dialogues), spent * 1000 / max(1, result.steps), lost


@defer.inlineCallbacks
def bench(args: argparse.Namespace) -> Any:
    db, numbers, drop = accounts()
    kinds = ("memory", "redis", "two")
    per: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    lost = 0
    try:
        for n in range(args.rounds):
            for kind in kinds[n % 3:] + kinds[:n % 3]:  # each configuration first in turn
                dialogue_ms, step_ms, missing = yield measure(kind, db, numbers, args)
                per[kind].append((dialogue_ms, step_ms))
                lost += missing
    finally:
        drop()
    memory, one, two = (per[kind] for kind in kinds)
    # ratios within each round, then their median: the machine's speed drifts between rounds
    # more than between the runs of one round, and a ratio of medians would carry the drift
    scale = statistics.median(t[0] / o[0] for t, o in zip(two, one, strict=True))
    redis_cost = statistics.median(o[1] / m[1] for o, m in zip(one, memory, strict=True))
    med = {kind: (statistics.median(d for d, _ in runs), statistics.median(s for _, s in runs))
           for kind, runs in per.items()}
    print(f"BENCH nodes cpu_ms_one={med['redis'][0]:.2f} cpu_ms_two={med['two'][0]:.2f} scale_cost={scale:.2f} "
          f"redis_cost={redis_cost:.2f} cpu_ms_step_memory={med['memory'][1]:.3f} "
          f"cpu_ms_step_redis={med['redis'][1]:.3f} lost={lost}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dialogues", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--think", default="0-0", metavar="A-B",
                   help="seconds a subscriber takes to answer a screen (0-0: a closed loop)")
    args = p.parse_args()
    low, _, high = args.think.partition("-")
    args.think = (float(low), float(high or low))
    return int(_SMPP.on_reactor(bench, args))


if __name__ == "__main__":
    sys.exit(main())
