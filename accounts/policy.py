"""The operator's bonus policy (``accounts/policy.yaml``): usage windows, rubrique titles, line labels.

Policy is data an operator edits, not code: when weekend buckets may be spent, what "Bonus Nuit"
means by the clock, what each line is called. Its shape (keys, sub-account and rubrique names,
days, times of day, texts per language) is ``schemas/policy.schema.json``, which editors read too;
loading checks that, then what no schema can say (the time zone exists, a rubrique's window is one
of the file's), and names ``file:line:column`` for every mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ussd import (
    DEFAULT_TIMEZONE,
    DEFAULT_TZ,
    Diagnostic,
    Document,
    InvalidFile,
    Where,
    check_document,
    did_you_mean,
    excerpt,
    packaged_schema,
    read_file,
)

from .model import LANGUAGES, RUBRIQUES, SCOPES, Instant, to_datetime

POLICY_FILE = Path(__file__).with_name("policy.yaml")
#: The days a window may name, in ``datetime.weekday()`` order (the schema lists the same).
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: The place of a line no policy entry names: after every named one.
UNRANKED = 1_000_000
#: A place in a document: mapping keys and list indexes from the root (as :class:`Document` keys its nodes).
At = tuple[str | int, ...]


class PolicyError(InvalidFile):
    """A policy that cannot be used, with every problem found in it."""


@dataclass(frozen=True, slots=True)
class Window:
    """When a rubrique's buckets may be spent, in operator time: on ``days`` (all week when
    empty), from ``start`` to ``end`` (all day when both are None; an end before the start
    wraps past midnight)."""

    name: str
    days: frozenset[int]  # 0 = Monday
    start: time | None
    end: time | None
    label: Mapping[str, str]

    def contains(self, local: datetime) -> bool:
        if self.days and local.weekday() not in self.days:
            return False
        if self.start is None or self.end is None:
            return True
        now = local.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end


@dataclass(frozen=True, slots=True)
class RubriqueRule:
    account: str
    rubrique: str
    title: Mapping[str, str]
    window: Window | None


class LineName(NamedTuple):
    """A line's place among the policy's ``lines`` (the help page's order, not the alphabet's)
    and its name per language ({"*": text} when written once)."""

    rank: int
    names: Mapping[str, str]
    #: The name in the operator's first language, for tools and JSON.
    label: str


def line_name(rank: int, names: Mapping[str, str]) -> LineName:
    return LineName(rank, per_language(names), first_text(names))


def first_text(names: Mapping[str, str], default: str = "") -> str:
    return names.get("fr") or names.get("*") or next(iter(names.values()), default)


def per_language(text: Mapping[str, str]) -> dict[str, str]:
    """A text of the operator's files ({"*": x} or per language) as one entry per language
    subscribers speak, the missing ones in the first language."""
    fallback = text.get("*") or text.get("fr") or next(iter(text.values()), "")
    return {lang: text.get(lang, fallback) for lang in LANGUAGES}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per loaded file
class Policy:
    tz: tzinfo
    windows: Mapping[str, Window]
    rubriques: Mapping[tuple[str, str], RubriqueRule]
    #: (account, rubrique, scope or None) -> name, and (account, rubrique, line) -> name.
    scope_labels: Mapping[tuple[str, str, str | None], LineName]
    line_labels: Mapping[tuple[str, str, str], LineName]
    #: How many favourite numbers a subscriber may keep.
    favourites_max: int = 3
    #: The rubrique of each sub-account where passes and options bought are filed.
    pass_rubrique: str = "pass"
    #: name() for every (account, rubrique, scope, line) the policy names: one plain dict lookup
    #: per bucket; other combinations go through name().
    labels: dict[tuple[str, str, str | None, str | None], LineName] = field(init=False)
    #: Each sub-account's rubrique titles and window words per language (:meth:`words`), made on
    #: first use: policy text, the same at every step.
    _words: dict[str, tuple[dict[str, dict[str, str]], dict[str, dict[str, str] | None]]] = field(
        init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        labels = {}
        for account, names in RUBRIQUES.items():
            for rubrique in names:
                for line in (None, *(n for a, r, n in self.line_labels if (a, r) == (account, rubrique))):
                    for scope in SCOPES[account] or (None,):
                        labels[(account, rubrique, scope, line)] = self.name(account, rubrique, scope, line)
        object.__setattr__(self, "labels", labels)

    def words(self, account: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str] | None]]:
        """The rubriques of ``account``: each one's title, and its window's words (None: no
        window), per language. (Two threads asking at once both make the same words.)"""
        found = self._words.get(account)
        if found is None:
            rules = [self.rubriques[(account, rubrique)] for rubrique in RUBRIQUES[account]]
            found = self._words[account] = ({r.rubrique: per_language(r.title) for r in rules},
                                             {r.rubrique: per_language(r.window.label) if r.window else None
                                              for r in rules})
        return found

    def open_windows(self, now: Instant) -> tuple[bool, ...]:
        """Which windows are open at ``now``, in the file's order: with the counting buckets, all
        that a resolution depends on besides the subscriber's data."""
        if not self.windows:
            return ()
        local = to_datetime(now, self.tz)
        return tuple([window.contains(local) for window in self.windows.values()])

    def name(self, account: str, rubrique: str, scope: str | None, line: str | None) -> LineName:
        """What a bucket's line is called, and its place: the entry naming its line, else the one
        naming its scope, else (after every entry) the rubrique's title and the scope."""
        if line is not None:
            found = self.line_labels.get((account, rubrique, line))
            if found is not None:
                return found
        found = self.scope_labels.get((account, rubrique, scope))
        if found is not None:
            return found
        title = self.rubriques[(account, rubrique)].title
        names = {lang: " ".join(x for x in (text, scope) if x) for lang, text in title.items()}
        return line_name(UNRANKED, names or {"*": rubrique})

    def label(self, account: str, rubrique: str, scope: str | None, line: str | None) -> str:
        return self.name(account, rubrique, scope, line).label


