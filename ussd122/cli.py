"""``ussd``: the command line (check menus, dial a code on the terminal handset, serve the gateway).

Every failure a user can cause (a bad file, a bad option) ends in one clear message and an exit
status, never a traceback: 0 all well, 1 the thing checked is wrong, 2 the command was misused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ussd import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION, MenuError, load_menus, report

if TYPE_CHECKING:
    from gateway.config import ServerConfig

T = TypeVar("T")


class Parser(argparse.ArgumentParser):
    """Misuse is one line (what is wrong, and where the help is), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def seconds_arg(text: str) -> float:
    from simulator.clock import positive_seconds

    value = positive_seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, found {text!r}")
    return value


def cmd_check(args: argparse.Namespace) -> int:
    """Check files of every kind, each against its schema and its own rules; one report."""
    from .files import KINDS, check_files, kind_of

    by_kind: dict[str, list[Path]] = {}
    if not args.paths:  # what ussd122 ships: menus, policy, catalogue, demo subscribers, example config
        root = Path(__file__).resolve().parent.parent
        for kind in KINDS.values():
            if kind.shipped:
                by_kind[kind.name] = [root / name for name in kind.shipped]
    for path in map(Path, args.paths):
        kind = KINDS[args.kind] if args.kind else kind_of(path)
        by_kind.setdefault(kind.name, []).append(path)
    checked = [check_files(KINDS[name], paths) for name, paths in by_kind.items()]
    found = [diagnostic for each in checked for diagnostic in each.diagnostics]
    if report(found, f"{sum(each.files for each in checked)} file(s)"):
        return 1
    held = [each.held if name != "menu" else f"{each.held}, {each.files} file(s)"
            for name, each in zip(by_kind, checked, strict=True)]
    print(f"ok: {'; '.join(held)}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .files import KINDS

    sys.stdout.write(KINDS[args.kind].schema.text())
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from simulator.demo import default_menu_paths, demo_registry
    from ussd import did_you_mean
    from ussd.graph import PICTURES, GraphError, dot_text, format_for, mermaid_text, render
    from ussd.loader import service_number

    fmt = args.format or format_for(args.output)
    if fmt == "png" and args.output is None and sys.stdout.isatty():
        print("--format png: a picture is no text for a terminal: give -o FILE", file=sys.stderr)
        return 2
    paths = args.menus or default_menu_paths()
    result = load_menus(paths, demo_registry())
    if result.problems:
        print(f"the menus have {len(result.problems)} problem(s): fix them (see `ussd check`)", file=sys.stderr)
        return 1
    services = result.menus.services
    number = service_number(args.code)
    service = services.get(number) if number is not None else None
    if service is None:
        codes = [s.code for s in services.values()]
        print(f"no service {args.code!r} in {', '.join(map(str, paths))}{did_you_mean(args.code, codes)}; "
              f"served: {', '.join(codes) or 'none'}", file=sys.stderr)
        return 1 if number is not None else 2
    text = mermaid_text(service) if fmt == "mermaid" else dot_text(service)
    try:
        data = render(text, fmt) if fmt in PICTURES else text.encode("utf-8")
    except GraphError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        return 0
    try:
        Path(args.output).write_bytes(data)
    except OSError as exc:
        print(f"-o {args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    from accounts.demo import demo_store
    from accounts.policy import load_policy
    from simulator.clock import HandsetClock, in_zone
    from simulator.demo import demo_engine
    from simulator.handset import Handset, keyboard_replies, piped_replies, read_msisdn

    if args.via:
        return _dial_via(args)
    if args.record and not Path(args.record).resolve().parent.is_dir():
        print(f"--record {args.record}: no such folder", file=sys.stderr)
        return 1
    policy = load_policy()
    store = demo_store(args.db, policy)
    # One clock for the screens, the handset and the session timers: with --at, time moves only
    # on a clock line (@+90s), so a pause at the keyboard never expires the dialogue.
    clock = HandsetClock(in_zone(args.at, policy.tz) if args.at is not None else None)
    try:
        engine = demo_engine(args.menus or None, store=store, policy=policy, clock=clock,
                             idle_timeout=args.idle_timeout, max_duration=args.max_duration)
    except MenuError as exc:
        print(exc, file=sys.stderr)
        print("the menus have problems: fix them (see `ussd check`)", file=sys.stderr)
        return 1
    try:
        msisdn = read_msisdn(engine, args.code, args.msisdn)
    except ValueError as exc:
        print(f"--msisdn: {exc}", file=sys.stderr)
        return 2
    recorder = None
    if args.record:
        from accounts.export import subscriber_record
        from simulator.transcript import Recorder

        before = store.get(msisdn)  # the fixture the walk starts from, before the walk changes it
        recorder = Recorder(
            msisdn, args.code, [subscriber_record(before, policy.tz)] if before is not None else [],
            lang=args.lang, menus=args.menus or (), idle_timeout=args.idle_timeout, max_duration=args.max_duration,
            local=policy.tz if args.at is not None and args.at.tzinfo is None else None,
        )
    handset = Handset(engine, sys.stdout, clock, on_screen=recorder.screen if recorder else None)
    if sys.stdin.isatty():
        replies = keyboard_replies()
    else:
        replies = piped_replies(sys.stdin, lambda line: print(line, flush=True))
    status = 0
    try:
        handset.dial(args.code, msisdn, replies, lang=args.lang)
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


def _dial_via(args: argparse.Namespace) -> int:
    """``ussd dial --via smpp://HOST:PORT``: the same handset, its dialogue carried through the
    fake USSD centre to the gateway bound to it; nothing local is opened (no store, no menus)."""
    from simulator.centre_client import CentreError, ViaCentre, parse_via
    from simulator.clock import HandsetClock
    from simulator.handset import Handset, keyboard_replies, piped_replies
    from ussd import PhoneRule, normalise_phone

    given = [flag for flag, value in (("--at", args.at), ("--record", args.record), ("--lang", args.lang),
                                      ("--db", args.db), ("--menus", args.menus)) if value]
    if given:
        print(f"--via: {', '.join(given)} are for a local dial (over the network the gateway has its own clock, "
              "store and menus, and the subscriber's account says the language)", file=sys.stderr)
        return 2
    msisdn = normalise_phone(args.msisdn, PhoneRule())
    if msisdn is None:
        print(f"--msisdn: not a phone number: {args.msisdn!r}", file=sys.stderr)
        return 2
    clock = HandsetClock()
    try:
        host, port = parse_via(args.via)
        remote = ViaCentre(host, port)
    except (ValueError, OSError, CentreError) as exc:
        print(f"--via {args.via}: {exc}", file=sys.stderr)
        return 1
    handset = Handset(remote, sys.stdout, clock)  # type: ignore[arg-type]
    replies = (keyboard_replies() if sys.stdin.isatty()
               else piped_replies(sys.stdin, lambda line: print(line, flush=True)))
    try:
        handset.dial(args.code, msisdn, replies)
    except CentreError as exc:
        print(f"(the centre: {exc})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n(hung up)")
        return 130
    finally:
        remote.close()
    return 0


def cmd_transcript(args: argparse.Namespace) -> int:
    from simulator.centre_client import parse_via
    from simulator.transcript import find_transcripts

    via: tuple[tuple[str, int], tuple[str, int]] | None = None
    if (args.via is None) != (args.qa is None):
        print("--via and --qa go together: the centre carries the steps, the gateway's QA control takes "
              "each transcript's accounts, menus and clock", file=sys.stderr)
        return 2
    if args.via is not None:
        try:
            via = (parse_via(args.via), args.qa)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    passed = failed = 0
    for raw in args.paths:
        files, problems = find_transcripts([raw])
        for problem in problems:
            print(problem)
        failed += len(problems)
        for path in files:
            if _run_transcript(path, via):
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def _run_transcript(path: Path, via: tuple[tuple[str, int], tuple[str, int]] | None = None) -> bool:
    """Run one transcript file, print its verdict (and why); True if it passed. ``via``: the
    centre's and the QA control's addresses, to play it through the SMPP path."""
    import traceback

    from simulator.centre_client import CentreError
    from simulator.transcript import TranscriptError, load_transcript, run_transcript, run_transcript_via
    from ussd.diagnostics import report

    try:
        transcript = load_transcript(path)
        result = run_transcript(transcript) if via is None else run_transcript_via(transcript, *via)
    except CentreError as exc:  # the path itself failed: the centre or the gateway is not there
        print(f"FAIL {path}: {exc}")
        return False
    except TranscriptError as exc:  # not a valid transcript: one line per mistake
        report(exc.diagnostics, str(path))
        return False
    except Exception as exc:  # a bug in the engine or the runner, not in the transcript
        print(f"FAIL {path}: crashed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return False
    print(f"{'PASS' if result.passed else 'FAIL'} {result.transcript.name}")
    if not result.passed:
        print(result.report())
    return result.passed


def _read_arg(parse: Callable[[str], T], text: str) -> T:
    """``parse(text)`` for argparse: its ValueError's reason becomes the usage error."""
    try:
        return parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def listen_arg(text: str) -> tuple[str, int]:
    from gateway.config import parse_host_port

    return _read_arg(parse_host_port, text)


def sessions_arg(text: str) -> str | None:
    from gateway.config import parse_sessions_url

    return _read_arg(parse_sessions_url, text)


def cidr_arg(text: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a network as 10.0.0.0/8 or 2001:db8::/32, found {text[:60]!r}") from None
    return text


def qa_arg(text: str) -> tuple[str, int]:
    from gateway.qa import parse_qa_address

    return _read_arg(parse_qa_address, text)


def workers_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"expected 1 to 256 threads, found {text!r}")
    return value


def smpp_arg(text: str):  # type: ignore[no-untyped-def]
    from gateway.config import parse_smpp_url

    return _read_arg(parse_smpp_url, text)


def _server_config(args: argparse.Namespace, **given: Any) -> ServerConfig | None:
    """The file's configuration (``--config``), with what every server's flags gave and
    ``given``; None (said on stderr) when the file has problems."""
    from gateway.config import ConfigError, ServerConfig, load_config, with_overrides

    try:
        config = load_config(args.config) if args.config else ServerConfig()
    except ConfigError as exc:
        report(exc.diagnostics, f"{args.config}: nothing started", out=sys.stderr)
        return None
    return with_overrides(config, db=args.db, menus=tuple(args.menus) if args.menus else None, at=args.at,
                          idle_timeout=args.idle_timeout, max_duration=args.max_duration, **given)


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from gateway.config import with_overrides
    from gateway.logs import log_to
    from gateway.server import serve

    log_to(sys.stderr)
    config = _server_config(args, demo=True if args.demo else None, workers=args.workers, qa=args.qa,
                            sessions=args.sessions, http=args.http, ops=args.ops,
                            http_allow=tuple(args.http_allow) if args.http_allow else None)
    if config is None:
        return 1
    links = tuple(replace(link, dialect=args.dialect) if args.dialect else link for link in args.smpp or ())
    if args.dialect and not args.smpp:
        print("--dialect applies to the --smpp binds: give them (a file's binds name their own dialect)",
              file=sys.stderr)
        return 2
    if args.dialect and args.dialect not in config.dialects:
        print(f"--dialect {args.dialect}: expected one of {', '.join(sorted(config.dialects))}", file=sys.stderr)
        return 2
    try:
        return serve(with_overrides(config, smpp=links or None))
    except MenuError as exc:
        print(exc, file=sys.stderr)
        return 1


def cmd_web(args: argparse.Namespace) -> int:
    from gateway.logs import log_to
    from simulator.web import serve_web

    if not 0 <= args.port <= 65535:
        print(f"--port {args.port}: expected 0 to 65535 (0: any free one)", file=sys.stderr)
        return 2
    if args.record_dir is not None and not Path(args.record_dir).is_dir():
        print(f"--record-dir {args.record_dir}: no such folder", file=sys.stderr)
        return 1
    config = _server_config(args)
    if config is None:
        return 1
    log_to(sys.stderr)
    try:
        return serve_web(config, args.port, Path(args.record_dir).resolve() if args.record_dir else None)
    except MenuError as exc:
        print(exc, file=sys.stderr)
        print("the menus have problems: fix them (see `ussd check`)", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    from accounts.cli import add_parser as add_accounts
    from accounts.cli import instant_arg

    p = Parser(prog="ussd", description="USSD menu engine, gateway and simulator (#122#).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .files import KINDS

    kinds = ", ".join(f"{k.name} ({k.about})" for k in KINDS.values())
    check = sub.add_parser("check", help="check menus, policy, catalogue, subscribers, transcripts, configuration; "
                                         "exit 1 listing every problem")
    check.add_argument("paths", nargs="*", metavar="PATH",
                       help="files or folders (a folder holds menus; default: every file ussd122 ships)")
    check.add_argument("--kind", choices=list(KINDS),
                       help="what the files are (default: the `$schema` comment on a file's first line, else its keys)")
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print the JSON Schema of a kind of file, for editors (docs/editors.md)")
    schema.add_argument("kind", choices=list(KINDS), metavar="KIND", help=f"one of: {kinds}")
    schema.set_defaults(func=cmd_schema)

    graph = sub.add_parser("graph", help="draw a service's screens and links (Mermaid text, DOT, SVG or PNG)")
    graph.add_argument("code", metavar="CODE", help="the service's code, e.g. '#122#'")
    graph.add_argument("--menus", action="append", metavar="PATH",
                       help="menu folder or file (repeatable; default: the shipped menus)")
    graph.add_argument("--format", choices=("mermaid", "dot", "svg", "png"),
                       help="default: what -o's name says (.svg, .png, .dot), else mermaid")
    graph.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    graph.set_defaults(func=cmd_graph)

    dial = sub.add_parser("dial", help="dial a code on the terminal handset")
    dial.add_argument("code", metavar="CODE", help="the code dialled, e.g. '#122#' or '*122*1#'")
    dial.add_argument("--msisdn", required=True,
                      help="the subscriber's number: +225..., 00225..., 225... or the national 10 digits")
    dial.add_argument("--at", type=instant_arg,
                      help="freeze the clock at this ISO 8601 instant (then only @ lines move it)")
    dial.add_argument("--idle-timeout", type=seconds_arg, default=DEFAULT_IDLE_TIMEOUT, metavar="SECONDS",
                      help=f"end a dialogue idle this long (default {DEFAULT_IDLE_TIMEOUT:g})")
    dial.add_argument("--max-duration", type=seconds_arg, default=DEFAULT_MAX_DURATION, metavar="SECONDS",
                      help=f"end a dialogue this old (default {DEFAULT_MAX_DURATION:g})")
    dial.add_argument("--lang", choices=("fr", "en"), help="the language (default: the subscriber's)")
    dial.add_argument("--menus", action="append", metavar="DIR", help="menu folder or file (repeatable)")
    dial.add_argument("--db", help="account store URL (default: the embedded SQLite file, demo data on first use)")
    dial.add_argument("--record", metavar="FILE", help="write the dialogue as a transcript (see `ussd transcript`)")
    dial.add_argument("--via", metavar="smpp://HOST:PORT",
                      help="dial through the fake USSD centre at this address (see `ussd centre`)")
    dial.set_defaults(func=cmd_dial)

    # `ussd centre ...` and `ussd load ...` go to their own parsers before parsing; listed for --help.
    sub.add_parser("centre", help="run the fake USSD centre (SMPP binds and handsets on one port)")
    sub.add_parser("load", help="scripted walks of many subscribers at once through the fake centre")

    transcript = sub.add_parser("transcript", help="replay QA transcripts and check every screen; exit 1 if any fails")
    transcript.add_argument("paths", nargs="+", metavar="PATH",
                            help="transcript files or folders (*.yaml, recursively)")
    transcript.add_argument("--via", metavar="smpp://HOST:PORT",
                            help="play every step through the fake USSD centre at this address, to the gateway "
                                 "bound to it (needs --qa)")
    transcript.add_argument("--qa", type=qa_arg, metavar="HOST:PORT",
                            help="that gateway's QA control (ussd serve --qa): it takes each transcript's "
                                 "accounts, menus and clock")
    transcript.set_defaults(func=cmd_transcript)

    serve = sub.add_parser("serve", help="run the gateway: bind to the USSD centre(s) and serve the menus")
    serve.add_argument("--config", metavar="FILE", help="the server's configuration (YAML; see docs/configuration.md)")
    serve.add_argument("--smpp", action="append", type=smpp_arg, metavar="URL",
                       help="bind to smpp://SYSTEM_ID:PASSWORD@HOST:PORT (repeatable; replaces the file's binds)")
    serve.add_argument("--dialect", help="the centre's dialect for --smpp binds (default: default)")
    serve.add_argument("--db",
                       help="account store URL (default: the embedded SQLite file; never filled but with --demo)")
    serve.add_argument("--menus", action="append", metavar="DIR", help="menu folder or file (repeatable)")
    serve.add_argument("--sessions", type=sessions_arg, metavar="URL",
                       help="where dialogues live between steps: memory: (default) or redis://HOST:PORT/DB, "
                            "shared by several nodes (see docs/deployment.md)")
    serve.add_argument("--idle-timeout", type=seconds_arg, metavar="SECONDS",
                       help=f"end a dialogue idle this long (default {DEFAULT_IDLE_TIMEOUT:g})")
    serve.add_argument("--max-duration", type=seconds_arg, metavar="SECONDS",
                       help=f"end a dialogue this old (default {DEFAULT_MAX_DURATION:g})")
    serve.add_argument("--at", type=instant_arg, help="freeze the engine's clock at this instant (QA set-ups)")
    serve.add_argument("--demo", action="store_true", help="fill an empty store with the demo population")
    serve.add_argument("--workers", type=workers_arg, metavar="N",
                       help="engine steps run on N threads (1 to 256; default 8)")
    serve.add_argument("--http", type=listen_arg, metavar="HOST:PORT",
                       help="answer POST /ussd (forms: CON/END), /ussd/json and /ussd/notify here (see docs/http.md)")
    serve.add_argument("--http-allow", action="append", type=cidr_arg, metavar="CIDR",
                       help="answer HTTP only from these networks (repeatable; default: any)")
    serve.add_argument("--ops", type=listen_arg, metavar="HOST:PORT",
                       help="GET /metrics and /healthz on this port of their own (default: on the --http port)")
    serve.add_argument("--qa", type=qa_arg, metavar="HOST:PORT",
                       help="open the QA control on this loopback address (what `ussd transcript --qa` drives; "
                            "it replaces accounts and clock: QA set-ups only)")
    serve.set_defaults(func=cmd_serve)

    web = sub.add_parser("web", help="serve the handset as a web page for QA, on 127.0.0.1 (see docs/web.md)")
    web.add_argument("--port", type=int, default=8080, help="the port on 127.0.0.1 (default 8080; 0: any free one)")
    web.add_argument("--config", metavar="FILE", help="the server's configuration (YAML; see docs/configuration.md)")
    web.add_argument("--db", help="account store URL (default: the embedded SQLite file, demo data on first use)")
    web.add_argument("--menus", action="append", metavar="DIR", help="menu folder or file (repeatable)")
    web.add_argument("--at", type=instant_arg, help="the instant the page proposes (default: now)")
    web.add_argument("--idle-timeout", type=seconds_arg, metavar="SECONDS",
                     help=f"end a dialogue idle this long (default {DEFAULT_IDLE_TIMEOUT:g})")
    web.add_argument("--max-duration", type=seconds_arg, metavar="SECONDS",
                     help=f"end a dialogue this old (default {DEFAULT_MAX_DURATION:g})")
    web.add_argument("--record-dir", metavar="DIR",
                     help="where the page's Save button writes transcripts (downloads work without it)")
    web.set_defaults(func=cmd_web)

    add_accounts(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from accounts.store import StoreError
    from ussd import InvalidFile

    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["centre"]:  # its own options, parsed by its own parser (--help included)
        from simulator.centre import main as centre_main

        return centre_main(given[1:])
    if given[:1] == ["load"]:
        from simulator.load import main as load_main

        return load_main(given[1:])
    args = parser().parse_args(given)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except InvalidFile as exc:  # an operator's file (policy, catalogue, subscribers...) the command needed
        report(exc.diagnostics, "a file this command reads", out=sys.stderr)
        return 1
    except StoreError as exc:  # the account database
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
