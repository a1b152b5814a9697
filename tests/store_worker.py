"""A worker process for the account-store concurrency tests (tests/test_account_stores.py).

Usage: ``python tests/store_worker.py URL``. The worker opens its own store on URL, prints
``ready`` and then waits for one JSON job on stdin::

    {"msisdn": "...", "amount": 10, "ids": ["a", "b", ...], "replays": ["a", ...], "grant": true}

It debits ``amount`` for every id in ``ids`` (in order), then again for every id in ``replays``,
and prints one JSON line: a list of ``{"id", "outcome", "balance", "replayed", "phase"}``.
Any error ends the process with a non-zero status and the traceback on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts.model import Bucket  # noqa: E402
from accounts.store import open_store  # noqa: E402

GRANT = Bucket("internet", "special", 1024, 2_000_000_000, None, None, "worker")
#: When the workers debit: T0 of the tests, while the test subscribers' main accounts are valid.
AT = 1_790_000_000


def main(url: str) -> int:
    store = open_store(url)
    try:
        store.migrate()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        job = json.loads(sys.stdin.readline())
        grants = (GRANT,) if job.get("grant") else ()
        results = []
        for phase, ids in (("first", job["ids"]), ("replay", job.get("replays", []))):
            for request_id in ids:
                r = store.debit(job["msisdn"], request_id, job["amount"], grants, at=AT)
                results.append({"id": request_id, "outcome": r.outcome, "balance": r.balance,
                                "replayed": r.replayed, "phase": phase})
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
