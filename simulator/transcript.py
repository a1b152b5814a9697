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

Its shape (keys, types, required fields, the clock forms, the short code) is the JSON Schema
``simulator/schemas/transcript.schema.json``, which editors read too (a ``# yaml-language-server:
$schema=...`` first line); this module checks what a schema cannot say: that the files and folders
named exist, the fixture's records, that the instants exist and never go back, that no reply
follows a step expecting the end.

A ``reply`` after a step that expects ``end: true`` is a mistake of the transcript; a reply the
engine cannot send because the dialogue really ended fails that step. In folders, ``*.yaml`` and
``*.yml`` files are run recursively, except names starting with ``_`` or ``.`` (a place for shared
accounts files and test menus).

Every transcript runs on its own engine: an in-memory account store filled from its fixture (a
purchase in one transcript never shows in another), its menus, and a session store whose clock
follows the transcript's instants, so a gap longer than the idle timeout (``idle_timeout``, 60 s)
between two steps ends the dialogue as the network would. A file that is not a valid transcript is
reported in one line per mistake, where it is (``t.yaml:8:5: step 3: unknown key 'expct' (did you
mean 'expect'?); ...``), never with a traceback.
"""

from __future__ import annotations

import difflib
import os
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
from ussd import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_DURATION,
    Diagnostic,
    Document,
    Engine,
    InvalidFile,
    MenuError,
    Response,
    Schema,
    Where,
    check_document,
    excerpt,
    packaged_schema,
    read_file,
)
from ussd.shape import path_label

from .clock import HandsetClock, read_instant, wall_clock
from .demo import default_menu_paths, demo_engine
from .handset import read_msisdn

DEFAULT_CODE = "#122#"
TRANSCRIPT_SUFFIXES = (".yaml", ".yml")
#: The transcript's JSON Schema, named in the first line of every transcript for editors.
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "transcript.schema.json"

#: A place in a transcript's document: keys and list indexes from the top.
Place = tuple[str | int, ...]


def transcript_schema() -> Schema:
    return packaged_schema("simulator", SCHEMA_FILE.name)


class TranscriptError(InvalidFile):
    """A file that is not a valid transcript, or whose fixture or menus are broken: every mistake,
    each where it is (a broken fixture or menu file at the key of the transcript that names it)."""


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
        what = f"dial {code}" if self.reply is None else f"reply {self.reply!r}"
        return f"step {self.number} ({what})"


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
    #: Where the file names the subscriber and the menus: problems found when it runs are placed there.
    subscriber_at: Where | None = field(default=None, compare=False)
    menus_at: Where | None = field(default=None, compare=False)

    @property
    def display(self) -> str:
        return str(self.path)

    def error(self, where: Where | None, messages: Iterable[str]) -> TranscriptError:
        """Problems found when it runs, placed at ``where`` in the file (its top when None)."""
        return TranscriptError(Diagnostic(where or Where(self.display, 1, 1), m) for m in messages)


# -- reading -------------------------------------------------------------------------------------


class _Reader:
    """One transcript's document after its schema check. What the schema cannot say is checked
    here, and never a value the schema already rejected: each mistake is said once."""

    def __init__(self, doc: Document, tz: tzinfo) -> None:
        schema = transcript_schema()
        self.doc = doc
        self.tz = tz
        self.labels = schema.document
        self.problems = check_document(doc, schema)
        #: The places of the values the schema refused (asked again only of a file with problems).
        self.rejected: set[Place] = set()
        if self.problems:
            self.rejected = {tuple(e.absolute_path) for e in schema.validator.iter_errors(doc.value)}

    def fits(self, place: Place) -> bool:
        """Whether the schema took the value at ``place`` and all it holds."""
        return not any(p[:len(place)] == place for p in self.rejected)

    def bad(self, place: Place, message: str, key: str | None = None) -> None:
        """A problem with the value at ``place`` (placed on its ``key`` when given), named as the
        schema's problems are ("step 3 at: ...")."""
        where = self.doc.where(place + (key,), key=True) if key else self.doc.where(place)
        self.problems.append(Diagnostic(where, f"{path_label(self.labels, place)}: {message}"))

    def written(self, place: Place) -> str | None:
        """The scalar at ``place`` as written in the file (``00`` is "00", ``1`` is "1"), if it is one."""
        node = self.doc.values.get(place)
        if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
            return str(node.value)
        return None

    def instant(self, place: Place, text: Any, previous: datetime | None = None) -> datetime | None:
        """The instant the schema took at ``place`` (ISO 8601, or a move from ``previous``): a form
        that names no instant (30 February, a move past the year 9998) is a problem."""
        if not isinstance(text, str) or not self.fits(place) or (previous is None and text.strip().startswith("+")):
            return None  # the schema said what is wrong (or, for a move, with the instant it moves from)
        moment = read_instant(text, self.tz, previous)
        if moment is None:
            self.bad(place, f"no such instant: {excerpt(text)} (a real date and time, years 1970 to 9998)")
        return moment

    def existing(self, place: Place, raw: Any) -> Path | None:
        """The file or folder ``raw`` names, relative to the transcript, when it exists."""
        if not isinstance(raw, str) or not self.fits(place):
            return None
        try:
            given = Path(raw).expanduser()
            resolved = given if given.is_absolute() else Path(self.doc.path).parent / given
            if resolved.exists():
                return resolved
            problem = f"no such file or folder: {raw} (looked for {resolved})"
        except (OSError, ValueError, RuntimeError) as exc:  # a name too long, a NUL, ~nobody
            problem = f"cannot use this path ({exc})"
        self.bad(place, problem)
        return None


