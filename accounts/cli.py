"""``ussd accounts``: migrate, import, list, show and grant, against any store (``--db URL``;
``memory:`` is a fresh copy of the demo population, as for ``ussd dial``).

Failures are one clear line (or one line per bad field for imports) and exit 1; a misused command
(a number that cannot be read, a bad option) exits 2; nothing prints a traceback, and nothing prints
a database's password (``accounts.store.scrub``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ussd import PhoneRule, normalise_phone, parse_instant, report

from .demo import demo_store
from .importer import ImportFailed, read_subscribers
from .model import (
    MAX_INSTANT,
    MIN_INSTANT,
    RUBRIQUES,
    STATUSES,
    Bucket,
    Instant,
    Status,
    Subscriber,
    scope_problem,
    to_instant,
)
from .policy import Policy, PolicyError, load_policy
from .resolve import as_json, iso, resolve
from .store import AccountStore, DebitRecord, StoreError, UnknownSubscriber, db_url, open_store, redact, scrub

#: The parser class of the command line ``ussd accounts`` is added to (its own, for its misuse messages).
P = TypeVar("P", bound=argparse.ArgumentParser)

#: How numbers are written in Côte d'Ivoire: MSISDN arguments are read as a subscriber types them.
PHONE = PhoneRule()


def instant_arg(text: str) -> datetime:
    """An instant option (``--at``, ``--expires``; ``ussd dial --at`` too): :func:`ussd.parse_instant`,
    its reason for refusing one as the usage error."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store(args: argparse.Namespace, policy: Policy) -> AccountStore:
    """The store ``--db`` names; ``memory:`` starts as a fresh copy of the demo population."""
    url = db_url(args.db)
    return demo_store(url, policy) if url == "memory:" else open_store(url)


def cmd_migrate(args: argparse.Namespace, policy: Policy) -> int:
    with _store(args, policy) as store:
        store.migrate()
        print(f"schema ready in {redact(store.url)}")
    return 0


def cmd_import(args: argparse.Namespace, policy: Policy) -> int:
    try:
        subscribers = read_subscribers(args.file, policy.tz)
    except ImportFailed as exc:
        report(exc.diagnostics, f"{exc.source}; nothing imported", out=sys.stderr)
        return 1
    with _store(args, policy) as store:
        count = store.put_many(subscribers)
    print(f"imported {count} subscriber(s)")
    return 0


def cmd_list(args: argparse.Namespace, policy: Policy) -> int:
    """One tab-separated line per subscriber on stdout, the count on stderr (so stdout is data only)."""
    count = 0
    with _store(args, policy) as store:
        for listed in store.subscribers(Status(args.status) if args.status else None):
            print("\t".join(listed))
            count += 1
    print(f"{count} subscriber(s)", file=sys.stderr)
    return 0


def services(sub: Subscriber, debits: list[DebitRecord], at: Instant, policy: Policy) -> dict[str, Any]:
    """What the other #122# screens show of ``sub`` at ``at`` (favourites, usage, invoices, internet+,
    duplicate requests) and the debits made by then, newest first; ``show`` prints it as JSON or text."""
    plus = sub.internet_plus
    return {
        "favourites": list(sub.favourites),
        "usage": None if sub.usage is None else {"since": iso(sub.usage.since, policy), "voice": sub.usage.voice,
                                                 "sms": sub.usage.sms, "data": sub.usage.data,
                                                 "spend": sub.usage.spend},
        "invoices": [{"month": i.month, "amount": i.amount, "issued": iso(i.issued, policy), "due": iso(i.due, policy),
                      "paid": i.paid, "overdue": i.overdue(at)}
                     for i in sorted(sub.invoices, key=lambda i: i.issued, reverse=True) if i.issued <= at],
        "internet_plus": None if plus is None else {
            "active": plus.active,
            "purchases": [{"at": iso(p.at, policy), "merchant": p.merchant, "amount": p.amount}
                          for p in sorted(plus.purchases, key=lambda p: p.at, reverse=True) if p.at <= at]},
        "duplicates": [{"month": d.month, "at": iso(d.at, policy)}
                       for d in sorted(sub.duplicates, key=lambda d: d.at, reverse=True) if d.at <= at],
        "debits": [{"request_id": d.request_id, "amount": d.amount, "outcome": d.outcome, "balance": d.balance,
                    "at": iso(d.at, policy)} for d in debits if d.at <= at],
    }


def services_text(shown: dict[str, Any]) -> list[str]:
    """The lines ``show`` prints for :func:`services`, in its order; nothing for what is empty."""
    lines = [f"favourite {number}" for number in shown["favourites"]]
    usage = shown["usage"]
    if usage is not None:
        lines.append(f"usage     since {usage['since']}: {usage['voice']} s voice, {usage['sms']} SMS, "
                     f"{usage['data']} B data, {usage['spend']} F spent")
    for i in shown["invoices"]:
        state = "paid" if i["paid"] else "unpaid, overdue" if i["overdue"] else "unpaid"
        lines.append(f"invoice   {i['month']}  {i['amount']:>10} F  issued {i['issued']}  due {i['due']}  {state}")
    plus = shown["internet_plus"]
    if plus is not None:
        lines.append(f"internet+ {'active' if plus['active'] else 'inactive'}, {len(plus['purchases'])} purchase(s)")
        lines.extend(f"    {p['at']}  {p['merchant']:<24} {p['amount']:>10} F" for p in plus["purchases"])
    lines.extend(f"duplicate {d['month']}  asked {d['at']}" for d in shown["duplicates"])
    lines.extend(f"debit     {d['request_id']}  {d['outcome']}  {d['amount']} F  balance {d['balance']}  {d['at']}"
                 for d in shown["debits"])
    return lines


