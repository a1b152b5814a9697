"""Menu YAML to the immutable model, reporting every problem with ``file:line:column``.

PyYAML's composer gives nodes with marks; we walk nodes rather than loaded values so that every
message can say where it comes from, duplicate keys are caught (YAML would silently keep the last),
and one bad screen never hides the problems of the next. Loading never raises for a bad file: it
returns the problems, and ``load_menus`` callers decide (the checker prints them, the engine refuses).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml

from . import messages as default_messages
from .diagnostics import Diagnostic, InvalidFile, Where, did_you_mean, excerpt, in_order
from .expr import Expr, ExprError, Template, compile_expr, compile_template
from .fit import check_fit
from .gsm import Charset, unprintable_at
from .inputs import PatternError, compile_pattern
from .model import (
    ANY_LANGUAGE,
    ActionScreen,
    ConfirmScreen,
    EachLine,
    EndScreen,
    InfoScreen,
    InputRules,
    InputScreen,
    Line,
    MenuScreen,
    MenuSet,
    NavKeys,
    Option,
    PhoneRule,
    Route,
    RouteScreen,
    Screen,
    Service,
    Text,
    TextLine,
)
from .registry import Registry
from .shape import check_document, packaged_schema, read_document, where_of
from .yamlfile import compose_file
from .yamlnodes import flag_of, mapping_of, placed_texts_of, text_of, texts_of, whole_of

MENU_SUFFIXES = (".yaml", ".yml")
T = TypeVar("T", Expr, Template)
#: The shape of a menu file (keys, types, screen kinds, input kinds...): the one statement of it,
#: which editors read too (docs/editors.md). The code below checks what a schema cannot say.
MENU_SCHEMA = packaged_schema("ussd", "menu.schema.json")
INPUT_KINDS = ("text", "digits", "phone", "amount")
#: The errors an input screen may word itself (``errors:``).
INPUT_ERRORS = ("kind", "pattern", "range", "length", "choice")
#: The navigation keys a service may choose (``keys:``).
_NAV_KEYS = tuple(f.name for f in dataclasses.fields(NavKeys))
SCREEN_TYPES = ("menu", "info", "end", "input", "confirm", "route", "action")
#: The longest a dropped dialogue may wait to be resumed (a service's ``resume``), in seconds.
MAX_RESUME_S = 3600
#: A mapping in a screen's ``lines`` holding one of these is a line, not a text per language.
_LINE_KEYS = ("text", "when", "each", "as", "line", "empty")


@dataclass
class LoadResult:
    menus: MenuSet
    problems: list[Diagnostic]
    files: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class MenuError(InvalidFile):
    """Raised by :func:`load_menus_or_raise` when a menu set has problems; lists all of them."""

    def __init__(self, problems: Sequence[Diagnostic]) -> None:
        super().__init__(problems)
        self.problems = self.diagnostics


@dataclass
class _File:
    path: str
    root: yaml.Node | None
    fields: dict[str, yaml.Node] = field(default_factory=dict)
    #: The SHA-256 of the bytes read (empty when the file could not be read).
    digest: str = ""


@dataclass
class _ServiceContext:
    path: str  # file being read
    languages: tuple[str, ...]
    default_language: str
    variables: frozenset[str]


class _ServiceBuilder:
    """Compiles one service: its main file and every file it includes."""

    def __init__(self, problems: list[Diagnostic], registry: Registry, files: dict[str, _File]) -> None:
        self.problems = problems
        self.registry = registry
        self.files = files
        self.screens: dict[str, Screen] = {}
        #: Screens a resumed dialogue does not land on (see ``Service.resume_skip``).
        self.resume_skip: set[str] = set()
        self.visited: list[str] = []
        #: The folder of the service's main file: includes may not leave it.
        self.folder = Path.cwd()

    def problem(self, path: str, node: yaml.Node, message: str) -> None:
        self.problems.append(Diagnostic(where_of(path, node), message))

    def problem_at(self, where: Where, message: str) -> None:
        self.problems.append(Diagnostic(where, message))

    # -- texts and expressions -------------------------------------------------------------

    def _column_in(self, node: yaml.Node, offset: int) -> Where:
        mark = node.start_mark
        quoted = 1 if getattr(node, "style", None) in ("'", '"') else 0
        plain_one_line = getattr(node, "style", None) in (None, "'", '"') and node.end_mark.line == mark.line
        column = mark.column + 1 + (quoted + offset if plain_one_line else 0)
        return Where(self.ctx.path, mark.line + 1, column)

    def _check_names(self, node: yaml.Node, names: frozenset[str], scope: frozenset[str]) -> None:
        for name in sorted(names - scope):
            found = (re.search(rf"(?<![\w.]){re.escape(name)}\b", str(node.value))
                     if isinstance(node, yaml.ScalarNode) else None)
            self.problems.append(
                Diagnostic(
                    self._column_in(node, found.start() if found else 0),
                    f"undefined variable {name!r}{did_you_mean(name, scope)}; "
                    f"known: {', '.join(sorted(scope))}",
                )
            )

    def expr(self, node: yaml.Node, what: str, extra: frozenset[str] = frozenset()) -> Expr | None:
        source = text_of(node)
        if source is not None and isinstance(node, yaml.ScalarNode) and node.tag.endswith((":bool", ":int", ":float")):
            source = {"true": "True", "false": "False"}.get(source.lower(), source)
        return self._compiled(node, source, what, extra, compile_expr)

    def template(self, node: yaml.Node, what: str, extra: frozenset[str]) -> Template | None:
        source = text_of(node)
        bad = -1 if source is None else unprintable_at(source)
        if source is not None and bad >= 0:
            self.problems.append(Diagnostic(self._column_in(node, bad), f"{what}: character U+{ord(source[bad]):04X} "
                                           "cannot be shown on a handset (a control or format character, or a "
                                           "lone surrogate): remove it"))
            return None
        return self._compiled(node, source, what, extra, compile_template)

    def _compiled(self, node: yaml.Node, source: str | None, what: str, extra: frozenset[str],
                  compile_fn: Callable[..., T]) -> T | None:
        """Compile an expression or template, reporting a syntax problem where it is and every
        name the scope does not know."""
        if source is None:
            return None
        try:
            compiled = compile_fn(source, names=None, filters=self.registry.filters)
        except ExprError as exc:
            self.problems.append(Diagnostic(self._column_in(node, exc.column), f"{what}: {exc}"))
            return None
        self._check_names(node, compiled.names, self.ctx.variables | extra)
        return compiled

    def text(self, node: yaml.Node, what: str, extra: frozenset[str] = frozenset()) -> Text | None:
        where = where_of(self.ctx.path, node)
        if isinstance(node, yaml.MappingNode):
            fields = mapping_of(node)
            if fields is None:
                return None
            variants: dict[str, Template] = {}
            for lang, value in fields.items():
                if lang not in self.ctx.languages:
                    self.problems.append(
                        Diagnostic(
                            where_of(self.ctx.path, value),
                            f"{what}: language {lang!r} is not one of the service's languages "
                            f"({', '.join(self.ctx.languages)}){did_you_mean(lang, self.ctx.languages)}",
                        )
                    )
                    continue
                tpl = self.template(value, f"{what} [{lang}]", extra)
                if tpl is not None:
                    variants[lang] = tpl
            missing = [lang for lang in self.ctx.languages if lang not in fields]
            if missing:
                self.problems.append(
                    Diagnostic(where, f"{what}: missing translation for {', '.join(missing)}")
                )
            return Text(variants, where) if variants else None
        tpl = self.template(node, what, extra)
        return None if tpl is None else Text({ANY_LANGUAGE: tpl}, where)

    def lines(self, fields: dict[str, yaml.Node], what: str) -> tuple[Line, ...]:
        out: list[Line] = []
        if "text" in fields:
            text = self.text(fields["text"], f"{what} text")
            if text is not None:
                out.append(TextLine(text))
        node = fields.get("lines")
        if isinstance(node, yaml.SequenceNode):
                for n, item in enumerate(node.value, 1):
                    line = self.line(item, f"{what} line {n}")
                    if line is not None:
                        out.append(line)
        return tuple(out)

    def line(self, node: yaml.Node, what: str) -> Line | None:
        if isinstance(node, yaml.MappingNode) and any(
            isinstance(k, yaml.ScalarNode) and k.value in _LINE_KEYS for k, _ in node.value
        ):
            fields = mapping_of(node)
            if fields is None:
                return None
            when = self.expr(fields["when"], f"{what} when") if "when" in fields else None
            if "each" in fields:
                return self.each(node, fields, what, when)
            if "text" not in fields:
                self.problem(self.ctx.path, node, f"{what}: expected 'text' or 'each'")
                return None
            text = self.text(fields["text"], what)
            return None if text is None else TextLine(text, when)
        text = self.text(node, what)
        return None if text is None else TextLine(text)

    def each(self, node: yaml.Node, fields: dict[str, yaml.Node], what: str, when: Expr | None) -> Line | None:
        items = self.expr(fields["each"], f"{what} each")
        alias = self._alias(fields, what)
        if "line" not in fields:
            self.problem(self.ctx.path, node, f"{what}: 'each' needs a 'line' template")
            return None
        line = self.text(fields["line"], f"{what} line", frozenset({alias}))
        empty = self.text(fields["empty"], f"{what} empty") if "empty" in fields else None
        if items is None or line is None:
            return None
        return EachLine(items, alias, line, empty, when, where_of(self.ctx.path, node))

    # -- screens ----------------------------------------------------------------------------

    def screen(self, screen_id: str, key_node: yaml.Node, node: yaml.Node) -> None:
        path = self.ctx.path
        what = f"screen {screen_id!r}"
        if screen_id in self.screens:
            self.problem(
                path, key_node,
                f"{what} is defined twice (first at {self.screens[screen_id].where})",
            )
            return
        fields = mapping_of(node)
        kind = None if fields is None else self._screen_type(fields)
        if fields is None or kind is None:
            return
        where = where_of(path, key_node)
        lines = self.lines(fields, what)
        if not lines and kind in ("info", "end", "input", "confirm") and "text" not in fields and "lines" not in fields:
            # a blank screen: the subscriber would see only the navigation reminder, or nothing
            self.problem(path, key_node, f"{what} shows nothing: give it a 'text' or 'lines'")
        build: Callable[..., Screen | None] = getattr(self, f"_{kind}")
        built = build(screen_id, where, lines, fields, what, node)
        if built is not None:
            self.screens[screen_id] = built
            resumable = flag_of(fields["resume"]) if "resume" in fields else None
            if resumable is False or (resumable is None and kind == "confirm"):
                self.resume_skip.add(screen_id)

    @staticmethod
    def _screen_type(fields: dict[str, yaml.Node]) -> str | None:
        """The screen's kind: its ``type``, or the one its keys imply (the schema says the same)."""
        if "type" in fields:
            kind = text_of(fields["type"])
            return kind if kind in SCREEN_TYPES else None
        for key, kind in (("options", "menu"), ("routes", "route"), ("action", "action"),
                          ("input", "input"), ("yes", "confirm")):
            if key in fields:
                return kind
        return "info"

    def _target(self, fields: dict[str, yaml.Node], key: str) -> str | None:
        """The screen ``key`` names, recorded as a link to check (a missing key is the schema's)."""
        if key not in fields:
            return None
        target = text_of(fields[key])
        if target is not None:
            self._links.append((target, where_of(self.ctx.path, fields[key])))
        return target

    def _menu(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
              node: yaml.Node) -> Screen | None:
        options: list[Option] = []
        options_node = fields.get("options")
        if not isinstance(options_node, yaml.SequenceNode):
            return None
        seen_keys: dict[str, Where] = {}
        for index, item in enumerate(options_node.value):
            option = self.option(sid, index, item, f"{what} option {index + 1}")
            if option is None:
                continue
            if option.key is not None:
                if option.key in seen_keys:
                    self.problem(
                        self.ctx.path, item,
                        f"{what}: duplicate option key {option.key!r} (first at {seen_keys[option.key]})",
                    )
                seen_keys[option.key] = option.where
            options.append(option)
        return MenuScreen(sid, where, lines, tuple(options))

    def option(self, sid: str, index: int, node: yaml.Node, what: str) -> Option | None:
        fields = mapping_of(node)
        if fields is None:
            return None
        key = None
        if "key" in fields:
            key = text_of(fields["key"])
            if key is not None and key in self._nav_keys:
                self.problem(
                    self.ctx.path, fields["key"],
                    f"{what} key: {key!r} is the service's {self._nav_keys[key]} key",
                )
        if "label" not in fields:
            return None
        each, alias = None, "item"
        extra: frozenset[str] = frozenset()
        if "each" in fields:
            each = self.expr(fields["each"], f"{what} each")
            alias = self._alias(fields, what)
            extra = frozenset({alias})
            if key is not None:
                self.problem(self.ctx.path, fields["key"], f"{what}: an 'each' option is numbered; it takes no 'key'")
        label = self.text(fields["label"], f"{what} label", extra)
        when = self.expr(fields["when"], f"{what} when", extra) if "when" in fields else None
        save: dict[str, Expr] = {}
        if "save" in fields:
            for name, value in (mapping_of(fields["save"]) or {}).items():
                compiled = self.expr(value, f"{what} save {name}", extra)
                if compiled is not None:
                    save[name] = compiled
        target: str | None
        if "action" in fields:
            if "on" not in fields:  # required of an action screen by the schema; of an option, here
                self.problem(self.ctx.path, node, f"{what}: missing 'on' (the screen for each outcome)")
            target = f"{sid}/option{index + 1}"
            built = self._action(target, where_of(self.ctx.path, node), (), fields, what, node)
            if built is not None:
                self.screens[target] = built
                self._links.append((target, built.where))
        else:
            if "goto" not in fields:
                self.problem(self.ctx.path, node, f"{what}: missing 'goto' or 'action' (what choosing it does)")
            target = self._target(fields, "goto")
        if label is None or target is None or ("each" in fields and each is None):
            return None
        return Option(index, key, label, target, when, where_of(self.ctx.path, node), each, alias, save)

    def _alias(self, fields: dict[str, yaml.Node], what: str) -> str:
        """The name an ``each`` gives its items (``as``, default ``item``)."""
        if "as" not in fields:
            return "item"
        alias = text_of(fields["as"]) or "item"
        if alias in self.ctx.variables:
            self.problem(self.ctx.path, fields["as"], f"{what} as: {alias!r} is already a variable's name; "
                                                      "choose a new one")
        return alias

    def _info(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
              node: yaml.Node) -> Screen:
        return InfoScreen(sid, where, lines)

    def _end(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
             node: yaml.Node) -> Screen:
        return EndScreen(sid, where, lines)

    def _confirm(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
                 node: yaml.Node) -> Screen | None:
        yes = self._target(fields, "yes")
        no = self._target(fields, "no")
        if yes is None or no is None:
            return None
        return ConfirmScreen(sid, where, lines, yes=yes, no=no)

    def _input(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
               node: yaml.Node) -> Screen | None:
        rules = InputRules("text")
        if "input" in fields:
            rules = self.input_rules(fields["input"], f"{what} input") or rules
        save = "value"
        if "save" in fields:
            save = text_of(fields["save"]) or save
        errors: dict[str, Text] = {}
        if "errors" in fields:
            err_fields = mapping_of(fields["errors"]) or {}
            for name, value in ((k, v) for k, v in err_fields.items() if k in INPUT_ERRORS):
                text = self.text(value, f"{what} errors {name}")
                if text is not None:
                    errors[name] = text
        target = self._target(fields, "next")
        if target is None:
            return None
        return InputScreen(sid, where, lines, rules=rules, save=save, target=target, errors=errors)

    def input_rules(self, node: yaml.Node, what: str) -> InputRules | None:
        path = self.ctx.path
        fields = mapping_of(node)
        if fields is None:
            return None
        kind = "text"
        if "kind" in fields:
            kind = text_of(fields["kind"]) or kind
            if kind not in INPUT_KINDS:
                kind = "text"
        pattern = None
        if "pattern" in fields:
            pattern = text_of(fields["pattern"])
            if pattern is not None:
                try:
                    compile_pattern(pattern)
                except PatternError as exc:
                    self.problem(path, fields["pattern"], f"{what} pattern: not a pattern the linear-time "
                                   f"matcher (RE2) accepts: {exc}; backreferences and lookarounds are not supported")
                    pattern = None
        numbers: dict[str, int | None] = {
            name: whole_of(fields[name])
            for name in ("min", "max", "min_length", "max_length") if name in fields
        }
        for low, high in (("min", "max"), ("min_length", "max_length")):
            lo, hi = numbers.get(low), numbers.get(high)
            if lo is not None and hi is not None and lo > hi:
                self.problem(path, fields[low], f"{what}: {low} ({lo}) is above {high} ({hi})")
        if kind != "amount" and kind != "digits" and ("min" in fields or "max" in fields):
            self.problem(path, node, f"{what}: 'min'/'max' are for kind amount or digits")
        choices = None
        if "choices" in fields:
            choices = tuple(texts_of(fields["choices"]))
        return InputRules(
            kind, pattern, numbers.get("min"), numbers.get("max"),
            numbers.get("min_length"), numbers.get("max_length"), choices,
        )

    def _route(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
               node: yaml.Node) -> Screen | None:
        routes_node = fields.get("routes")
        if not isinstance(routes_node, yaml.SequenceNode) or not routes_node.value:
            return None
        routes: list[Route] = []
        for n, item in enumerate(routes_node.value, 1):
            rfields = mapping_of(item)
            if rfields is None:
                continue
            when = self.expr(rfields["when"], f"{what} route {n} when") if "when" in rfields else None
            target = self._target(rfields, "goto")
            if target is not None:
                routes.append(Route(when, target, where_of(self.ctx.path, item)))
        if routes and routes[-1].when is not None:
            self.problem(
                self.ctx.path, routes_node.value[-1],
                f"{what}: the last route has a 'when', so a subscriber may match no route; "
                "add a last route without 'when'",
            )
        return RouteScreen(sid, where, lines, routes=tuple(routes))

    def _action(self, sid: str, where: Where, lines: tuple[Line, ...], fields: dict[str, yaml.Node], what: str,
                node: yaml.Node) -> Screen | None:
        path = self.ctx.path
        name = text_of(fields.get("action"))
        if name is None:
            return None
        spec = self.registry.actions.get(name)
        if spec is None:
            self.problem(
                path, fields["action"],
                f"{what}: unknown action {name!r}{did_you_mean(name, self.registry.actions)}; "
                f"registered: {', '.join(sorted(self.registry.actions)) or 'none'}",
            )
        args: dict[str, Expr] = {}
        if "args" in fields:
            arg_fields = mapping_of(fields["args"])
            for arg, value in (arg_fields or {}).items():
                compiled = self.expr(value, f"{what} args {arg}")
                if compiled is not None:
                    args[arg] = compiled
        outcomes: dict[str, str] = {}
        on_fields = mapping_of(fields.get("on"))
        for outcome, value in (on_fields or {}).items():
            if spec is not None and outcome not in spec.outcomes:
                self.problem(
                    path, value,
                    f"{what} on: action {name!r} has no outcome {outcome!r}"
                    f"{did_you_mean(outcome, spec.outcomes)}; it has: {', '.join(sorted(spec.outcomes))}",
                )
                continue
            target = text_of(value)
            if target is not None:
                outcomes[outcome] = target
                self._links.append((target, where_of(path, value)))
        return ActionScreen(sid, where, lines, action=name, args=args, outcomes=outcomes)

    # -- files ------------------------------------------------------------------------------

    def read_file(self, path: str, stack: tuple[str, ...], include_node: yaml.Node | None, include_from: str) -> None:
        if path in stack:
            chain = " -> ".join(Path(p).name for p in stack + (path,))
            assert include_node is not None
            self.problem(include_from, include_node, f"include cycle: {chain}")
            return
        if path in self.visited:
            return
        if not stack:  # the service's main file: its folder holds everything it includes
            self.folder = Path(path).resolve().parent
        self.visited.append(path)
        file = self.files.get(path)
        if file is None:
            file = self.files[path] = _parse_file(path, self.problems)
        if file.root is None:
            return
        self.ctx.path = path
        screens_node = file.fields.get("screens")
        if screens_node is not None:
            screens = mapping_of(screens_node)
            keys: dict[str, yaml.Node] = {}
            if isinstance(screens_node, yaml.MappingNode):
                for key_node, _ in screens_node.value:  # the first definition is the one kept
                    if isinstance(key_node, yaml.ScalarNode):
                        keys.setdefault(key_node.value, key_node)
            for sid, node in (screens or {}).items():
                self.screen(sid, keys[sid], node)
        include = file.fields.get("include")
        if include is not None:
            nodes = include.value if isinstance(include, yaml.SequenceNode) else [include]
            for item in nodes:
                name = text_of(item)
                if name is None:
                    continue
                try:
                    resolved = (Path(path).parent / name).resolve()
                    inside = resolved.is_relative_to(self.folder)
                    target = _display_path(str(resolved))
                    found = inside and Path(target).is_file()
                except (OSError, ValueError) as exc:  # a NUL, a name too long for the file system
                    self.problem(path, item, f"include: cannot use {excerpt(name)} as a file name ({exc})")
                    continue
                if not inside:
                    self.problem(path, item, f"include: {excerpt(name)} is outside the menu folder "
                                               f"({_display_path(str(self.folder))}): includes stay in it")
                    continue
                if not found:
                    self.problem(path, item, f"include: no such file {excerpt(name)}")
                    continue
                self.read_file(target, stack + (path,), item, path)
                self.ctx.path = path

    def build(self, file: _File) -> Service | None:
        path = file.path
        assert file.root is not None
        node = file.fields["service"]
        fields = mapping_of(node)
        if fields is None:
            return None
        code = text_of(fields.get("code"))
        if code is not None and service_number(code) is None:
            self.problem(path, fields["code"],
                           f"service code: expected a short code like \"#122#\" or \"*122#\", not {code!r}")
            code = None
        placed = placed_texts_of(fields["aliases"]) if "aliases" in fields else []
        aliases = [alias for _, alias in placed]
        for alias_node, alias in placed:
            if code and service_number(alias) != service_number(code):
                self.problem(path, alias_node, f"service aliases: {alias!r} is not the same short code as {code!r}")
        languages: tuple[str, ...] = ("fr", "en")
        if "languages" in fields:
            languages = tuple(texts_of(fields["languages"])) or languages
        raw = text_of(fields.get("charset"))
        charset = Charset(raw) if raw in tuple(Charset) else Charset.TRANSLITERATE
        keys = NavKeys()
        if "keys" in fields:
            kfields = mapping_of(fields["keys"]) or {}
            values = {k: text_of(kfields.get(k)) for k in _NAV_KEYS}  # a key the schema refused is not one
            keys = NavKeys(**{k: v for k, v in values.items() if v})
            if len({keys.back, keys.home, keys.more}) < 3:
                self.problem(path, fields["keys"], "service keys: back, home and more must differ")
        phone = PhoneRule()
        if "phone" in fields:
            pfields = mapping_of(fields["phone"]) or {}
            cc = (text_of(pfields["country_code"])
                  if "country_code" in pfields else None)
            nd = (whole_of(pfields["national_digits"])
                  if "national_digits" in pfields else None)
            prefixes = (placed_texts_of(pfields["prefixes"])
                        if "prefixes" in pfields else [])
            for prefix_node, prefix in prefixes:
                if not (prefix.isdigit() and prefix.isascii()) or len(prefix) >= (nd or phone.national_digits):
                    self.problem(path, prefix_node, "service phone prefixes: expected the first digits of a "
                                   f"national number, like '07', not {prefix!r}")
            phone = PhoneRule(cc or phone.country_code, nd or phone.national_digits,
                              tuple(prefix for _, prefix in prefixes))
        option_format = "{key}. {label}"
        if "option_format" in fields:
            given_format = text_of(fields["option_format"]) or ""
            if "{key}" in given_format and "{label}" in given_format:  # the schema's pattern says so
                option_format = given_format
        self._nav_keys = {keys.back: "back", keys.home: "home", keys.more: "more"}
        self.ctx = _ServiceContext(path, languages, languages[0], self.registry.variables)
        messages = self.messages(fields.get("messages"))
        entry = text_of(fields.get("entry"))
        self._links: list[tuple[str, Where]] = []
        if entry is not None:
            self._links.append((entry, where_of(path, fields["entry"])))
        self.read_file(path, (), None, path)
        self.ctx.path = path
        self.check_links()
        if entry is not None and entry in self.screens:
            self.check_reachable(entry)
        if code is None or entry is None:
            return None
        name = text_of(fields.get("name"))
        given = whole_of(fields.get("resume"))
        resume = given if given is not None and 0 <= given <= MAX_RESUME_S else 120
        return Service(
            code=code, aliases=tuple(aliases), name=name or code, entry=entry,
            languages=languages, default_language=languages[0], charset=charset, keys=keys,
            phone=phone, option_format=option_format, messages=MappingProxyType(messages),
            screens=MappingProxyType(dict(self.screens)), where=where_of(path, node),
            top_screens=self.top_screens(entry), resume=resume, resume_skip=frozenset(self.resume_skip),
        )

    def top_screens(self, entry: str) -> frozenset[str]:
        """The entry, and every screen its routes and actions lead to without asking anything."""
        top = {entry}
        todo = [entry]
        while todo:
            screen = self.screens.get(todo.pop())
            if screen is None or not screen.transient:
                continue
            for target, _ in screen.targets():
                if target not in top:
                    top.add(target)
                    todo.append(target)
        return frozenset(top)

    def messages(self, node: yaml.Node | None) -> dict[str, Text]:
        defaults = default_messages.DEFAULTS
        out: dict[str, Text] = {}
        given = {name: value for name, value in (mapping_of(node) or {}).items() if name in defaults}
        for name, node_value in (given or {}).items():
            text = self.text(node_value, f"message {name}")
            if text is not None:
                out[name] = text
        fallback = Where("<builtin messages>", 0, 0)
        for name, variants in defaults.items():
            if name in out:
                continue
            templates: dict[str, Template] = {}
            for lang in self.ctx.languages:
                source = variants.get(lang, variants["en"])
                templates[lang] = compile_template(source, names=None, filters=self.registry.filters)
            out[name] = Text(templates, fallback)
        return out

    def check_links(self) -> None:
        for target, where in self._links:
            if target not in self.screens:
                self.problems.append(
                    Diagnostic(where, f"no screen {target!r}{did_you_mean(target, self.screens)}")
                )

    def check_reachable(self, entry: str) -> None:
        seen = {entry}
        todo = [entry]
        while todo:
            screen = self.screens[todo.pop()]
            for target, _ in screen.targets():
                if target in self.screens and target not in seen:
                    seen.add(target)
                    todo.append(target)
        for sid, screen in self.screens.items():
            if sid not in seen and "/option" not in sid:
                self.problem_at(screen.where, f"screen {sid!r} is unreachable from the entry {entry!r}")
        self.check_transient_cycles()

    def check_transient_cycles(self) -> None:
        """Routes and actions move on without input: a loop among them would never stop."""
        state: dict[str, int] = {}

        def visit(sid: str, path: list[str]) -> None:
            state[sid] = 1
            screen = self.screens[sid]
            for target, _ in screen.targets():
                nxt = self.screens.get(target)
                if nxt is None or not nxt.transient:
                    continue
                if state.get(target) == 1:
                    loop = path[path.index(target):] + [target] if target in path else [sid, target]
                    self.problems.append(
                        Diagnostic(screen.where, f"routes loop without asking the subscriber: {' -> '.join(loop)}")
                    )
                elif target not in state:
                    visit(target, path + [target])
            state[sid] = 2

        for sid, screen in self.screens.items():
            if screen.transient and sid not in state:
                visit(sid, [sid])


