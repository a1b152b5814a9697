"""Plain data (dicts, lists, text) from a large YAML file, straight from libyaml's events.

PyYAML's composer and constructor resolve every scalar's type in Python, which makes a 100,000
subscriber file take minutes; provisioning only needs text (the importer checks and converts every
field itself), so this builds dicts and lists from the parser's events and reads scalars as text.
Plain ``~``, ``null`` and empty scalars are None; anchors and aliases are honoured.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))


def load_plain(data: bytes | str, item_lines: dict[str, list[int]] | None = None) -> Any:
    """The first document of ``data`` as plain data; raises ``yaml.YAMLError`` on bad syntax.

    With ``item_lines``, each list directly under the root mapping gets, under its key, the line
    (1-based) where each of its items starts, so problems with a record can name its line (a key
    given twice keeps the lines of the list that is kept, the last)."""
    loader = _Loader(data)
    try:
        get_event = loader.get_event
        anchors: dict[str, Any] = {}
        # A stack of open containers: [container, pending_key_or_marker]
        stack: list[list[Any]] = []
        root: Any = None
        no_key = object()
        lines: list[int] | None = None  # where the items of the root's list being read start

        def add(value: Any) -> None:
            nonlocal root
            if not stack:
                root = value
                return
            top = stack[-1]
            container = top[0]
            if type(container) is list:
                container.append(value)
            elif top[1] is no_key:
                top[1] = value if isinstance(value, str) or value is None else str(value)
            else:
                container[top[1]] = value
                top[1] = no_key

        ScalarEvent, MappingStartEvent, SequenceStartEvent = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
        MappingEndEvent, SequenceEndEvent, AliasEvent = yaml.MappingEndEvent, yaml.SequenceEndEvent, yaml.AliasEvent
        DocumentEndEvent, StreamEndEvent = yaml.DocumentEndEvent, yaml.StreamEndEvent
        while True:
            event = get_event()
            kind = type(event)
            if item_lines is not None and len(stack) == 2 and lines is not None and (
                    kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent or kind is AliasEvent):
                lines.append(event.start_mark.line + 1)
            if kind is ScalarEvent:
                value = event.value
                if event.implicit[0] and not event.style and value in _NULLS:
                    value = None
                if event.anchor is not None:
                    anchors[event.anchor] = value
                add(value)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                container: Any = {} if kind is MappingStartEvent else []
                if event.anchor is not None:
                    anchors[event.anchor] = container
                if item_lines is not None and len(stack) == 1:  # a value of the root mapping
                    pending = stack[0][1]
                    lines = None
                    if kind is SequenceStartEvent and type(stack[0][0]) is dict and isinstance(pending, str):
                        lines = item_lines[pending] = []
                add(container)
                stack.append([container, no_key])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
            elif kind is AliasEvent:
                if event.anchor not in anchors:
                    raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
                add(anchors[event.anchor])
            elif kind is DocumentEndEvent or kind is StreamEndEvent:
                return root
    finally:
        loader.dispose()
