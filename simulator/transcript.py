"""QA transcripts: dialogues written as YAML files, replayed against a fresh engine and checked.

A transcript names who dials, when, against which accounts and menus, and lists the steps of one
dialogue: the screen shown after dialling, then each reply and what the screen must (or must not)
show. ``ussd transcript PATH...`` runs files and folders of them; ``ussd dial ... --record FILE``
writes one from a walk on the terminal handset. The full guide is ``docs/transcripts.md``.

The format::

    name: "Bonus Crédit, active subscriber, fr"   # optional; default: the file name
    subscriber: "2250701020304"                  # required: the number that dials (+225…, 00225…,
                                                 # 225… or the national 10 digits)
    accounts: ../../accounts/demo.yaml           # optional: an accounts file (the YAML or CSV import
                                                 # format), relative to this file; default: the
                                                 # shipped accounts/demo.yaml
    # or, instead of `accounts`, the records inline (the same fields as the import format):
    # subscribers: [{msisdn: "2250711111111", status: active, offer: {...}, main: {...}, buckets: [...]}]
    at: "2026-11-25T10:00:00"                    # required: the frozen instant (ISO 8601; without
                                                 # an offset it is operator time, Africa/Abidjan)
    code: "#122#"                                # optional; default "#122#"
    idle_timeout: 60                             # optional: the session store's limits, in seconds
    max_duration: 180                            # (defaults 60 and 180)
    lang: fr                                     # optional; default: the subscriber's language
    menus: ../../menus                           # optional: a menu folder/file or a list of them,
                                                 # relative to this file; default: the shipped menus
    steps:
      - expect:                                  # step 1 has no reply: the screen after dialling
          text: |                                # the exact full text (trailing newlines ignored)
            #122# Orange
            1. Bonus Crédit
      - reply: "1"                               # every later step sends a reply, read as written (00 is "00")
        at: "2026-11-25T10:00:30"                # optional: time moves on, for this step and later
                                                 # (or "+30s", "+1h30m": after the previous instant)
        expect:                                  # optional; every check in it is optional
          lines: ["Bonus Crédit: 2 050 F"]       # each must be a whole line of the screen
          contains: ["exp. 29/11"]               # each must be a substring of the screen
          absent: ["Spécial"]                    # none may appear in the screen
          screen: bonus_credit                   # the engine's screen id
          page: 1                                # the page shown (pages: the page count)
          end: false                             # whether the dialogue ended on this screen

A ``reply`` after a step that expects ``end: true`` is a mistake of the transcript; a reply the
engine cannot send because the dialogue really ended fails that step. In folders, ``*.yaml`` and
``*.yml`` files are run recursively, except names starting with ``_`` or ``.`` (a place for shared
accounts files and test menus).

Every transcript runs on its own engine: an in-memory account store filled from its fixture (a
purchase in one transcript never shows in another), its menus, and a session store whose clock
follows the transcript's instants, so a gap longer than the idle timeout (``idle_timeout``, 60 s)
between two steps ends the dialogue as the network would. A file that is not a valid transcript is
reported in one line per mistake, naming the file and the step (``t.yaml: step 3: unknown key
'expct' (did you mean 'expect'?)``), never with a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import ImportFailed, parse_records, read_subscribers
from accounts.model import Subscriber
from accounts.policy import load_policy
from accounts.store import open_store
from ussd.engine import Engine, Response
from ussd.loader import MenuError, split_short_code
from ussd.sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION
from ussd.yamlnodes import did_you_mean

from .clock import CLOCK_FORMS, HandsetClock, positive_seconds, read_instant, wall_clock
from .demo import default_menu_paths, demo_engine
from .handset import read_msisdn

DEFAULT_CODE = "#122#"
TOP_KEYS = ("name", "subscriber", "accounts", "subscribers", "at", "code", "lang", "menus", "idle_timeout",
            "max_duration", "steps")
STEP_KEYS = ("reply", "at", "expect")
EXPECT_KEYS = ("text", "lines", "contains", "absent", "screen", "page", "pages", "end")
TRANSCRIPT_SUFFIXES = (".yaml", ".yml")

_LANG = re.compile(r"^[a-z]{2,3}$")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TranscriptError(Exception):
    """A file that is not a valid transcript (or whose fixture or menus are broken): one message
    per mistake, each naming the file."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


