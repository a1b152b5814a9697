"""The shape of an operator's file, checked against its JSON Schema, each problem at its line:column.

Every kind of file the project reads (menus, the policy, the pass catalogue, subscriber imports,
transcripts, the server configuration) publishes a JSON Schema (draft 2020-12) that says its keys,
types, enums, required fields and patterns: editors read the same schema for completion and inline
errors. ``jsonschema`` does the checking; this module turns its errors into :class:`Diagnostic`
values an operator can act on: the YAML node's place, a label built from the path ("screen 'ask'
input min"), did-you-mean for unknown keys and values. What a schema cannot say (links between
screens, reachability, expressions, page fit) stays in each reader.

Annotations the schemas may carry (JSON Schema ignores keywords it does not know):

- ``x-item``: on a list or a mapping of named things, what one of them is called in messages
  ("screen" makes the path ``screens/ask`` read "screen 'ask'", ``options/3`` "option 4");
- ``x-expected``: what a value should look like, for a pattern, a range or alternatives ("1 to 4
  digits, * or #");
- ``x-message``: the whole message for a failed ``not`` or ``dependentRequired`` rule;
- ``description`` (standard) on a property: said after "missing 'x'" when it is required.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import yaml

from .diagnostics import Diagnostic, Where, did_you_mean, excerpt

if TYPE_CHECKING:  # jsonschema is imported when a file has a problem to explain: 66 ms a start saved
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

#: A place in a document: mapping keys and list indexes from the root.
Path = tuple[str | int, ...]
#: Where a path is in its file; ``key=True`` asks for the mapping key's place rather than its value's.
Locate = Callable[[Path, bool], Where]

#: Deepest nesting read: far beyond any real file, well within Python's and jsonschema's recursion.
MAX_DEPTH = 64
#: The most words a label has ("screen 'ask' input min" has three): deeper paths keep their ends.
MAX_LABEL_WORDS = 8
#: Aliases may repeat a node (a shared list of options), not multiply a document ("billion laughs"):
#: reading stops once it has visited this many values more than sixteen times the distinct nodes.
ALIAS_ALLOWANCE = 1000


class Schema:
    """A JSON Schema and its compiled validators (made on first use: checking is not always needed).

    Two validators of the same schema: ``jsonschema-rs`` answers "is it valid?" some hundreds of
    times faster than ``jsonschema`` (0.4 ms against 190 ms for the seven #122# menu files), which
    matters for a server's start, a reload and a test suite that loads menus hundreds of times;
    ``jsonschema`` explains what is wrong, with the error tree the messages are made from, and runs
    only for a file that has a problem."""

    def __init__(self, document: Mapping[str, Any], name: str) -> None:
        self.document = document
        self.name = name
        self._validator: Draft202012Validator | None = None
        self._fast: Any = None

    @property
    def validator(self) -> Draft202012Validator:
        if self._validator is None:
            from jsonschema import Draft202012Validator

            Draft202012Validator.check_schema(self.document)
            self._validator = Draft202012Validator(self.document)
        return self._validator

    def is_valid(self, value: Any) -> bool:
        if self._fast is None:
            self._fast = jsonschema_rs.validator_for(dict(self.document))
        return bool(self._fast.is_valid(value))

    def text(self) -> str:
        return json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"

    def check(self, value: Any, locate: Locate, label: Callable[[Path], str] | None = None) -> list[Diagnostic]:
        """Every way ``value`` departs from the schema, as diagnostics placed by ``locate``."""
        try:
            if self.is_valid(value):
                return []
        except ValueError:  # not a JSON value (a set, a key that is not text...): jsonschema says what is wrong
            pass
        labels = label or (lambda path: path_label(self.document, path))
        found: list[Diagnostic] = []
        for error in self.validator.iter_errors(value):
            found.extend(_explain(error, self.document, locate, labels))
        return found


@cache
def packaged_schema(package: str, name: str) -> Schema:
    """The schema ``name`` shipped in ``package``'s ``schemas`` folder (files do not change while
    the process runs, hence the cache)."""
    text = resources.files(package).joinpath(f"schemas/{name}").read_text(encoding="utf-8")
    return Schema(json.loads(text), name)


# -- YAML nodes as plain values, with their places ------------------------------------------------

_SCALAR = yaml.constructor.SafeConstructor()


@dataclass
class Document:
    """A YAML document as plain JSON-like values, and the node behind every one of them."""

    path: str
    value: Any = None
    values: dict[Path, yaml.Node] = field(default_factory=dict)
    keys: dict[Path, yaml.Node] = field(default_factory=dict)
    #: What no schema can see (duplicate keys, keys that are not words...): the path of the mapping
    #: or value it is about, where it is, and what is wrong; labelled by :func:`check_document`.
    problems: list[tuple[Path, Where, str]] = field(default_factory=list)

    def where(self, path: Path, key: bool = False) -> Where:
        """The place of ``path``'s key (``key=True``) or value, or of its nearest ancestor."""
        while True:
            node = (self.keys.get(path) if key else None) or self.values.get(path)
            if node is not None:
                return where_of(self.path, node)
            if not path:
                return Where(self.path, 1, 1)
            path, key = path[:-1], False


