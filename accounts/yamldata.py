"""Plain data (dicts, lists, text) from a large YAML file, straight from libyaml's events.

PyYAML's composer and constructor resolve every scalar's type in Python, which makes a 100,000
subscriber file take minutes; provisioning only needs text (the importer checks and converts every
field itself), so this builds dicts and lists from the parser's events and reads scalars as text.
Plain ``~``, ``null`` and empty scalars are None; anchors and aliases are honoured.

Nothing is read two ways or dropped: a key given twice, a key that is not text, an anchor given
twice, an alias inside the node it names and a second document are flaws, all listed at once. An
alias shares its node rather than copying it, but whatever walks the data later (a check, a message
quoting a value) meets it once per use: aliases of aliases ("billion laughs") make a few hundred
bytes stand for gigabytes. So each anchored node's size is known (its text, with what its own
aliases bring in), and aliases may bring in, in all, at most :data:`ALIAS_RATIO` times the file's
text (or :data:`ALIAS_FLOOR` characters for a small file); past that the file is refused at once.

Only the places of the root's parts are kept while reading (:class:`Marks`): keeping every value's
would cost as much again for 100,000 records. :func:`places` finds the rest in a second pass, for
the parts that have a problem to place.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

import yaml

_Loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))

#: Aliases may bring in this many times the file's own text (a bucket list shared by every
#: subscriber of a 100,000-subscriber file brings in about twice its text)...
ALIAS_RATIO = 10
#: ... and, for a small file, this many characters (about what a 30,000-subscriber file holds).
ALIAS_FLOOR = 10_000_000

#: A line and a column, 1-based.
Position = tuple[int, int]
#: A value's place in a document: mapping keys (text, or None for ``~``) and list indexes from the root.
Path = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Flaw:
    """Something that makes a file's data ambiguous, endless or too big, and where it is."""

    line: int
    column: int
    message: str


class DataError(yaml.YAMLError):
    """The flaws found in a file's data, in file order (bad syntax raises libyaml's own errors)."""

    def __init__(self, flaws: list[Flaw]) -> None:
        super().__init__("\n".join(f"line {f.line} column {f.column}: {f.message}" for f in flaws))
        self.flaws = flaws


@dataclass(slots=True)
class Marks:
    """Where the root's parts start, for problems to name: the root, each of its keys, and each
    item of each list directly under it (by that list's key)."""

    root: Position = (1, 1)
    keys: dict[Any, Position] = field(default_factory=dict)
    items: dict[str, list[Position]] = field(default_factory=dict)


def _at(event: Any) -> Position:
    mark = event.start_mark
    return mark.line + 1, mark.column + 1


def _kind(value: Any) -> str:
    return "a list" if type(value) is list else "a mapping" if type(value) is dict else "nothing"