# -- the operator's YAML files (the policy, the pass catalogue): read, and their texts as written ---


def texts(doc: Document, at: At) -> dict[str, str]:
    """The text at ``at`` of a checked document as the operator wrote it ({"*": text} when written
    once for every language): an unquoted ``2024`` or ``yes`` stays those characters."""
    node = doc.values[at]
    if isinstance(node, yaml.MappingNode):
        return {str(key.value): str(value.value) for key, value in node.value}
    return {"*": str(node.value)}


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one: for looking into a document the schema
    may have rejected without tripping over what it rejected."""
    return value if isinstance(value, dict) else {}


# -- the policy -----------------------------------------------------------------------------------


def load_policy(path: str | Path = POLICY_FILE) -> Policy:
    """Read and check a policy file; raises :class:`PolicyError` listing every problem."""
    doc = read_file(path, PolicyError)
    if doc is None:
        raise PolicyError([Diagnostic(Where(str(path), 1, 1), "empty policy file")])
    _times_as_written(doc)
    problems = check_document(doc, packaged_schema("accounts", "policy.schema.json"))
    problems += _zone_problems(doc) + _window_links(doc)
    if problems:
        raise PolicyError(problems)
    return _policy(doc)


def _times_as_written(doc: Document) -> None:
    """YAML 1.1 reads an unquoted 18:00 as a number (64800, in base 60): a window's start and end
    are the text the operator wrote, as editors (on YAML 1.2) read it too."""
    for name, window in _mapping(_mapping(doc.value).get("windows")).items():
        for key in ("start", "end"):
            node = doc.values.get(("windows", name, key))
            if isinstance(window, dict) and isinstance(window.get(key), int) and isinstance(node, yaml.ScalarNode):
                window[key] = node.value


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _zone_problems(doc: Document) -> list[Diagnostic]:
    """The time zone must be one this machine knows (no schema can list them)."""
    name = _mapping(doc.value).get("timezone")
    if not isinstance(name, str) or not name or _zone(name) is not None:
        return []
    return [Diagnostic(doc.where(("timezone",)),
                       f"timezone: unknown time zone {excerpt(name)} (e.g. {DEFAULT_TIMEZONE})")]


def _window_links(doc: Document) -> list[Diagnostic]:
    """A rubrique's window must be one the file defines."""
    top = _mapping(doc.value)
    windows = _mapping(top.get("windows"))
    found = []
    for account, rules in _mapping(top.get("rubriques")).items():
        for rubrique, rule in _mapping(rules).items():
            wanted = _mapping(rule).get("window")
            if isinstance(wanted, str) and wanted not in windows:
                found.append(Diagnostic(doc.where(("rubriques", account, rubrique, "window")),
                                        f"rubrique {account}.{rubrique} window: no window {excerpt(wanted)}"
                                        f"{did_you_mean(wanted, windows)}"))
    return found


def _policy(doc: Document) -> Policy:
    """The policy a checked document says (every value has the schema's shape)."""
    top = doc.value
    windows = {name: _window(doc, name) for name in top.get("windows", {})}
    settings = {"favourites_max": top.get("favourites", {}).get("max"),
                "pass_rubrique": top.get("passes", {}).get("rubrique")}
    return Policy(_zone(top.get("timezone", DEFAULT_TIMEZONE)) or DEFAULT_TZ, windows, _rubriques(doc, windows),
                  *_line_names(doc), **{key: value for key, value in settings.items() if value is not None})


def _window(doc: Document, name: str) -> Window:
    raw = doc.value["windows"][name]
    label = texts(doc, ("windows", name, "label")) if "label" in raw else {}
    return Window(name, frozenset(DAYS.index(day) for day in raw.get("days", ())),
                  _clock(raw.get("start")), _clock(raw.get("end")), label)


def _clock(text: str | None) -> time | None:
    return None if text is None else time.fromisoformat(text)


def _rubriques(doc: Document, windows: Mapping[str, Window]) -> dict[tuple[str, str], RubriqueRule]:
    """Every rubrique's rule: as the file says, else titled by its name, with no window."""
    given = doc.value.get("rubriques", {})
    rules = {}
    for account, names in RUBRIQUES.items():
        for rubrique in names:
            raw = given.get(account, {}).get(rubrique, {})
            title = texts(doc, ("rubriques", account, rubrique, "title")) if "title" in raw else {"*": rubrique}
            rules[(account, rubrique)] = RubriqueRule(account, rubrique, title, windows.get(raw.get("window", "")))
    return rules


def _line_names(doc: Document) -> tuple[dict[tuple[str, str, str | None], LineName],
                                        dict[tuple[str, str, str], LineName]]:
    """The names ``lines`` gives, by scope and by line, each ranked by its entry (the first entry
    for a scope or line wins)."""
    by_scope: dict[tuple[str, str, str | None], LineName] = {}
    by_line: dict[tuple[str, str, str], LineName] = {}
    for n, entry in enumerate(doc.value.get("lines", [])):
        name = line_name(n, texts(doc, ("lines", n, "label")))
        account, rubrique = entry["account"], entry["rubrique"]
        if "line" in entry:
            by_line.setdefault((account, rubrique, entry["line"]), name)
        else:
            by_scope.setdefault((account, rubrique, entry.get("scope")), name)
    return by_scope, by_line