def where_of(path: str, node: yaml.Node) -> Where:
    mark = node.start_mark
    return Where(path, mark.line + 1, mark.column + 1)


def scalar(node: yaml.ScalarNode) -> Any:
    """A scalar as JSON would hold it: timestamps and other YAML-only types stay their text."""
    tag = node.tag
    if tag.endswith((":int", ":float", ":bool", ":null")):
        try:
            value = _SCALAR.construct_object(node)
        except (ValueError, yaml.YAMLError):
            return node.value
        # .nan and .inf are no JSON numbers: as text, a schema says they are not the number expected
        return node.value if isinstance(value, float) and not math.isfinite(value) else value
    return node.value


def read_document(root: yaml.Node, path: str) -> Document:
    """``root`` as plain values; duplicate keys, keys that are not plain words, aliases that
    multiply and nesting too deep are problems of their own (no schema can see them)."""
    doc = Document(path)
    visits = 0
    seen: set[int] = set()

    def convert(node: yaml.Node, at: Path, depth: int) -> Any:
        nonlocal visits
        visits += 1
        seen.add(id(node))
        if visits > ALIAS_ALLOWANCE + 16 * len(seen):
            raise _TooMany(node)
        doc.values[at] = node
        if depth > MAX_DEPTH:
            doc.problems.append((at, where_of(path, node), f"nested more than {MAX_DEPTH} levels deep"))
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":null"):
                    doc.problems.append((at, where_of(path, key_node), "keys must be plain words"))
                    continue
                key = str(key_node.value)
                if key in out:
                    first = where_of(path, doc.keys[at + (key,)])
                    doc.problems.append((at, where_of(path, key_node),
                                         f"duplicate key {excerpt(key)} (first at line {first.line})"))
                    continue
                doc.keys[at + (key,)] = key_node
                out[key] = convert(value_node, at + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, at + (n,), depth + 1) for n, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return scalar(node)

    try:
        doc.value = convert(root, (), 0)
    except _TooMany as exc:
        doc.value = None
        doc.problems.append(((), where_of(path, exc.node), "aliases repeat this document's nodes too many "
                                                            "times: write the values out, or alias less"))
    return doc


