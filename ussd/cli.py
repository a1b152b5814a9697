"""``ussd``: the command line (check menus, dial a code on the terminal handset).

Every failure a user can cause (a bad file, a bad option) ends in one clear message and an exit
status, never a traceback: 0 all well, 1 the thing checked is wrong, 2 the command was misused.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .loader import MenuError, load_menus


def instant_arg(text: str) -> datetime:
    """ISO 8601, as given: without an offset it is read later in the operator's zone."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r} (e.g. 2026-11-25T10:30:00)") from None


def cmd_check(args: argparse.Namespace) -> int:
    from simulator.demo import default_menu_paths, demo_registry

    paths = args.paths or default_menu_paths()
    result = load_menus(paths, demo_registry())
    for problem in result.problems:
        print(problem)
    services = result.menus.services.values()
    screens = sum(len(s.screens) for s in services)
    files = len(result.files)
    if result.problems:
        print(f"{len(result.problems)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    if not result.menus.services:
        print(f"no service found in {', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    codes = ", ".join(s.code for s in services)
    print(f"ok: {len(result.menus.services)} service(s) ({codes}), {screens} screens, {files} file(s)")
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    from simulator.demo import demo_engine
    from simulator.handset import Handset, keyboard_replies, piped_replies

    try:
        engine = demo_engine(args.menus or None, db=args.db)
    except MenuError as exc:
        print(exc, file=sys.stderr)
        print("the menus have problems: fix them (see `ussd check`)", file=sys.stderr)
        return 1
    at = args.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=engine.tz)
    recorder = None
    if args.record:
        from simulator.transcript import Recorder

        if not Path(args.record).resolve().parent.is_dir():
            print(f"--record {args.record}: no such folder", file=sys.stderr)
            return 1
        recorder = Recorder(args.msisdn, args.code, args.at, args.lang, args.menus or ())
        if at is None:  # whole seconds, so the recorded instants are exactly the ones the engine saw
            engine.clock = lambda: datetime.now(timezone.utc).replace(microsecond=0)
    handset = Handset(engine, sys.stdout, at, on_screen=recorder.screen if recorder else None)
    if sys.stdin.isatty():
        replies = keyboard_replies()
    else:
        replies = piped_replies(sys.stdin, lambda line: print(line, flush=True))
    status = 0
    try:
        handset.dial(args.code, args.msisdn, replies, lang=args.lang)
    except KeyboardInterrupt:
        print("\n(hung up)")
        status = 130
    if recorder is not None and recorder.steps:
        try:
            recorder.write(args.record)
        except OSError as exc:
            print(f"--record {args.record}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"(recorded to {args.record})", file=sys.stderr)
    return status


def cmd_transcript(args: argparse.Namespace) -> int:
    from simulator.transcript import find_transcripts

    passed = failed = 0
    for raw in args.paths:
        files, problems = find_transcripts([raw])
        for problem in problems:
            print(problem)
        failed += len(problems)
        for path in files:
            if _run_transcript(path):
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def _run_transcript(path: Path) -> bool:
    """Run one transcript file, print its verdict (and why); True if it passed."""
    import traceback

    from simulator.transcript import TranscriptError, load_transcript, run_transcript

    try:
        result = run_transcript(load_transcript(path))
    except TranscriptError as exc:  # not a valid transcript: one line per mistake
        for message in exc.messages:
            print(message)
        return False
    except Exception as exc:  # a bug in the engine or the runner, not in the transcript
        print(f"FAIL {path}: crashed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return False
    print(f"{'PASS' if result.passed else 'FAIL'} {result.transcript.name}")
    if not result.passed:
        print(result.report())
    return result.passed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ussd", description="USSD menu engine, gateway and simulator (#122#).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="validate menu files; exit 1 listing every problem")
    check.add_argument("paths", nargs="*", metavar="PATH", help="menu files or folders (default: the shipped menus)")
    check.set_defaults(func=cmd_check)

    dial = sub.add_parser("dial", help="dial a code on the terminal handset")
    dial.add_argument("code", metavar="CODE", help="the code dialled, e.g. '#122#' or '*122*1#'")
    dial.add_argument("--msisdn", required=True, help="the subscriber's number, E.164 digits (2250701020304)")
    dial.add_argument("--at", type=instant_arg, help="freeze the clock at this ISO 8601 instant")
    dial.add_argument("--lang", choices=("fr", "en"), help="the language (default: the subscriber's)")
    dial.add_argument("--menus", action="append", metavar="DIR", help="menu folder or file (repeatable)")
    dial.add_argument("--db", help="account store URL (default: the embedded SQLite file, demo data on first use)")
    dial.add_argument("--record", metavar="FILE", help="write the dialogue as a transcript (see `ussd transcript`)")
    dial.set_defaults(func=cmd_dial)

    transcript = sub.add_parser("transcript", help="replay QA transcripts and check every screen; exit 1 if any fails")
    transcript.add_argument("paths", nargs="+", metavar="PATH", help="transcript files or folders (*.yaml, recursively)")
    transcript.set_defaults(func=cmd_transcript)

    from accounts.cli import add_parser as add_accounts

    add_accounts(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from accounts.catalogue import CatalogueError
    from accounts.importer import ImportFailed
    from accounts.policy import PolicyError
    from accounts.store import StoreError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except (CatalogueError, ImportFailed, PolicyError, StoreError) as exc:  # the operator's files or database
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
