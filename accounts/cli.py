"""``ussd accounts``: migrate, import, show and grant, against any store (``--db URL``).

Failures are one clear line (or one line per bad field for imports) and exit 1; nothing prints a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Callable

from ussd.cli import instant_arg

from .importer import ImportFailed, read_subscribers
from .model import MAX_INSTANT, MIN_INSTANT, RUBRIQUES, Bucket, scope_problem, to_instant
from .policy import Policy, PolicyError, load_policy
from .resolve import as_json, iso, resolve
from .store import AccountStore, StoreError, UnknownSubscriber, open_store


def _store(args: argparse.Namespace) -> AccountStore:
    return open_store(args.db)


def cmd_migrate(args: argparse.Namespace, policy: Policy) -> int:
    with _store(args) as store:
        store.migrate()
        print(f"schema ready in {store.url.split('@')[-1]}")
    return 0


def cmd_import(args: argparse.Namespace, policy: Policy) -> int:
    try:
        subscribers = read_subscribers(args.file, policy.tz)
    except ImportFailed as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing imported", file=sys.stderr)
        return 1
    with _store(args) as store:
        count = store.put_many(subscribers)
    print(f"imported {count} subscriber(s)")
    return 0


def cmd_show(args: argparse.Namespace, policy: Policy) -> int:
    with _store(args) as store:
        subscriber = store.get(args.msisdn)
    if subscriber is None:
        print(f"unknown subscriber {args.msisdn}", file=sys.stderr)
        return 1
    at = args.at or datetime.now(policy.tz)
    resolution = resolve(subscriber, to_instant(at, policy.tz), policy)
    if args.json:
        print(json.dumps(as_json(resolution, policy), ensure_ascii=False, indent=2))
        return 0
    print(f"{resolution.msisdn}  {resolution.status}  {subscriber.offer.name} ({subscriber.offer.type})")
    print(f"main      {resolution.main.balance:>12} F  until {iso(resolution.main.expires, policy)}")
    if resolution.restricted:
        return 0
    for account, views in resolution.accounts.items():
        for rubrique, view in views.items():
            usable = "" if view.usable_now else f"  ({view.window.label.get('fr', '') if view.window else ''})"
            print(f"{account:<9} {rubrique:<8} {view.total:>12}  next expiry {iso(view.next_expiry, policy)}{usable}")
            for line in view.lines:
                print(f"    {line.label:<24} {line.scope or '':<13} {line.amount:>12}  {iso(line.expires, policy)}")
    if not resolution.accounts:
        print("no bonus")
    return 0


def cmd_grant(args: argparse.Namespace, policy: Policy) -> int:
    if args.rubrique not in RUBRIQUES[args.account]:
        print(f"{args.account} has no rubrique {args.rubrique!r}: {', '.join(RUBRIQUES[args.account])}", file=sys.stderr)
        return 2
    problem = scope_problem(args.account, args.scope)
    if problem is not None:
        print(f"--scope: {problem}", file=sys.stderr)
        return 2
    if args.amount < 0:
        print("--amount must not be negative", file=sys.stderr)
        return 2
    expires = to_instant(args.expires, policy.tz)
    granted = to_instant(args.granted, policy.tz) if args.granted else None
    if not all(MIN_INSTANT <= t <= MAX_INSTANT for t in (expires, granted or expires)):
        print("--expires and --granted must lie between 1970 and 9999", file=sys.stderr)
        return 2
    if granted is not None and granted >= expires:
        print("--granted must be before --expires", file=sys.stderr)
        return 2
    bucket = Bucket(args.account, args.rubrique, args.amount, expires, args.scope, granted, args.line)
    with _store(args) as store:
        store.grant(args.msisdn, bucket)
    print(f"granted {args.amount} {args.account}/{args.rubrique} to {args.msisdn} until {iso(expires, policy)}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    accounts = sub.add_parser("accounts", help="subscribers and their bonus buckets")
    accounts.add_argument("--policy", help="policy file (default: accounts/policy.yaml)")
    commands = accounts.add_subparsers(dest="accounts_command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace, Policy], int], help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help)
        p.add_argument("--db", help="sqlite:///PATH (default: the user's data folder) or postgresql://...")
        p.set_defaults(func=run, accounts_func=func)
        return p

    command("migrate", cmd_migrate, "create the schema")
    imp = command("import", cmd_import, "load subscribers from YAML or CSV (all or nothing)")
    imp.add_argument("file", metavar="FILE")
    show = command("show", cmd_show, "what a subscriber has at an instant")
    show.add_argument("msisdn", metavar="MSISDN")
    show.add_argument("--at", type=instant_arg, help="ISO 8601 instant (default: now)")
    show.add_argument("--json", action="store_true", help="print JSON")
    grant = command("grant", cmd_grant, "add a bonus bucket")
    grant.add_argument("msisdn", metavar="MSISDN")
    grant.add_argument("--account", required=True, choices=tuple(RUBRIQUES))
    grant.add_argument("--rubrique", required=True)
    grant.add_argument("--scope")
    grant.add_argument("--line", help="the policy line name, where the rubrique and scope do not say it")
    grant.add_argument("--amount", required=True, type=int, help="F CFA, seconds or bytes")
    grant.add_argument("--expires", required=True, type=instant_arg)
    grant.add_argument("--granted", type=instant_arg)


def run(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy) if args.policy else load_policy()
        return args.accounts_func(args, policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (StoreError, UnknownSubscriber) as exc:
        print(exc, file=sys.stderr)
        return 1
