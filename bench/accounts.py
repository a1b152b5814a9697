"""Accounts speed: resolutions per second (a subscriber with 30 buckets) from memory and from the
SQLite store, and how long importing 100,000 generated subscribers from YAML takes.

Memory is the reference measured in the same run: the SQLite figure is worth reading as a ratio
to it, since these machines are noisy. Each rate is the median of several timed rounds.

    python bench/accounts.py [--seconds 1.0] [--rounds 5] [--subscribers 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from accounts.importer import read_subscribers  # noqa: E402
from accounts.model import RUBRIQUES, SCOPES, Bucket, MainAccount, Offer, OfferType, Status, Subscriber  # noqa: E402
from accounts.policy import load_policy  # noqa: E402
from accounts.resolve import resolve  # noqa: E402
from accounts.store import AccountStore, MemoryAccountStore, open_store  # noqa: E402

NOW = 1_795_600_000  # 2026-11-25T08:26:40Z
DAY = 86_400


def thirty_buckets() -> tuple[Bucket, ...]:
    """Every rubrique, a few scopes, some expired or not yet granted: 30 in all."""
    out: list[Bucket] = []
    n = 0
    while len(out) < 30:
        for account, rubriques in RUBRIQUES.items():
            for rubrique in rubriques:
                if len(out) == 30:
                    break
                scopes = SCOPES[account]
                scope = scopes[n % len(scopes)] if scopes else None
                expires = NOW + (n % 9 - 2) * DAY  # a couple already expired
                granted = NOW + DAY if n % 11 == 0 else NOW - 10 * DAY
                out.append(Bucket(account, rubrique, 100 + n, expires, scope, granted))
                n += 1
    return tuple(out)


def rate(func: Callable[[], object], seconds: float, rounds: int) -> float:
    rates = []
    for _ in range(rounds):
        count = 0
        clock = time.perf_counter
        started = clock()
        deadline = started + seconds
        while clock() < deadline:
            for _ in range(100):
                func()
            count += 100
        rates.append(count / (clock() - started))
    return statistics.median(rates)


def generate_yaml(path: Path, count: int) -> None:
    """``count`` subscribers in the provisioning format, three buckets each."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("subscribers:\n")
        for n in range(count):
            fh.write(
                f'  - msisdn: "22507{n:08d}"\n'
                "    status: active\n"
                '    offer: {name: "Mix Découverte", type: prepaid}\n'
                "    language: fr\n"
                '    main: {balance: 1250, expires: "2027-01-31T23:59:59"}\n'
                "    buckets:\n"
                '      - {account: credit, rubrique: monthly, scope: intra, amount: 500,'
                ' expires: "2026-11-30T23:59:59"}\n'
                '      - {account: minutes, rubrique: weekend, scope: all, amount: 600,'
                ' expires: "2026-12-06T23:59:59"}\n'
                '      - {account: internet, rubrique: night, amount: 524288000, expires: "2026-12-01T06:00:00"}\n'
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--subscribers", type=int, default=100_000)
    args = ap.parse_args()

    policy = load_policy()
    subscriber = Subscriber("2250701020304", Status.ACTIVE, Offer("Mix", OfferType.PREPAID), "fr",
                            MainAccount(1250, NOW + 60 * DAY), (), thirty_buckets())
    with tempfile.TemporaryDirectory() as tmp:
        memory = MemoryAccountStore()
        sqlite = open_store(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        stores: dict[str, AccountStore] = {"memory": memory, "sqlite": sqlite}
        for store in stores.values():
            store.put_many([subscriber])
        expected = resolve(subscriber, NOW, policy)
        for name, store in stores.items():
            got = store.get(subscriber.msisdn)
            assert got is not None and resolve(got, NOW, policy) == expected, f"{name} resolves differently"
        rates = {}
        for name, store in stores.items():
            rates[name] = rate(lambda s=store: resolve(s.get(subscriber.msisdn), NOW, policy),  # type: ignore[arg-type]
                               args.seconds, args.rounds)
        print(f"resolve, 30 buckets: memory {rates['memory']:,.0f}/s, sqlite {rates['sqlite']:,.0f}/s "
              f"(sqlite/memory {rates['sqlite'] / rates['memory']:.2f})")

        source = Path(tmp) / "generated.yaml"
        generate_yaml(source, args.subscribers)
        target = open_store(f"sqlite:///{Path(tmp) / 'import.sqlite3'}")
        started = time.perf_counter()
        subscribers = read_subscribers(source, policy.tz)
        parsed = time.perf_counter() - started
        target.put_many(subscribers)
        total = time.perf_counter() - started
        assert target.count() == args.subscribers
        print(f"import {args.subscribers:,} subscribers ({source.stat().st_size / 1e6:.0f} MB of YAML): "
              f"{total:.1f} s, of which reading and checking {parsed:.1f} s")
        scale = 100_000 / args.subscribers
        for store in (memory, sqlite, target):
            store.close()
    print(f"BENCH accounts resolve_sqlite_s={rates['sqlite']:.0f} resolve_memory_s={rates['memory']:.0f} "
          f"import_100k_s={total * scale:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
