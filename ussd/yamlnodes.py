"""Reading YAML node trees while keeping every node's place, for messages that say where.

Shared by everything that reads operator-written YAML (menus, account policy): each reader records
problems instead of raising, so one mistake never hides the next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import yaml

from .model import Problem, Where


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def where_of(path: str, node: yaml.Node) -> Where:
    mark = node.start_mark
    return Where(path, mark.line + 1, mark.column + 1)


#: The most of a file's text a message quotes: enough to recognise a value, never a file's content.
EXCERPT = 80


def excerpt(text: str) -> str:
    """``text`` quoted, cut to :data:`EXCERPT` characters (a message names a value, it does not
    copy a file into a log)."""
    return repr(text) if len(text) <= EXCERPT else f"{text[:EXCERPT]!r}... ({len(text)} characters)"


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "nothing (null)"
    return excerpt(node.value)


class NodeReader:
    """Turns nodes into values, recording problems instead of raising."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def problem(self, path: str, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(where_of(path, node), message))

    def mapping(
        self, path: str, node: yaml.Node, allowed: Sequence[str], what: str
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(path, node, f"{what}: expected a mapping, found {describe(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, key_node, f"{what}: keys must be plain words")
                continue
            key = key_node.value
            if key in out:
                self.problem(path, key_node, f"{what}: duplicate key {excerpt(key)}")
                continue
            if allowed and key not in allowed:
                self.problem(
                    path,
                    key_node,
                    f"{what}: unknown key {excerpt(key)}{did_you_mean(key, allowed)}; "
                    f"expected one of: {', '.join(allowed)}",
                )
                continue
            out[key] = value
        return out

    def string(self, path: str, node: yaml.Node, what: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
            return str(node.value)
        self.problem(path, node, f"{what}: expected text, found {describe(node)}")
        return None

    def integer(self, path: str, node: yaml.Node, what: str) -> int | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
            try:
                return int(node.value.replace("_", ""), 0)
            except ValueError:
                pass
        self.problem(path, node, f"{what}: expected a whole number, found {describe(node)}")
        return None

    def boolean(self, path: str, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return node.value.lower() in ("true", "yes", "on")
        self.problem(path, node, f"{what}: expected true or false, found {describe(node)}")
        return None

    def strings(self, path: str, node: yaml.Node, what: str) -> list[str]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(path, node, f"{what}: expected a list, found {describe(node)}")
            return []
        found = (self.string(path, item, what) for item in node.value)
        return [s for s in found if s is not None]