def cmd_show(args: argparse.Namespace, policy: Policy) -> int:
    with _store(args, policy) as store:
        subscriber = store.get(args.msisdn)
        debits = store.debits(args.msisdn)
    if subscriber is None:
        print(f"unknown subscriber {args.msisdn}", file=sys.stderr)
        return 1
    at = to_instant(args.at or datetime.now(policy.tz), policy.tz)
    resolution = resolve(subscriber, at, policy)
    shown = {} if resolution.restricted else services(subscriber, debits, at, policy)
    if args.json:
        print(json.dumps({**as_json(resolution, policy), **shown}, ensure_ascii=False, indent=2))
        return 0
    print(f"{resolution.msisdn}  {resolution.status}  {subscriber.offer.name} ({subscriber.offer.type})")
    print(f"main      {resolution.main.balance:>12} F  until {iso(resolution.main.expires, policy)}")
    if resolution.restricted:
        print(f"{resolution.status}: #122# shows only the main account")
        return 0
    for account, views in resolution.accounts.items():
        for rubrique, view in views.items():
            usable = "" if view.usable_now else f"  ({view.window.label.get('fr', '') if view.window else ''})"
            print(f"{account:<9} {rubrique:<8} {view.total:>12}  next expiry {iso(view.next_expiry, policy)}{usable}")
            for line in view.lines:
                print(f"    {line.label:<24} {line.scope or '':<13} {line.amount:>12}  {iso(line.expires, policy)}")
    if not resolution.accounts:
        print("no bonus")
    for text in services_text(shown):
        print(text)
    return 0


def cmd_grant(args: argparse.Namespace, policy: Policy) -> int:
    if args.rubrique not in RUBRIQUES[args.account]:
        print(f"{args.account} has no rubrique {args.rubrique!r}: {', '.join(RUBRIQUES[args.account])}",
              file=sys.stderr)
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
    with _store(args, policy) as store:
        store.grant(args.msisdn, bucket)
    print(f"granted {args.amount} {args.account}/{args.rubrique} to {args.msisdn} until {iso(expires, policy)}")
    return 0


def add_parser(sub: argparse._SubParsersAction[P]) -> None:
    accounts = sub.add_parser("accounts", help="subscribers and their bonus buckets")
    accounts.add_argument("--policy", help="policy file (default: accounts/policy.yaml)")
    commands = accounts.add_subparsers(dest="accounts_command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace, Policy], int], help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help)
        p.add_argument("--db", help="sqlite:///PATH (default: the user's data folder), postgresql://... or "
                                    "memory: (a fresh copy of the demo population)")
        p.set_defaults(func=run, accounts_func=func)
        return p

    number = "E.164 digits, +225..., 00225... or the national 10 digits (07 01 02 03 04)"
    command("migrate", cmd_migrate, "create the schema")
    imp = command("import", cmd_import, "load subscribers from YAML or CSV (all or nothing)")
    imp.add_argument("file", metavar="FILE")
    listing = command("list", cmd_list, "every subscriber: number, status, offer name, offer type (tab-separated)")
    listing.add_argument("--status", choices=STATUSES, help="only the subscribers of this status")
    show = command("show", cmd_show, "what a subscriber has and what #122# shows of it, at an instant")
    show.add_argument("msisdn", metavar="MSISDN", help=number)
    show.add_argument("--at", type=instant_arg, help="ISO 8601 instant (default: now)")
    show.add_argument("--json", action="store_true", help="print JSON")
    grant = command("grant", cmd_grant, "add a bonus bucket")
    grant.add_argument("msisdn", metavar="MSISDN", help=number)
    grant.add_argument("--account", required=True, choices=tuple(RUBRIQUES))
    grant.add_argument("--rubrique", required=True)
    grant.add_argument("--scope")
    grant.add_argument("--line", help="the policy line name, where the rubrique and scope do not say it")
    grant.add_argument("--amount", required=True, type=int, help="F CFA, seconds or bytes")
    grant.add_argument("--expires", required=True, type=instant_arg)
    grant.add_argument("--granted", type=instant_arg)


def subscriber_number(text: str) -> str | None:
    """The E.164 digits of a number written any way a subscriber writes it, or None."""
    return normalise_phone(text, PHONE)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "msisdn", None) is not None:
        number = subscriber_number(args.msisdn)
        if number is None:
            print(f"MSISDN {args.msisdn!r}: not a number; expected E.164 digits (2250701020304), +225..., "
                  "00225... or the national 10 digits (07 01 02 03 04)", file=sys.stderr)
            return 2
        args.msisdn = number
    try:
        policy = load_policy(args.policy) if args.policy else load_policy()
        command: Callable[[argparse.Namespace, Policy], int] = args.accounts_func
        return command(args, policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (StoreError, UnknownSubscriber) as exc:
        print(scrub(str(exc), db_url(getattr(args, "db", None))), file=sys.stderr)
        return 1