# -- the transcript ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    text: str | None = None
    lines: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    screen: str | None = None
    page: int | None = None
    pages: int | None = None
    end: bool | None = None


@dataclass(frozen=True)
class Step:
    number: int  # 1-based; step 1 is the dial
    reply: str | None  # None for the dial
    at: datetime | None  # the instant from this step on, when it changes
    expect: Expect | None

    def describe(self, code: str) -> str:
        return f"step {self.number} (dial {code})" if self.reply is None else f"step {self.number} (reply {self.reply!r})"


@dataclass(frozen=True)
class Transcript:
    path: Path
    name: str
    subscriber: str  # as written: read by the dialled service's phone rule when it runs
    subscribers: tuple[Subscriber, ...]  # the account fixture, parsed
    accounts: str  # where the fixture comes from: a file, or "inline"
    at: datetime  # aware
    code: str
    lang: str | None
    menus: tuple[str, ...]  # resolved paths
    steps: tuple[Step, ...]
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # the session store's limits, in seconds
    max_duration: float = DEFAULT_MAX_DURATION

    @property
    def display(self) -> str:
        return str(self.path)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_null(node):
        return "nothing"
    return repr(node.value)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _plain(node: yaml.Node) -> Any:
    """Node -> dicts, lists and text (what the account importer reads from its own files)."""
    if isinstance(node, yaml.MappingNode):
        return {str(_plain(k)): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item) for item in node.value]
    return None if _is_null(node) else node.value


