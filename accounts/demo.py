"""The demo population (``accounts/demo.yaml``) and a store holding it: what ``ussd dial``, ``ussd
accounts --db memory:``, the transcripts and the benchmarks all start from."""

from __future__ import annotations

from pathlib import Path

from .importer import read_subscribers
from .policy import Policy, load_policy
from .store import AccountStore, open_store

DEMO_ACCOUNTS = Path(__file__).resolve().parent / "demo.yaml"


def demo_store(url: str | None = None, policy: Policy | None = None) -> AccountStore:
    """The store at ``url`` (default: the embedded SQLite file), given the demo population if empty."""
    store = open_store(url)
    if store.count() == 0:
        store.put_many(read_subscribers(DEMO_ACCOUNTS, (policy or load_policy()).tz))
    return store