def service_number(code: str) -> str | None:
    """The short-code number of ``#122#``, ``*122#`` or ``*122*1*2#`` (with a direct path): "122"."""
    match = _SHORT_CODE.match(code.strip())
    return match.group(1) if match else None


_SHORT_CODE = re.compile(r"^[*#](\d{1,6})((?:\*[0-9A-Za-z+]{1,20})*)#$")


def split_short_code(code: str) -> tuple[str, list[str]] | None:
    """``*122*1*2#`` -> ("122", ["1", "2"]): the service and the replies dialled directly."""
    match = _SHORT_CODE.match(code.strip())
    if not match:
        return None
    path = [p for p in match.group(2).split("*") if p]
    return match.group(1), path


def _display_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(Path(path).resolve())


def _parse_file(path: str, problems: list[Diagnostic]) -> _File:
    """Read one menu file and check its shape against :data:`MENU_SCHEMA`; the file is kept for
    the builder (which checks what no schema can) whenever it is a mapping."""
    composed = compose_file(path)
    problems.extend(composed.problems)
    if composed.root is None:
        if not composed.problems:
            problems.append(Diagnostic(Where(path, 1, 1), "empty file: expected 'service', 'include' or 'screens'"))
        return _File(path, None)
    problems.extend(check_document(read_document(composed.root, path), MENU_SCHEMA))
    fields = mapping_of(composed.root)
    if fields is None:
        return _File(path, None)
    return _File(path, composed.root, fields, composed.digest)