class _TooMany(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def check_document(doc: Document, schema: Schema) -> list[Diagnostic]:
    """The document's own problems, then the schema's (none when it could not be read whole)."""
    own = [Diagnostic(where, f"{path_label(schema.document, at)}: {message}") for at, where, message in doc.problems]
    if doc.value is None and own:
        return own
    return own + schema.check(doc.value, doc.where)


# -- labels: what a path is called in a message ----------------------------------------------------


def path_label(schema: Mapping[str, Any], path: Path, top: str = "file") -> str:
    """``("screens", "ask", "input", "min")`` -> "screen 'ask' input min", using ``x-item``."""
    if not path:
        return top
    words: list[str] = []
    current = [schema]
    for step in path:
        item = next((s["x-item"] for s in current if "x-item" in s), None)
        if item is not None:
            if words:
                words.pop()  # "screens" becomes "screen 'ask'", not "screens screen 'ask'"
            words.append(f"{item} {step + 1}" if isinstance(step, int) else f"{item} {step!r}")
        else:
            words.append(f"item {step + 1}" if isinstance(step, int) else _key_word(step))
        current = list(_children(schema, current, step))
    if len(words) > MAX_LABEL_WORDS:  # a list nested in lists...: the start and the end say where
        words = words[:2] + ["..."] + words[-(MAX_LABEL_WORDS - 3):]
    return " ".join(words)


def _key_word(key: str) -> str:
    """A key as a label says it: a plain word as it is, anything else quoted and cut."""
    return key if re.fullmatch(r"[\w.-]{1,40}", key) else excerpt(key)


def _branches(root: Mapping[str, Any], schema: Mapping[str, Any], depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """``schema`` and every subschema that applies to the same value (refs, allOf, if/then...)."""
    if depth > 16:
        return
    yield schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        if isinstance(target, Mapping):
            yield from _branches(root, target, depth + 1)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            if isinstance(sub, Mapping):
                yield from _branches(root, sub, depth + 1)
    for key in ("then", "else"):
        sub = schema.get(key)
        if isinstance(sub, Mapping):
            yield from _branches(root, sub, depth + 1)


def _children(root: Mapping[str, Any], schemas: Sequence[Mapping[str, Any]],
              step: str | int) -> Iterator[Mapping[str, Any]]:
    """The subschemas that apply to ``step`` of a value the ``schemas`` apply to."""
    for given in schemas:
        for schema in _branches(root, given):
            if isinstance(step, int):
                items = schema.get("items")
                if isinstance(items, Mapping):
                    yield from _branches(root, items)
                continue
            props = schema.get("properties", {})
            if step in props and isinstance(props[step], Mapping):
                yield from _branches(root, props[step])
            for pattern, sub in schema.get("patternProperties", {}).items():
                if re.search(pattern, step) and isinstance(sub, Mapping):
                    yield from _branches(root, sub)
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and step not in props:
                yield from _branches(root, extra)


# -- messages --------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "nothing",
}


def describe(value: Any) -> str:
    """What was found, in an operator's words."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return excerpt(str(value))


def _expected(schema: Mapping[str, Any]) -> str:
    if "x-expected" in schema:
        return str(schema["x-expected"])
    kinds = schema.get("type")
    if isinstance(kinds, str):
        return _TYPE_WORDS.get(kinds, kinds)
    if isinstance(kinds, list):
        return " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
    if "enum" in schema:
        return "one of: " + ", ".join(map(str, schema["enum"]))
    if "const" in schema:
        return repr(schema["const"])
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return " or ".join(dict.fromkeys(_expected(s) for s in alternatives if isinstance(s, Mapping)))
    return "something else"


def _explain(error: ValidationError, root: Mapping[str, Any], locate: Locate,
             label: Callable[[Path], str]) -> Iterator[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    rule: Any = error.validator_value
    value = error.instance
    said = f"{label(path)}: "
    if kind == "additionalProperties" and isinstance(value, Mapping):
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for key in value:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            hint = f"; expected one of: {', '.join(known)}" if known else ""
            yield Diagnostic(locate(path + (key,), True),
                             f"{said}unknown key {excerpt(key)}{did_you_mean(key, known)}{hint}")
        return
    if kind == "propertyNames" and isinstance(value, Mapping):
        for key in value:
            if not Schema(rule, "key").is_valid(key):
                yield Diagnostic(locate(path + (key,), True),
                                 f"{said}{excerpt(key)}: expected {_expected(rule)}")
        return
    if kind == "required":
        absent = [k for k in rule if isinstance(value, Mapping) and k not in value]
        # one error per missing key: name the one this error is about (not the first one, each time)
        missing = next((k for k in absent if error.message == f"{k!r} is a required property"),
                       absent[0] if absent else None)
        about = schema.get("properties", {}).get(missing, {})
        why = f" ({about['description']})" if isinstance(about, Mapping) and "description" in about else ""
        yield Diagnostic(locate(path, False), f"{said}missing {missing!r}{why}")
        return
    if kind == "dependentRequired" and isinstance(value, Mapping):
        for key, needs in rule.items():
            if key in value and any(n not in value for n in needs):
                need = next(n for n in needs if n not in value)
                yield Diagnostic(locate(path + (key,), True), f"{said}{key!r} only goes with {need!r}")
        return
    if kind in ("anyOf", "oneOf") and error.context:
        chosen = _branch_errors(error)
        if chosen:
            for sub in chosen:
                yield from _explain(sub, root, locate, label)
            return
    if kind in ("enum", "const"):
        choices = [str(c) for c in (rule if kind == "enum" else [rule])]
        if path and isinstance(path[-1], str) and not isinstance(value, (Mapping, list)) and value is not None:
            # "screen 'ask' input: unknown kind 'phon'", said of the mapping that holds the key
            text = f"unknown {path[-1]} {describe(value)}{did_you_mean(str(value), choices)}"
            said = f"{label(path[:-1])}: "
            yield Diagnostic(locate(path, False), f"{said}{text}; expected one of: {', '.join(choices)}")
        else:
            expected = f"expected one of: {', '.join(choices)}"
            close = "" if isinstance(value, (Mapping, list)) or value is None else did_you_mean(str(value), choices)
            yield Diagnostic(locate(path, False), f"{said}{expected}, found {describe(value)}{close}")
        return
    if kind == "not" and "x-message" in schema:
        yield Diagnostic(locate(path, False), f"{said}{schema['x-message']}")
        return
    if kind == "type" or kind in ("anyOf", "oneOf"):
        yield Diagnostic(locate(path, False), f"{said}expected {_expected(schema)}, found {describe(value)}")
        return
    if kind == "minItems":
        count = rule
        yield Diagnostic(locate(path, False), f"{said}expected at least {count} item{'s' if count != 1 else ''}")
        return
    if kind in ("maxItems", "minLength", "maxLength", "minimum", "maximum", "pattern",
                "minProperties", "maxProperties", "exclusiveMinimum", "exclusiveMaximum", "format"):
        if "x-expected" in schema:
            found = "" if isinstance(value, (Mapping, list)) else f", not {describe(value)}"
            yield Diagnostic(locate(path, False), f"{said}expected {schema['x-expected']}{found}")
            return
    yield Diagnostic(locate(path, False), f"{said}{error.message}")


def _branch_errors(error: ValidationError) -> list[ValidationError]:
    """For a value that fits none of a rule's alternatives: the errors of the one alternative of
    its type (a mapping that is a wrong mapping, not "expected text or a mapping"), if just one is."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0]
        if isinstance(index, int):
            by_branch.setdefault(index, []).append(sub)
    fitting = [errs for errs in by_branch.values()
               if not any(e.validator == "type" and not e.relative_path for e in errs)]
    return fitting[0] if len(fitting) == 1 else []