class _Reader:
    """Reads a transcript's nodes, collecting every mistake rather than stopping at the first."""

    def __init__(self, path: Path, tz: tzinfo) -> None:
        self.path = path
        self.display = str(path)
        self.tz = tz
        self.errors: list[str] = []

    def bad(self, where: str, message: str) -> None:
        self.errors.append(f"{self.display}: {where}: {message}" if where else f"{self.display}: {message}")

    def mapping(self, node: yaml.Node, allowed: Sequence[str], where: str, what: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.bad(where, f"expected {what}, found {_describe(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.bad(where, f"keys must be plain words, found {_describe(key_node)}")
                continue
            if key in out:
                self.bad(where, f"duplicate key {key!r}")
                continue
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.bad(where, f"unknown key {key!r}" + (hint or f"; expected one of: {', '.join(allowed)}"))
                continue
            out[key] = value
        return out

    def text(self, node: yaml.Node, where: str, *, empty_ok: bool = True) -> str | None:
        if isinstance(node, yaml.ScalarNode) and not _is_null(node):
            if not empty_ok and not node.value.strip():
                self.bad(where, "is empty")
                return None
            return str(node.value)
        self.bad(where, f"expected text, found {_describe(node)}")
        return None

    def texts(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        """A list of texts, or one text standing for a list of one."""
        if isinstance(node, yaml.ScalarNode) and not _is_null(node):
            return (str(node.value),)
        if not isinstance(node, yaml.SequenceNode):
            self.bad(where, f"expected a list of texts, found {_describe(node)}")
            return ()
        found = [self.text(item, f"{where}[{n}]") for n, item in enumerate(node.value)]
        return tuple(s for s in found if s is not None)

    def positive(self, node: yaml.Node, where: str) -> int | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
            try:
                value = int(node.value.replace("_", ""), 10)
            except ValueError:
                value = 0
            if value >= 1:
                return value
        self.bad(where, f"expected a page number (1, 2...), found {_describe(node)}")
        return None

    def boolean(self, node: yaml.Node, where: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return node.value.lower() in ("true", "yes", "on", "y")
        self.bad(where, f"expected true or false, found {_describe(node)}")
        return None

    def instant(self, node: yaml.Node, where: str, previous: datetime | None = None) -> datetime | None:
        """An ISO 8601 instant; with a ``previous`` one, a move from it (``+90s``) too."""
        if isinstance(node, yaml.ScalarNode) and not _is_null(node):
            moment = read_instant(node.value, self.tz, previous)
            if moment is not None:
                return moment
        expected = CLOCK_FORMS if previous is not None else "e.g. 2026-11-25T10:30:00"
        what = "an ISO 8601 instant or a move" if previous is not None else "an ISO 8601 instant"
        self.bad(where, f"not {what}: {_describe(node)} ({expected})")
        return None

    def seconds(self, node: yaml.Node, where: str) -> float | None:
        if isinstance(node, yaml.ScalarNode) and not _is_null(node):
            value = positive_seconds(node.value)
            if value is not None:
                return value
        self.bad(where, f"expected a number of seconds above 0, found {_describe(node)}")
        return None

    def relative(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        return p if p.is_absolute() else self.path.parent / p


def _read_yaml(path: Path) -> yaml.Node | None:
    display = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError([f"{display}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return yaml.compose(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise TranscriptError([f"{display}: {where}YAML syntax: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise TranscriptError([f"{display}: YAML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise TranscriptError([f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except RecursionError:
        raise TranscriptError([f"{display}: YAML nested too deeply to read"]) from None


def load_transcript(path: str | Path) -> Transcript:
    """Read and check a transcript file, its account fixture and its menu paths; raises
    :class:`TranscriptError` listing every mistake."""
    path = Path(path)
    tz = load_policy().tz
    r = _Reader(path, tz)
    root = _read_yaml(path)
    if root is None:
        raise TranscriptError([f"{r.display}: empty file: expected a transcript (subscriber, at, steps)"])
    top = r.mapping(root, TOP_KEYS, "", "a transcript (a mapping of subscriber, at, steps...)")
    if top is None:
        raise TranscriptError(r.errors)

    name = r.text(top["name"], "name", empty_ok=False) if "name" in top else None

    subscriber = None
    if "subscriber" not in top:
        r.bad("subscriber", 'missing: the number that dials, e.g. subscriber: "2250701020304"')
    else:
        subscriber = r.text(top["subscriber"], "subscriber", empty_ok=False)

    at = None
    if "at" not in top:
        r.bad("at", 'missing: the frozen instant, e.g. at: "2026-11-25T10:00:00"')
    else:
        at = r.instant(top["at"], "at")

    code = DEFAULT_CODE
    if "code" in top:
        code = r.text(top["code"], "code") or DEFAULT_CODE
        if split_short_code(code) is None:
            r.bad("code", f"{code!r} is not a short code like #122# or *122*1#")

    lang = None
    if "lang" in top:
        lang = r.text(top["lang"], "lang")
        if lang is not None and not _LANG.match(lang):
            r.bad("lang", f"expected a language code like fr or en, found {lang!r}")

    menus: list[str] = []
    if "menus" in top:
        for raw in r.texts(top["menus"], "menus"):
            resolved = r.relative(raw)
            if not resolved.exists():
                r.bad("menus", f"no such file or folder: {raw} (looked for {resolved})")
            menus.append(str(resolved))
        if not menus and not r.errors:
            r.bad("menus", "is empty: name a menu folder or file, or leave 'menus' out for the shipped menus")
    else:
        menus = list(default_menu_paths())

    subscribers: list[Subscriber] = []
    accounts = str(DEMO_ACCOUNTS)
    if "accounts" in top and "subscribers" in top:
        r.bad("", "give either 'accounts' (a file) or 'subscribers' (inline records), not both")
    elif "subscribers" in top:
        accounts = "inline"
        try:
            subscribers = parse_records(_plain(top["subscribers"]), r.display, tz)
        except ImportFailed as exc:
            r.errors.extend(f"{r.display}: {p}" for p in exc.problems)
    else:
        if "accounts" in top:
            raw = r.text(top["accounts"], "accounts", empty_ok=False)
            accounts = str(r.relative(raw)) if raw is not None else ""
        if accounts:
            try:
                subscribers = read_subscribers(accounts, tz)
            except ImportFailed as exc:
                r.errors.extend(f"{r.display}: accounts: {exc.source}: {p}" for p in exc.problems)

    idle_timeout = r.seconds(top["idle_timeout"], "idle_timeout") if "idle_timeout" in top else DEFAULT_IDLE_TIMEOUT
    max_duration = r.seconds(top["max_duration"], "max_duration") if "max_duration" in top else DEFAULT_MAX_DURATION

    steps = _read_steps(r, top, at)

    if r.errors:
        raise TranscriptError(r.errors)
    assert subscriber is not None and at is not None and idle_timeout is not None and max_duration is not None
    return Transcript(path, name or path.name, subscriber, tuple(subscribers), accounts, at, code, lang,
                      tuple(menus), tuple(steps), idle_timeout, max_duration)


def _read_steps(r: _Reader, top: dict[str, yaml.Node], at: datetime | None) -> list[Step]:
    if "steps" not in top:
        r.bad("steps", "missing: the screen after dialling, then each reply and its screen")
        return []
    node = top["steps"]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        r.bad("steps", f"expected a list of steps (the first one: the screen after dialling), found {_describe(node)}")
        return []
    steps: list[Step] = []
    previous = at
    ended: int | None = None  # the step that expects the dialogue to end
    for n, item in enumerate(node.value, start=1):
        where = f"step {n}"
        fields = r.mapping(item, STEP_KEYS, where, "a step (reply, at, expect)")
        if fields is None:
            continue
        reply = None
        if n == 1:
            if "reply" in fields:
                r.bad(where, "the first step is the screen after dialling: it takes no 'reply'")
            if "at" in fields:
                r.bad(where, "the first step happens at the transcript's 'at': give the instant there")
        elif "reply" not in fields:
            r.bad(where, "missing 'reply' (only the first step, the dial, has none)")
        else:
            rnode = fields["reply"]
            if _is_null(rnode):
                r.bad(where, 'reply: empty; write reply: "" to send an empty answer')
            else:
                reply = r.text(rnode, f"{where}: reply")
            if ended is not None:
                r.bad(where, f"a reply after the dialogue ended (step {ended} expects end: true)")
        step_at = None
        if n > 1 and "at" in fields:
            step_at = r.instant(fields["at"], f"{where}: at", previous)
            if step_at is not None and previous is not None and step_at < previous:
                r.bad(where, f"at {step_at.isoformat()} is before the previous instant {previous.isoformat()}: "
                             "time only moves on")
            previous = step_at or previous
        expect = _read_expect(r, fields["expect"], where) if "expect" in fields else None
        if expect is not None and expect.end and ended is None:
            ended = n
        steps.append(Step(n, reply, step_at, expect))
    return steps


def _read_expect(r: _Reader, node: yaml.Node, where: str) -> Expect | None:
    where = f"{where}: expect"
    fields = r.mapping(node, EXPECT_KEYS, where, "a mapping of text, lines, contains, absent, screen, page, end")
    if fields is None:
        return None
    get = fields.get
    return Expect(
        text=r.text(get("text"), f"{where}: text") if "text" in fields else None,
        lines=r.texts(get("lines"), f"{where}: lines") if "lines" in fields else (),
        contains=r.texts(get("contains"), f"{where}: contains") if "contains" in fields else (),
        absent=r.texts(get("absent"), f"{where}: absent") if "absent" in fields else (),
        screen=r.text(get("screen"), f"{where}: screen") if "screen" in fields else None,
        page=r.positive(get("page"), f"{where}: page") if "page" in fields else None,
        pages=r.positive(get("pages"), f"{where}: pages") if "pages" in fields else None,
        end=r.boolean(get("end"), f"{where}: end") if "end" in fields else None,
    )


def find_transcripts(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files as given, and folders' ``*.yaml``/``*.yml`` files, recursively and sorted. In folders,
    names starting with ``_`` or ``.`` are skipped (a place for shared account fixtures)."""
    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.suffix in TRANSCRIPT_SUFFIXES and f.is_file()
                and not any(part.startswith(("_", ".")) for part in f.relative_to(p).parts)
            )
            if not found:
                problems.append(f"{p}: no transcript (*.yaml) in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    return files, problems


# -- running -------------------------------------------------------------------------------------


def build_engine(t: Transcript, clock: HandsetClock) -> Engine:
    """A private engine: the transcript's accounts in a fresh in-memory store, its menus, and the
    engine and its session store (with the transcript's limits) on the transcript's clock."""
    store = open_store("memory:")
    store.put_many(t.subscribers)
    try:
        engine = demo_engine(t.menus, store=store, clock=clock, idle_timeout=t.idle_timeout,
                             max_duration=t.max_duration)
    except MenuError as exc:
        raise TranscriptError([f"{t.display}: menus: {p}" for p in exc.problems]) from None
    if not engine.menus.services:
        raise TranscriptError([f"{t.display}: menus: no service found in {', '.join(t.menus)}"])
    return engine


@dataclass
class StepOutcome:
    step: Step
    response: Response  # the screen after the step (the last one shown, when it could not be played)
    problems: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)  # unified diff lines when the text differs

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Result:
    transcript: Transcript
    outcomes: list[StepOutcome]

    @property
    def passed(self) -> bool:
        return len(self.outcomes) == len(self.transcript.steps) and all(o.ok for o in self.outcomes)

    @property
    def failures(self) -> list[StepOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def report(self) -> str:
        """What went wrong, step by step, readable in a terminal (empty when it passed)."""
        t = self.transcript
        out: list[str] = []
        for outcome in self.failures:
            head = f"  {t.display}: {outcome.step.describe(t.code)}"
            for problem in outcome.problems:
                out.append(f"{head}: {problem}")
            if outcome.diff:  # the diff shows the actual text and screen
                out.extend(f"    {line}" for line in outcome.diff)
            else:
                out.append(f"    actual screen {_status(outcome.response)}:")
                out.extend(f"    | {line}" for line in outcome.response.text.split("\n"))
        played = len(self.outcomes)
        if played + 1 == len(t.steps):
            out.append(f"  {t.display}: step {len(t.steps)} not played")
        elif played < len(t.steps):
            out.append(f"  {t.display}: steps {played + 1} to {len(t.steps)} not played")
        return "\n".join(out)


def _status(response: Response) -> str:
    state = "END" if response.end else "CON"
    return f"({response.screen or 'no screen'}, page {response.page}/{response.pages}, {state})"


def _trim(text: str) -> str:
    return text.rstrip("\n")


def check(expect: Expect | None, response: Response) -> tuple[list[str], list[str]]:
    """Compare one screen with what a step expects: the problems, and a unified diff of the text
    (expected, then actual) when it differs."""
    problems: list[str] = []
    diff: list[str] = []
    if expect is None:
        return problems, diff
    actual = response.text
    screen_lines = actual.split("\n")
    if expect.text is not None and _trim(expect.text) != _trim(actual):
        want, got = _trim(expect.text).split("\n"), _trim(actual).split("\n")
        problems.append("the text differs")
        diff = list(difflib.unified_diff(want, got, "expected", f"actual {_status(response)}", lineterm="",
                                         n=max(len(want), len(got))))
    for line in expect.lines:
        if line not in screen_lines:
            problems.append(f"missing line {line!r}")
    for part in expect.contains:
        if part not in actual:
            problems.append(f"missing text {part!r}")
    for part in expect.absent:
        if part in actual:
            problems.append(f"text present that must be absent: {part!r}")
    if expect.screen is not None and expect.screen != response.screen:
        problems.append(f"screen is {response.screen!r}, expected {expect.screen!r}")
    if expect.page is not None and expect.page != response.page:
        problems.append(f"page is {response.page}, expected {expect.page}")
    if expect.pages is not None and expect.pages != response.pages:
        problems.append(f"{response.pages} page(s), expected {expect.pages}")
    if expect.end is not None and expect.end != response.end:
        problems.append("the dialogue ended here, expected it to go on" if response.end
                        else "the dialogue goes on, expected it to end here")
    return problems, diff


def run_transcript(t: Transcript) -> Result:
    """Replay ``t`` on its own engine; raises :class:`TranscriptError` when its menus are broken or
    its subscriber is not a number the dialled service can read."""
    clock = HandsetClock(t.at)
    engine = build_engine(t, clock)
    try:
        msisdn = read_msisdn(engine, t.code, t.subscriber)
    except ValueError as exc:
        raise TranscriptError([f"{t.display}: subscriber: {exc}"]) from None
    return _play(t, msisdn, engine, clock.set, clock)


def run_transcript_via(t: Transcript, centre: tuple[str, int], qa: tuple[str, int]) -> Result:
    """Replay ``t`` through the whole SMPP path: every step dialled on the fake USSD centre at
    ``centre`` and carried to the gateway bound to it, whose QA control at ``qa`` (``ussd serve
    --qa``) first takes the transcript's accounts, menus, limits and instant, and moves its clock
    at each step's ``at``. Raises :class:`~simulator.centre_client.CentreError` when the path
    fails (nothing there, a refusal, the gateway's text not the one the handset shows)."""
    from accounts.export import subscriber_record

    from .centre_client import ViaGateway

    tz = load_policy().tz
    via = ViaGateway(centre, qa)
    try:
        via.qa.call({"load": {"subscribers": [subscriber_record(s, tz) for s in t.subscribers],
                              "at": t.at.isoformat(), "menus": list(t.menus), "idle_timeout": t.idle_timeout,
                              "max_duration": t.max_duration, "lang": t.lang}})
        return _play(t, t.subscriber, via, lambda at: via.qa.call({"at": at.isoformat()}), lambda: None)
    finally:
        via.close()


def _play(t: Transcript, msisdn: str, engine: Any, move: Callable[[datetime], object],
          now: Callable[[], datetime | None]) -> Result:
    """The steps of ``t`` on ``engine`` (a local one, or one reached through the network), each
    screen checked; ``move`` sets the instant when a step gives one, ``now`` is the instant a step
    is computed at (None: the engine's own)."""
    outcomes: list[StepOutcome] = []
    response: Response | None = None
    ended = 0
    for step in t.steps:
        if step.at is not None:
            move(step.at)
        if step.reply is None:
            response = engine.begin(msisdn, t.code, now(), lang=t.lang)
        else:
            assert response is not None
            if response.end:
                outcomes.append(StepOutcome(step, response, [f"the dialogue ended at step {ended}: this reply cannot be sent"]))
                break
            response = engine.reply(response.session, step.reply, now())
        if response.end:
            ended = step.number
        problems, diff = check(step.expect, response)
        outcomes.append(StepOutcome(step, response, problems, diff))
    if response is not None and not response.end:
        engine.abort(response.session)  # the transcript stops here: hang up
    return Result(t, outcomes)


# -- recording -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


@dataclass
class Recorder:
    """Collects a handset walk (:attr:`simulator.handset.Handset.on_screen`) and writes it as a
    transcript that replays it wherever it runs: the dialling subscriber's records as they were
    before the dial (``subscribers``, import format; empty for an unknown number), the start
    instant and each later one that differs, and the session limits when they are not the defaults.
    With ``local`` (the operator's zone, when ``--at`` had no offset) instants are written in that
    zone without an offset, as they were given."""

    msisdn: str
    code: str
    subscribers: list[dict[str, Any]]
    lang: str | None = None
    menus: Sequence[str] = ()
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_duration: float = DEFAULT_MAX_DURATION
    local: tzinfo | None = None
    #: What recorded the walk, said in the file's header.
    by: str = "ussd dial --record"
    steps: list[tuple[str | None, datetime, Response]] = field(default_factory=list)

    def screen(self, reply: str | None, at: datetime, response: Response) -> None:
        self.steps.append((reply, at, response))

    def to_yaml(self, path: str | Path) -> str:
        """The transcript; ``path`` is where it will be written (menu paths are made relative to it)."""
        if not self.steps:
            raise ValueError("nothing was shown: there is no dialogue to record")
        first = self.steps[0][1]
        doc: dict[str, Any] = {"subscriber": self.msisdn, "at": self._instant(first), "code": self.code}
        if self.lang:
            doc["lang"] = self.lang
        if self.menus:
            base = Path(path).resolve().parent
            doc["menus"] = [_relative(Path(m).resolve(), base) for m in self.menus]
        for key, value, default in (("idle_timeout", self.idle_timeout, DEFAULT_IDLE_TIMEOUT),
                                    ("max_duration", self.max_duration, DEFAULT_MAX_DURATION)):
            if value != default:
                doc[key] = int(value) if value.is_integer() else value
        doc["subscribers"] = self.subscribers
        steps: list[dict[str, Any]] = []
        previous = first
        for reply, at, response in self.steps:
            step: dict[str, Any] = {}
            if reply is not None:
                step["reply"] = reply
                if at != previous:
                    step["at"] = self._instant(at)
                previous = at
            expect: dict[str, Any] = {"screen": response.screen} if response.screen else {}
            expect.update(text=response.text, end=response.end)
            step["expect"] = expect
            steps.append(step)
        doc["steps"] = steps
        header = (
            f"# Recorded with `{self.by}` on {wall_clock().isoformat()}:"
            " replay it with `ussd transcript FILE`.\n"
            "# The account fixture is inline (`subscribers:`, the dialling subscriber as the store held them\n"
            "# before the dial), so the replay starts from the same accounts wherever it runs.\n"
        )
        body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
        return header + body

    def _instant(self, at: datetime) -> str:
        if self.local is None:
            return at.isoformat()
        return at.astimezone(self.local).replace(tzinfo=None).isoformat()

    def write(self, path: str | Path) -> None:
        text = self.to_yaml(path)
        Path(path).write_text(text, encoding="utf-8")


def _relative(target: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # another drive
        return str(target)