def load_transcript(path: str | Path) -> Transcript:
    """Read and check a transcript file, its account fixture and its menu paths; raises
    :class:`TranscriptError` listing every mistake."""
    path = Path(path)
    tz = load_policy().tz
    doc = read_file(path, TranscriptError)
    if doc is None:
        raise TranscriptError([Diagnostic(Where(str(path), 1, 1),
                                          "empty file: expected a transcript (subscriber, at, steps)")])
    r = _Reader(doc, tz)
    top = r.doc.value
    if not isinstance(top, dict):
        raise TranscriptError(r.problems)
    at = r.instant(("at",), top.get("at"))
    menus = _menus(r, top)
    accounts, subscribers = _fixture(r, top)
    idle_timeout = _seconds(top, "idle_timeout", DEFAULT_IDLE_TIMEOUT)
    max_duration = _seconds(top, "max_duration", DEFAULT_MAX_DURATION)
    steps = _steps(r, top.get("steps"), at)
    subscriber = r.written(("subscriber",))
    if r.problems or subscriber is None or at is None:
        raise TranscriptError(r.problems)
    return Transcript(path, top.get("name") or path.name, subscriber, tuple(subscribers), accounts, at,
                      top.get("code", DEFAULT_CODE), top.get("lang"), tuple(menus), tuple(steps), idle_timeout,
                      max_duration, r.doc.where(("subscriber",)), r.doc.where(("menus",)))


def _menus(r: _Reader, top: dict[str, Any]) -> list[str]:
    """The menu files and folders named (each must exist), or the shipped menus."""
    if "menus" not in top:
        return list(default_menu_paths())
    given = top["menus"]
    named = [(("menus", n), raw) for n, raw in enumerate(given)] if isinstance(given, list) else [(("menus",), given)]
    found = (r.existing(place, raw) for place, raw in named)
    return [str(p) for p in found if p is not None]


