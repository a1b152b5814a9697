"""The operator's bonus policy (``accounts/policy.yaml``): usage windows, rubrique titles, line labels.

Policy is data an operator edits, not code: when weekend buckets may be spent, what "Bonus Nuit"
means by the clock, what each line is called. Loading checks it and names ``file:line:column`` for
every mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ussd.model import Problem, Where
from ussd.timezone import DEFAULT_TIMEZONE, DEFAULT_TZ
from ussd.yamlnodes import NodeReader, did_you_mean

from .model import LANGUAGES, RUBRIQUES, SCOPES, Instant, to_datetime

POLICY_FILE = Path(__file__).with_name("policy.yaml")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: The place of a line no policy entry names: after every named one.
UNRANKED = 1_000_000
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class PolicyError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


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


def _clock(reader: NodeReader, path: str, node: yaml.Node, what: str) -> time | None:
    text = reader.string(path, node, what)
    if text is None:
        return None
    match = _CLOCK.match(text)
    if not match:
        reader.problem(path, node, f"{what}: expected a time of day HH:MM, not {text!r}")
        return None
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _labels(reader: NodeReader, path: str, node: yaml.Node, what: str) -> dict[str, str]:
    if isinstance(node, yaml.ScalarNode):
        text = reader.string(path, node, what)
        return {"*": text} if text is not None else {}
    fields = reader.mapping(path, node, LANGUAGES, what) or {}
    out = {}
    for lang, value in fields.items():
        text = reader.string(path, value, f"{what} [{lang}]")
        if text is not None:
            out[lang] = text
    missing = [lang for lang in LANGUAGES if lang not in fields]
    if fields and missing:  # one text for all is a scalar; a mapping names every language
        reader.problem(path, node, f"{what}: missing {', '.join(missing)} (give every language: "
                       f"{', '.join(LANGUAGES)}, or one text for all)")
    return out


def load_policy(path: str | Path = POLICY_FILE) -> Policy:
    """Read and check a policy file; raises :class:`PolicyError` listing every problem."""
    path = str(path)
    problems: list[Problem] = []
    reader = NodeReader(problems)
    try:
        with open(path, encoding="utf-8") as fh:
            root = yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Where(path, mark.line + 1, mark.column + 1) if mark else Where(path, 1, 1)
        raise PolicyError([Problem(where, f"cannot read the policy: {getattr(exc, 'problem', None) or exc}")]) from None
    if root is None:
        raise PolicyError([Problem(Where(path, 1, 1), "empty policy file")])
    top = reader.mapping(path, root, ("timezone", "windows", "rubriques", "lines", "favourites", "passes"),
                         "policy") or {}

    tz: tzinfo = DEFAULT_TZ
    if "timezone" in top:
        name = reader.string(path, top["timezone"], "timezone")
        try:
            tz = ZoneInfo(name or "")
        except (ZoneInfoNotFoundError, ValueError):
            reader.problem(path, top["timezone"], f"timezone: unknown time zone {name!r} (e.g. {DEFAULT_TIMEZONE})")

    windows: dict[str, Window] = {}
    for name, node in (reader.mapping(path, top["windows"], (), "windows") or {} if "windows" in top else {}).items():
        what = f"window {name!r}"
        fields = reader.mapping(path, node, ("days", "start", "end", "label"), what) or {}
        days: set[int] = set()
        days_node = fields.get("days")
        if days_node is not None and not isinstance(days_node, yaml.SequenceNode):
            reader.problem(path, days_node, f"{what} days: expected a list of days like [saturday, sunday]")
        for day_node in days_node.value if isinstance(days_node, yaml.SequenceNode) else []:
            day = reader.string(path, day_node, f"{what} days")
            if day is None:
                continue
            if day.lower() in DAYS:
                days.add(DAYS.index(day.lower()))
            else:
                reader.problem(path, day_node, f"{what} days: {day!r} is not a day{did_you_mean(day.lower(), DAYS)}")
        start = _clock(reader, path, fields["start"], f"{what} start") if "start" in fields else None
        end = _clock(reader, path, fields["end"], f"{what} end") if "end" in fields else None
        if ("start" in fields) != ("end" in fields):
            reader.problem(path, node, f"{what}: give both 'start' and 'end', or neither")
        label = _labels(reader, path, fields["label"], f"{what} label") if "label" in fields else {}
        windows[name] = Window(name, frozenset(days), start, end, label)

    rubriques: dict[tuple[str, str], RubriqueRule] = {}
    accounts = reader.mapping(path, top["rubriques"], tuple(RUBRIQUES), "rubriques") or {} if "rubriques" in top else {}
    for account, node in accounts.items():
        for rubrique, rnode in (reader.mapping(path, node, RUBRIQUES[account], f"rubriques {account}") or {}).items():
            what = f"rubrique {account}.{rubrique}"
            fields = reader.mapping(path, rnode, ("title", "window"), what) or {}
            title = _labels(reader, path, fields["title"], f"{what} title") if "title" in fields else {"*": rubrique}
            window = None
            if "window" in fields:
                wname = reader.string(path, fields["window"], f"{what} window")
                window = windows.get(wname or "")
                if window is None:
                    reader.problem(path, fields["window"], f"{what} window: no window {wname!r}{did_you_mean(wname or '', windows)}")
            rubriques[(account, rubrique)] = RubriqueRule(account, rubrique, title, window)
    for account, names in RUBRIQUES.items():
        for rubrique in names:
            rubriques.setdefault((account, rubrique), RubriqueRule(account, rubrique, {"*": rubrique}, None))

    scope_labels: dict[tuple[str, str, str | None], LineName] = {}
    line_labels: dict[tuple[str, str, str], LineName] = {}
    line_nodes = top["lines"].value if "lines" in top and isinstance(top["lines"], yaml.SequenceNode) else []
    if "lines" in top and not isinstance(top["lines"], yaml.SequenceNode):
        reader.problem(path, top["lines"], "lines: expected a list")
    for n, node in enumerate(line_nodes, 1):
        what = f"lines entry {n}"
        fields = reader.mapping(path, node, ("account", "rubrique", "scope", "line", "label"), what) or {}
        values = {k: reader.string(path, v, f"{what} {k}") for k, v in fields.items() if k != "label"}
        account, rubrique = values.get("account"), values.get("rubrique")
        if account not in RUBRIQUES or rubrique not in RUBRIQUES.get(account or "", ()):
            reader.problem(path, node, f"{what}: needs a known account and rubrique, not {account!r}/{rubrique!r}")
            continue
        scope = values.get("scope")
        if scope is not None and scope not in SCOPES[account]:
            reader.problem(path, fields["scope"], f"{what}: {account} has no scope {scope!r}; it has: {', '.join(SCOPES[account]) or 'none'}")
            continue
        label = _labels(reader, path, fields["label"], f"{what} label") if "label" in fields else {}
        if not any(label.values()):
            reader.problem(path, node, f"{what}: missing 'label' (text, or {{fr: ..., en: ...}})")
            continue
        name = line_name(n - 1, label)
        line = values.get("line")
        if line is not None:
            line_labels.setdefault((account, rubrique, line), name)
        else:
            scope_labels.setdefault((account, rubrique, scope), name)
    favourites_max = 3
    if "favourites" in top:
        ffields = reader.mapping(path, top["favourites"], ("max",), "favourites") or {}
        if "max" in ffields:
            favourites_max = reader.integer(path, ffields["max"], "favourites max") or favourites_max
    pass_rubrique = "pass"
    if "passes" in top:
        pfields = reader.mapping(path, top["passes"], ("rubrique",), "passes") or {}
        if "rubrique" in pfields:
            named = reader.string(path, pfields["rubrique"], "passes rubrique")
            lacking = [a for a, names in RUBRIQUES.items() if named not in names]
            if named is not None and lacking:
                reader.problem(path, pfields["rubrique"], f"passes rubrique: {named!r} is not a rubrique of "
                               f"{', '.join(lacking)}; passes go to one every sub-account has, like 'pass'")
            else:
                pass_rubrique = named or pass_rubrique
    if problems:
        raise PolicyError(problems)
    return Policy(tz, windows, rubriques, scope_labels, line_labels, favourites_max, pass_rubrique)