def menu_files(paths: Sequence[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """Expand folders into their YAML files, sorted so that messages come in a stable order."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        try:
            is_dir, is_file = p.is_dir(), p.is_file()
        except (OSError, ValueError) as exc:
            problems.append(Diagnostic(Where(str(raw), 1, 1), f"cannot use this path ({exc})"))
            continue
        if is_dir:
            found = sorted(f for f in p.rglob("*") if f.suffix in MENU_SUFFIXES and f.is_file())
            files.extend(_display_path(str(f)) for f in found)
            if not found:
                problems.append(Diagnostic(Where(str(p), 1, 1), "no menu files (*.yaml) in this folder"))
        elif is_file:
            files.append(_display_path(str(p)))
        else:
            problems.append(Diagnostic(Where(str(p), 1, 1), "no such file or folder"))
    return list(dict.fromkeys(files)), problems


def load_menus(paths: Sequence[str | Path], registry: Registry) -> LoadResult:
    """Load every service found in ``paths``; never raises for bad content."""
    files, problems = menu_files(paths)
    parsed: dict[str, _File] = {path: _parse_file(path, problems) for path in files}
    services: dict[str, Service] = {}
    included: set[str] = set()
    for path in files:
        file = parsed[path]
        if file.root is None or "service" not in file.fields:
            continue
        builder = _ServiceBuilder(problems, registry, parsed)
        service = builder.build(file)
        included.update(builder.visited)
        if service is None:
            continue
        number = service_number(service.code)
        assert number is not None
        if number in services:
            problems.append(Diagnostic(where_of(path, file.fields["service"]),
                                    f"service {service.code} is already defined in {services[number].where.path}"))
            continue
        services[number] = service
    for path in files:
        if parsed[path].root is not None and path not in included:
            problems.append(Diagnostic(Where(path, 1, 1), "this file declares no 'service' and no service includes it"))
    for service in services.values():
        problems.extend(check_fit(service))
    return LoadResult(MenuSet(services, tuple(parsed), menu_version(parsed.values())), in_order(problems),
                      list(parsed))


def menu_version(files: Iterable[_File]) -> str:
    """A menu set's version: what its files held, as read, wherever they lie (the same files give
    the same version on every node, whatever folder or working directory it runs from; an edit
    anywhere gives another)."""
    whole = hashlib.sha256()
    for digest in sorted(file.digest for file in files):
        whole.update(f"{digest}\n".encode("ascii"))
    return whole.hexdigest()[:12]


def load_menus_or_raise(paths: Sequence[str | Path], registry: Registry) -> MenuSet:
    result = load_menus(paths, registry)
    if result.problems:
        raise MenuError(result.problems)
    if not result.menus.services:
        raise MenuError([Diagnostic(Where(str(paths[0]) if paths else ".", 1, 1), "no service found")])
    return result.menus


__all__ = [
    "LoadResult", "MenuError", "Diagnostic", "load_menus", "load_menus_or_raise", "menu_files",
    "service_number", "split_short_code", "did_you_mean",
]