def load_plain(data: bytes | str, marks: Marks | None = None) -> Any:
    """The document in ``data`` as plain data, filling ``marks`` if given. Raises
    :class:`DataError` listing every flaw (one past the alias bound ends the reading), or
    ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(data)
    try:
        return _build(loader.get_event, marks if marks is not None else Marks(),
                      max(ALIAS_FLOOR, ALIAS_RATIO * len(data)))
    finally:
        loader.dispose()


def _build(get_event: Any, marks: Marks, bound: int) -> Any:
    """The loop of :func:`load_plain`: one pass over the events, kept in one function (and its
    common paths first) because it runs some sixty times per subscriber."""
    anchors: dict[str, Any] = {}
    anchored_at: dict[str, int] = {}  # the line each anchor is given on
    sizes: dict[str, int] = {}  # each anchor's node, in characters; absent while the node is open
    open_anchors: list[tuple[int, str, int, int]] = []  # depth, anchor, start index, brought-in then
    brought = 0  # characters brought in by aliases so far
    flaws: list[Flaw] = []
    # A stack of open containers: [mapping, pending key or no_key] or [list, its item marks or None]
    stack: list[list[Any]] = []
    root: Any = None
    no_key = object()

    def place(value: Any, event: Any) -> None:
        nonlocal root
        if not stack:
            root = value
            marks.root = _at(event)
            return
        top = stack[-1]
        container = top[0]
        if type(container) is list:
            if top[1] is not None:
                top[1].append(_at(event))
            container.append(value)
        elif top[1] is not no_key:
            container[top[1]] = value
            top[1] = no_key
        elif type(value) is str or value is None:
            if value in container:
                written = event.value if type(event) is ScalarEvent else f"*{event.anchor}"
                flaws.append(Flaw(*_at(event), f"{written!r} is given twice: each key is given once"))
            elif len(stack) == 1:
                marks.keys[value] = _at(event)
            top[1] = value
        else:
            flaws.append(Flaw(*_at(event), f"a key must be text, found {_kind(value)}"))
            top[1] = object()  # the value goes under a key of its own, never read

    def anchor(name: str, value: Any, event: Any) -> None:
        if name in anchored_at:
            flaws.append(Flaw(*_at(event), f"anchor &{name} is already given on line {anchored_at[name]}: "
                                           "each anchor is given once"))
        anchored_at[name] = event.start_mark.line + 1
        anchors[name] = value

    ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
    MappingStartEvent, MappingEndEvent = yaml.MappingStartEvent, yaml.MappingEndEvent
    SequenceStartEvent, SequenceEndEvent = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    DocumentEndEvent, StreamEndEvent = yaml.DocumentEndEvent, yaml.StreamEndEvent
    while True:
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            value = event.value
            if event.implicit[0] and not event.style and value in _NULLS:
                value = None
            if event.anchor is not None:
                anchor(event.anchor, value, event)
                sizes[event.anchor] = event.end_mark.index - event.start_mark.index
            place(value, event)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            if open_anchors and open_anchors[-1][0] == len(stack):
                _, name, start, before = open_anchors.pop()
                sizes[name] = event.end_mark.index - start + brought - before
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            container: Any = {} if kind is MappingStartEvent else []
            if event.anchor is not None:
                anchor(event.anchor, container, event)
                sizes.pop(event.anchor, None)
                open_anchors.append((len(stack), event.anchor, event.start_mark.index, brought))
            items = None
            if len(stack) == 1 and kind is SequenceStartEvent and type(stack[0][0]) is dict:
                pending = stack[0][1]
                if type(pending) is str:  # a list under a key of the root mapping
                    items = marks.items[pending] = []
            place(container, event)
            stack.append([container, no_key if kind is MappingStartEvent else items])
        elif kind is AliasEvent:
            name = event.anchor
            if name not in anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
            size = sizes.get(name)
            if size is None:
                flaws.append(Flaw(*_at(event), f"alias *{name} inside the node it names: that data would never end"))
                place(None, event)
                continue
            brought += size
            if brought > bound:
                flaws.append(Flaw(*_at(event), f"aliases bring in more than {bound:,} characters of data "
                                               f"({ALIAS_RATIO} times the file's, or {ALIAS_FLOOR:,}): refused as an "
                                               "alias bomb; write the data out, or share less"))
                raise DataError(flaws)
            place(anchors[name], event)
        elif kind is DocumentEndEvent:
            following = get_event()
            if type(following) is yaml.DocumentStartEvent:
                flaws.append(Flaw(*_at(following), "a second document (after ---): an import file holds one"))
            if flaws:
                raise DataError(flaws)
            return root
        elif kind is StreamEndEvent:
            return root


@dataclass(slots=True)
class Places:
    """Where values and mapping keys start, by path."""

    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)


def places(data: bytes | str, under: Container[Path]) -> Places:
    """Where the root, its keys and their values start, and every value and key inside the values
    at the paths ``under``, in a document :func:`load_plain` has read. A value an alias gives is
    placed at the alias, and nothing inside it is (it is written elsewhere, once for all its uses)."""
    found = Places()
    loader = _Loader(data)
    no_key, not_text = object(), object()  # awaiting a key; a key that is not text
    aliased: dict[str, Any] = {}  # the scalars anchors name, for aliases used as keys
    # each open container: [its path (None inside a key), whether a mapping, its next index or
    # pending key, whether what it holds is placed]
    stack: list[list[Any]] = []
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
                continue
            if kind is yaml.DocumentEndEvent or kind is yaml.StreamEndEvent:
                return found
            if kind is not yaml.ScalarEvent and kind is not yaml.AliasEvent and kind not in starts:
                continue
            value = _scalar(event) if kind is yaml.ScalarEvent else None
            if kind is yaml.ScalarEvent and event.anchor is not None:
                aliased[event.anchor] = value
            path: Path | None = ()
            inside = False
            if stack:
                top = stack[-1]
                if top[1] and top[2] is no_key:  # a key: its place, then its value's path
                    if kind is yaml.ScalarEvent:
                        top[2] = value
                    else:
                        top[2] = aliased.get(event.anchor, not_text) if kind is yaml.AliasEvent else not_text
                    if top[0] is not None and (top[3] or not top[0]):
                        found.keys[top[0] + (top[2],)] = _at(event)
                    if kind in starts:  # not text: refused when read, nothing inside it is placed
                        stack.append([None, kind is yaml.MappingStartEvent,
                                      no_key if kind is yaml.MappingStartEvent else 0, False])
                    continue
                path = None if top[0] is None else top[0] + (top[2],)
                if top[1]:
                    top[2] = no_key
                else:
                    top[2] += 1
                inside = top[3]
            if path is not None and (inside or len(path) <= 1 or path in under):
                found.values[path] = _at(event)
            if kind in starts:
                stack.append([path, kind is yaml.MappingStartEvent, no_key if kind is yaml.MappingStartEvent else 0,
                              inside or path is not None and path in under])
    finally:
        loader.dispose()


def _scalar(event: Any) -> Any:
    """A scalar as :func:`load_plain` reads it (which does the same inline, for speed)."""
    return None if event.implicit[0] and not event.style and event.value in _NULLS else event.value