def _fixture(r: _Reader, top: dict[str, Any]) -> tuple[str, list[Subscriber]]:
    """Where the accounts come from ("inline" or a file) and its records: the inline ones, an
    accounts file's, or the shipped demo accounts."""
    if "subscribers" in top:
        if "accounts" in top or not r.fits(("subscribers",)):
            return "inline", []  # the schema said what is wrong
        try:
            return "inline", parse_records(top["subscribers"], r.doc.path, r.tz,
                                           lambda at, key: r.doc.where(("subscribers", *at), key))
        except ImportFailed as exc:
            r.problems.extend(exc.diagnostics)
            return "inline", []
    source = r.existing(("accounts",), top["accounts"]) if "accounts" in top else DEMO_ACCOUNTS
    if source is None:
        return "", []
    try:
        return str(source), read_subscribers(source, r.tz)
    except ImportFailed as exc:  # placed in the accounts file, said at the key that names it
        for problem in exc.diagnostics:
            r.bad(("accounts",), str(problem))
        return str(source), []


def _seconds(top: dict[str, Any], key: str, default: float) -> float:
    """A session limit: the schema took only a number above 0 (.inf and .nan are no JSON numbers)."""
    value = top.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _steps(r: _Reader, given: Any, at: datetime | None) -> list[Step]:
    """The steps, with what links them: instants that only move on, no reply after an expected end."""
    steps: list[Step] = []
    previous = at
    ended: int | None = None  # the step that expects the dialogue to end
    for n, item in enumerate(given if isinstance(given, list) else [], start=1):
        if not isinstance(item, dict):
            continue
        place: Place = ("steps", n - 1)
        reply = r.written(place + ("reply",)) if n > 1 else None  # the dial's reply is the schema's to refuse
        if n > 1 and "reply" in item and ended is not None:
            r.bad(place, f"a reply after the dialogue ended (step {ended} expects end: true)", key="reply")
        step_at = None
        if n > 1 and "at" in item:
            step_at = r.instant(place + ("at",), item["at"], previous)
            if step_at is not None and previous is not None and step_at < previous:
                r.bad(place + ("at",), f"{step_at.isoformat()} is before the previous instant "
                                       f"{previous.isoformat()}: time only moves on")
            previous = step_at or previous
        expect = _expect(r, place + ("expect",), item.get("expect"))
        if expect is not None and expect.end and ended is None:
            ended = n
        steps.append(Step(n, reply, step_at, expect))
    return steps


def _expect(r: _Reader, place: Place, given: Any) -> Expect | None:
    if not isinstance(given, dict):
        return None

    def texts(key: str) -> tuple[str, ...]:
        """A list of texts, or one text standing for a list of one."""
        value = given.get(key)
        places = [place + (key, n) for n in range(len(value))] if isinstance(value, list) else [place + (key,)]
        return tuple(t for t in map(r.written, places) if t is not None)

    def number(key: str) -> int | None:
        value = given.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    end = given.get("end")
    return Expect(text=r.written(place + ("text",)), lines=texts("lines"), contains=texts("contains"),
                  absent=texts("absent"), screen=r.written(place + ("screen",)), page=number("page"),
                  pages=number("pages"), end=end if isinstance(end, bool) else None)


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
        raise t.error(t.menus_at, (f"menus: {d}" for d in exc.diagnostics)) from None
    if not engine.menus.services:
        raise t.error(t.menus_at, [f"menus: no service found in {', '.join(t.menus)}"])
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
        raise t.error(t.subscriber_at, [f"subscriber: {exc}"]) from None
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
                problem = f"the dialogue ended at step {ended}: this reply cannot be sent"
                outcomes.append(StepOutcome(step, response, [problem]))
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
        """The transcript; ``path`` is where it will be written (the paths of its menus and of its
        schema, in the first line for editors, are made relative to it)."""
        if not self.steps:
            raise ValueError("nothing was shown: there is no dialogue to record")
        base = Path(path).resolve().parent
        first = self.steps[0][1]
        doc: dict[str, Any] = {"subscriber": self.msisdn, "at": self._instant(first), "code": self.code}
        if self.lang:
            doc["lang"] = self.lang
        if self.menus:
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
            f"# yaml-language-server: $schema={_relative(SCHEMA_FILE, base)}\n"
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
