"""Sandboxed expressions and text templates for operator-written menus.

Menu files come from operators, not developers, so nothing in them may ever
run code on the gateway.  Sources are only *parsed* with ``ast.parse`` and the
resulting tree is checked against a small whitelist and compiled into plain
Python closures.  Nothing is passed to ``eval``/``exec``/``compile``, no Python
attribute is ever read from data (``a.b`` is a mapping key lookup), and the only
callables reachable are the filters handed in by the application.

Conditions run on every USSD step, hence the closure compilation (no tree
walking at run time) and constant folding (errors in constant parts are
reported when the menu is loaded, not when a subscriber hits them).
"""

from __future__ import annotations

import ast
import datetime
import inspect
import math
import operator
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .diagnostics import closest
from .errors import StepAborted
from .timezone import DEFAULT_TZ

__all__ = [
    "INT_LIMIT",
    "MAX_DEPTH",
    "MAX_SOURCE_LEN",
    "MAX_TEMPLATE_LEN",
    "MAX_TEXT_LEN",
    "EvalError",
    "Expr",
    "ExprError",
    "Filter",
    "RenderEnv",
    "Template",
    "compile_expr",
    "compile_template",
]

MAX_SOURCE_LEN: Final = 2000
"""Longest expression accepted; keeps the parser's own recursion far from limits."""
MAX_TEMPLATE_LEN: Final = 20_000
"""Longest template accepted (each ``{{ }}`` block is also capped at MAX_SOURCE_LEN)."""
MAX_TEXT_LEN: Final = 4096
"""Longest text an expression, a filter or a whole template may produce: checked before a text is
built, so nested joins or concatenations cannot grow a step's work or memory without bound (a
whole USSD screen is 182 characters)."""
MAX_DEPTH: Final = 64
"""Deepest expression tree accepted; bounds compile- and run-time recursion."""
INT_LIMIT: Final = 10**18
"""Integer results outside ±INT_LIMIT are errors, so data can't force bignum work."""



@dataclass(frozen=True, slots=True)
class RenderEnv:
    """Per-session rendering settings handed to filters (language, local time zone, and the
    service's numbering plan, so numbers show in the national form its prompts ask for), and the
    words a boolean shown in a template reads as: the service's own (its ``no``/``yes`` messages,
    in the session's language), so this language holds no subscriber's words. Without a service
    (unit tests, constant folding) a boolean shows as the expression language writes it."""

    lang: str = "fr"
    tz: datetime.tzinfo = DEFAULT_TZ
    country_code: str = ""
    national_digits: int = 0
    booleans: tuple[str, str] = ("False", "True")
    """How ``False`` and ``True`` read, in that order (indexed by the value)."""


Filter = Callable[..., Any]
"""A filter is called as ``f(value, *args, env=env)``."""

_Fn = Callable[[Mapping[str, Any], RenderEnv], Any]
_Located = ast.expr | ast.keyword  # AST nodes that carry a source position


class _SourceError(Exception):
    """A message about a piece of menu source, and the column it points at."""

    def __init__(self, message: str, source: str = "", column: int | None = None) -> None:
        super().__init__(message, source, column)
        self.message = message
        self.source = source
        self.column = column

    def __str__(self) -> str:
        # Just the message: callers prefix their own file:line:column, or log the source beside it.
        return self.message


class ExprError(_SourceError):
    """A menu expression or template is invalid; raised when it is compiled (menu load)."""

    column: int

    def __init__(self, message: str, source: str = "", column: int = 0) -> None:
        super().__init__(message, source, column)


class EvalError(_SourceError):
    """Evaluating a valid expression failed on this session's data (types, ÷0, overflow)."""

    def _attach(self, source: str) -> None:
        """Record the outermost source once the error leaves the closures."""
        if not self.source:
            self.source = source
            self.args = (self.message, source, self.column)


# --------------------------------------------------------------------------- runtime helpers


def _kind(value: Any) -> str:
    """Operator-friendly type name; values themselves are not shown (may be personal data)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__  # e.g. "datetime", "date"


def _is_num(value: Any) -> bool:
    """Numbers for arithmetic: int and float, but not bool (``True + 1`` is a menu bug)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounded(result: Any, column: int) -> Any:
    """Reject results that are too large to be meaningful (and costly to carry on with)."""
    if type(result) is int or (isinstance(result, int) and not isinstance(result, bool)):
        if -INT_LIMIT <= result <= INT_LIMIT:
            return result
        raise EvalError(f"result is too large (limit \u00b1{INT_LIMIT:.0e})", column=column)
    if isinstance(result, float) and not math.isfinite(result):
        raise EvalError("result is not a finite number", column=column)
    return result


#: Whether values of a type are mappings. ``isinstance(x, Mapping)`` runs the ABC's Python code on
#: every call (a provider's view, a MappingProxyType), a look-up here does not: it was 1.5% of a
#: #122# step. Mapping-ness is a property of the type; types are few and live as long as the program.
_MAPPING_TYPES: dict[type, bool] = {dict: True, list: False, tuple: False, str: False}


def _is_mapping(value: Any) -> bool:
    kind = type(value)
    known = _MAPPING_TYPES.get(kind)
    if known is None:
        known = _MAPPING_TYPES[kind] = isinstance(value, Mapping)
    return known


def _field(value: Any, key: str, column: int) -> Any:
    """``value.key``: a key lookup on a mapping, never a Python attribute."""
    if value is None:
        return None
    if _is_mapping(value):
        return value.get(key)
    raise EvalError(f"cannot read '.{key}' of a {_kind(value)}: only mappings have fields", column=column)


def _item(value: Any, key: Any, column: int) -> Any:
    """``value[key]`` on mappings, lists, tuples and text; missing -> None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, str)):  # concrete types first: their check is cheap, a Mapping's is not
        if not isinstance(key, int) or isinstance(key, bool):
            raise EvalError(f"list index must be an integer, not {_kind(key)}", column=column)
        try:
            return value[key]
        except IndexError:
            return None
    if _is_mapping(value):
        try:
            return value.get(key)
        except TypeError:
            raise EvalError(f"a {_kind(key)} cannot be used as a key", column=column) from None
    raise EvalError(f"cannot index a {_kind(value)}", column=column)


def _slice(value: Any, lower: Any, upper: Any, column: int) -> Any:
    """``value[lower:upper]`` on lists, tuples and text."""
    if value is None:
        return None
    for bound in (lower, upper):
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
            raise EvalError(f"slice bounds must be integers, not {_kind(bound)}", column=column)
    if isinstance(value, (list, tuple, str)):
        return value[lower:upper]
    raise EvalError(f"cannot slice a {_kind(value)}", column=column)


def _arith(op: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any, int], Any]:
    """Numeric-only binary operator with bounds and ÷0 turned into EvalError."""

    def apply(a: Any, b: Any, column: int) -> Any:
        if not (_is_num(a) and _is_num(b)):
            raise EvalError(f"'{symbol}' needs two numbers, got {_kind(a)} and {_kind(b)}", column=column)
        try:
            return _bounded(op(a, b), column)
        except ZeroDivisionError:
            raise EvalError("division by zero", column=column) from None
        except ArithmeticError:
            raise EvalError("result is too large", column=column) from None

    return apply


def _bounded_text(value: Any, name: str, column: int) -> Any:
    """A filter's result, refused when it is a text over :data:`MAX_TEXT_LEN` (a filter that can
    build a long text checks the size before building it)."""
    if type(value) is str and len(value) > MAX_TEXT_LEN:
        raise EvalError(f"filter '{name}' made a text longer than {MAX_TEXT_LEN} characters", column=column)
    return value


def _add(a: Any, b: Any, column: int) -> Any:
    """``+`` adds numbers or joins two texts; nothing else (no list concatenation)."""
    if isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_TEXT_LEN:
            raise EvalError(f"text longer than {MAX_TEXT_LEN} characters", column=column)
        return a + b
    if not (_is_num(a) and _is_num(b)):
        raise EvalError(f"'+' needs two numbers or two texts, got {_kind(a)} and {_kind(b)}", column=column)
    try:
        return _bounded(a + b, column)
    except ArithmeticError:
        raise EvalError("result is too large", column=column) from None


_BINOPS: Final[dict[type[ast.operator], tuple[str, Callable[[Any, Any, int], Any]]]] = {
    ast.Add: ("+", _add),
    ast.Sub: ("-", _arith(operator.sub, "-")),
    ast.Mult: ("*", _arith(operator.mul, "*")),
    ast.Div: ("/", _arith(operator.truediv, "/")),
    ast.FloorDiv: ("//", _arith(operator.floordiv, "//")),
    ast.Mod: ("%", _arith(operator.mod, "%")),
}

_FORBIDDEN_BINOPS: Final[dict[type[ast.operator], str]] = {
    ast.Pow: "'**' (power) is not allowed",
    ast.LShift: "'<<' (bit shift) is not allowed",
    ast.RShift: "'>>' (bit shift) is not allowed",
    ast.BitAnd: "'&' (bitwise and) is not allowed; use 'and'",
    ast.BitXor: "'^' (bitwise xor) is not allowed",
    ast.MatMult: "'@' (matrix product) is not allowed",
    ast.BitOr: "'|' only applies filters: value | name or value | name(arg)",
}


def _contains(a: Any, b: Any) -> bool:
    return a in b


def _not_contains(a: Any, b: Any) -> bool:
    return a not in b


_CMPOPS: Final[dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.In: ("in", _contains),
    ast.NotIn: ("not in", _not_contains),
}


def _compare_error(symbol: str, a: Any, b: Any, column: int) -> EvalError:
    if symbol in ("in", "not in"):
        return EvalError(f"cannot test '{symbol}' on a {_kind(b)}", column=column)
    return EvalError(f"cannot compare {_kind(a)} {symbol} {_kind(b)}", column=column)


_FORBIDDEN_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "list comprehensions are not allowed",
    ast.SetComp: "set comprehensions are not allowed",
    ast.DictComp: "dict comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.JoinedStr: "f-strings are not allowed; use a template {{ }} block",
    ast.FormattedValue: "f-strings are not allowed; use a template {{ }} block",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "slices are only allowed inside [ ]",
}

_NOT_CONST: Final = object()
_FOLD_ENV: Final = RenderEnv()
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _did_you_mean(word: str, known: Collection[str]) -> str:
    """Human suffix listing known names, with the closest one suggested."""
    ordered = sorted(known)
    shown = ", ".join(ordered[:12]) + (", ..." if len(ordered) > 12 else "")
    text = f" (known: {shown})" if ordered else " (none are defined)"
    close = closest(word, ordered)
    if close is not None:
        text += f"; did you mean '{close}'?"
    return text


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled sub-expression; ``const`` holds its value when known at compile time."""

    fn: _Fn
    const: Any = _NOT_CONST

    @property
    def is_const(self) -> bool:
        return self.const is not _NOT_CONST


def _const_node(value: Any) -> _Node:
    return _Node(lambda ctx, env: value, value)


# --------------------------------------------------------------------------- compiler


class _Compiler:
    """Walks one parsed expression, enforcing the whitelist and building closures."""

    def __init__(
        self,
        full_source: str,
        text: str,
        offset: int,
        names: Collection[str] | None,
        filters: Mapping[str, Filter],
    ) -> None:
        self.full_source = full_source
        self.text = text  # exactly what was given to ast.parse
        self.offset = offset  # position of text[0] in full_source
        self.known_names = None if names is None else frozenset(names)
        self.filters = filters
        self.used_names: set[str] = set()
        self.used_filters: set[str] = set()
        self._line_starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
        self._lines = _NEWLINE.split(text)

    # positions ----------------------------------------------------------------

    def column(self, node: _Located) -> int:
        """Char offset of *node* in the full source (ast gives UTF-8 byte columns)."""
        lineno, col = node.lineno, node.col_offset
        index = max(0, min(lineno - 1, len(self._lines) - 1))
        chars = len(self._lines[index].encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return max(0, self.offset + self._line_starts[index] + chars)

    def error(self, message: str, node: _Located) -> ExprError:
        return ExprError(message, self.full_source, self.column(node))

    def fold(self, node: _Node, ast_node: ast.expr) -> _Node:
        """Evaluate a constant sub-expression now, so its errors show at load time."""
        try:
            value = node.fn({}, _FOLD_ENV)
        except EvalError as exc:
            raise ExprError(exc.message, self.full_source, self.column(ast_node)) from None
        return _const_node(value)

    # dispatch -----------------------------------------------------------------

    def compile(self, node: ast.expr, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise self.error(f"expression is nested too deeply (limit {MAX_DEPTH})", node)
        method = _DISPATCH.get(type(node))
        if method is None:
            raise self.error(self.forbidden(node), node)
        return method(self, node, depth + 1)

    def forbidden(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in self.filters:
                return f"function calls are not allowed; use a filter: x | {func.id}"
            return "function calls are not allowed; use a filter: x | name"
        return _FORBIDDEN_NODES.get(type(node), f"{type(node).__name__} is not allowed")

    # leaves -------------------------------------------------------------------

    def constant(self, node: ast.Constant, depth: int) -> _Node:
        value = node.value
        if value is None or isinstance(value, (bool, str)):
            return _const_node(value)
        if type(value) is int:
            if abs(value) > INT_LIMIT:
                raise self.error(f"number is too large (limit \u00b1{INT_LIMIT:.0e})", node)
            return _const_node(value)
        if type(value) is float:
            if not math.isfinite(value):
                raise self.error("number is too large", node)
            return _const_node(value)
        kind = {bytes: "bytes", complex: "complex number"}.get(type(value), type(value).__name__)
        raise self.error(f"{kind} literals are not allowed", node)

    def check_private(self, name: str, node: ast.expr) -> None:
        if name.startswith("_"):
            raise self.error(f"names starting with '_' are not allowed: '{name}'", node)

    def name(self, node: ast.Name, depth: int) -> _Node:
        return self.path(node, [])

    def attribute(self, node: ast.Attribute, depth: int) -> _Node:
        keys: list[tuple[str, int]] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            self.check_private(base.attr, base)
            keys.append((base.attr, self.column(base)))
            base = base.value
        keys.reverse()
        if isinstance(base, ast.Name):
            return self.path(base, keys)
        inner = self.compile(base, depth)
        if inner.is_const:
            raise self.error(f"cannot read '.{keys[0][0]}' of a {_kind(inner.const)}: only mappings have fields", node)
        inner_fn = inner.fn

        def get(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
            value = inner_fn(ctx, env)
            for key, column in keys:
                value = value.get(key) if type(value) is dict else _field(value, key, column)
            return value

        return _Node(get)

    def path(self, node: ast.Name, keys: list[tuple[str, int]]) -> _Node:
        """Root variable plus ``.key`` lookups fused into one closure (the hot path)."""
        root = node.id
        self.check_private(root, node)
        if self.known_names is not None and root not in self.known_names:
            raise self.error(f"unknown variable '{root}'" + _did_you_mean(root, self.known_names), node)
        self.used_names.add(root)
        if not keys:
            return _Node(lambda ctx, env: ctx.get(root))

        def get(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
            value = ctx.get(root)
            for key, column in keys:
                value = value.get(key) if type(value) is dict else _field(value, key, column)
            return value

        return _Node(get)

    def subscript(self, node: ast.Subscript, depth: int) -> _Node:
        base = self.compile(node.value, depth)
        base_fn = base.fn
        column = self.column(node)
        index = node.slice
        if isinstance(index, ast.Slice):
            if index.step is not None:
                raise self.error("slice steps are not allowed (use a[i:j])", index.step)
            bounds = [self.compile(part, depth) if part else _const_node(None) for part in (index.lower, index.upper)]
            lower, upper = bounds[0].fn, bounds[1].fn

            def get_slice(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
                return _slice(base_fn(ctx, env), lower(ctx, env), upper(ctx, env), column)

            result = _Node(get_slice)
        else:
            key_node = self.compile(index, depth)
            bounds = [key_node]
            if key_node.is_const:
                key = key_node.const

                def get_const(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
                    return _item(base_fn(ctx, env), key, column)

                result = _Node(get_const)
            else:
                key_fn = key_node.fn

                def get_item(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
                    return _item(base_fn(ctx, env), key_fn(ctx, env), column)

                result = _Node(get_item)
        if base.is_const and all(part.is_const for part in bounds):
            return self.fold(result, node)
        return result

    # containers ---------------------------------------------------------------

    def tuple_(self, node: ast.Tuple, depth: int) -> _Node:
        items = [self.compile(elt, depth) for elt in node.elts]
        if all(item.is_const for item in items):
            return _const_node(tuple(item.const for item in items))
        fns = [item.fn for item in items]
        return _Node(lambda ctx, env: tuple([fn(ctx, env) for fn in fns]))

    def list_(self, node: ast.List, depth: int) -> _Node:
        # Never folded: each evaluation gets a fresh list, so no filter can alter a shared one.
        fns = [self.compile(elt, depth).fn for elt in node.elts]
        return _Node(lambda ctx, env: [fn(ctx, env) for fn in fns])

    # operators ----------------------------------------------------------------

    def boolop(self, node: ast.BoolOp, depth: int) -> _Node:
        items = [self.compile(value, depth) for value in node.values]
        fns = [item.fn for item in items]
        is_and = isinstance(node.op, ast.And)
        head, last = fns[:-1], fns[-1]

        def chain(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
            for fn in head:
                value = fn(ctx, env)
                if (not value) if is_and else value:
                    return value
            return last(ctx, env)

        result = _Node(chain)
        return self.fold(result, node) if all(item.is_const for item in items) else result

    def unaryop(self, node: ast.UnaryOp, depth: int) -> _Node:
        operand = self.compile(node.operand, depth)
        inner = operand.fn
        column = self.column(node)
        if isinstance(node.op, ast.Not):
            result = _Node(lambda ctx, env: not inner(ctx, env))
        elif isinstance(node.op, (ast.USub, ast.UAdd)):
            negate = isinstance(node.op, ast.USub)
            symbol = "-" if negate else "+"

            def sign(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
                value = inner(ctx, env)
                if not _is_num(value):
                    raise EvalError(f"unary '{symbol}' needs a number, got {_kind(value)}", column=column)
                return _bounded(-value if negate else +value, column)

            result = _Node(sign)
        else:
            raise self.error("'~' (bitwise not) is not allowed; use 'not'", node)
        return self.fold(result, node) if operand.is_const else result

    def binop(self, node: ast.BinOp, depth: int) -> _Node:
        if isinstance(node.op, ast.BitOr) and self.is_filter(node.right):
            return self.filter(node, depth)
        spec = _BINOPS.get(type(node.op))
        if spec is None:
            raise self.error(_FORBIDDEN_BINOPS.get(type(node.op), "this operator is not allowed"), node)
        symbol, apply = spec
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        for side, ast_side in ((left, node.left), (right, node.right)):
            # Literal operands of the wrong type are menu bugs: report them at load time.
            if isinstance(ast_side, ast.List):
                bad = "list"
            elif side.is_const and not _is_num(side.const) and not (symbol == "+" and isinstance(side.const, str)):
                bad = _kind(side.const)
            else:
                continue
            need = "numbers or texts" if symbol == "+" else "numbers (no text or list repetition)"
            raise self.error(f"'{symbol}' works on {need}, not on {bad}", ast_side)
        left_fn, right_fn = left.fn, right.fn
        column = self.column(node)
        result = _Node(lambda ctx, env: apply(left_fn(ctx, env), right_fn(ctx, env), column))
        return self.fold(result, node) if left.is_const and right.is_const else result

    def compare(self, node: ast.Compare, depth: int) -> _Node:
        left = self.compile(node.left, depth)
        steps: list[tuple[str, Callable[[Any, Any], Any], _Fn, int]] = []
        rights: list[_Node] = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            spec = _CMPOPS.get(type(op))
            if spec is None:
                raise self.error("'is' is not allowed; use == or != (e.g. x == None)", comparator)
            right = self.compile(comparator, depth)
            rights.append(right)
            steps.append((spec[0], spec[1], right.fn, self.column(comparator)))
        left_fn = left.fn

        def compare_chain(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
            a = left_fn(ctx, env)
            outcome: Any = True
            for symbol, op_fn, right_fn, column in steps:
                b = right_fn(ctx, env)
                try:
                    outcome = op_fn(a, b)
                except TypeError:
                    raise _compare_error(symbol, a, b, column) from None
                if not outcome:
                    return outcome
                a = b
            return outcome

        result = _Node(compare_chain)
        if left.is_const and all(right.is_const for right in rights):
            return self.fold(result, node)
        return result

    def ifexp(self, node: ast.IfExp, depth: int) -> _Node:
        test = self.compile(node.test, depth)
        body = self.compile(node.body, depth)
        orelse = self.compile(node.orelse, depth)
        if test.is_const:
            return body if test.const else orelse
        test_fn, body_fn, orelse_fn = test.fn, body.fn, orelse.fn
        return _Node(lambda ctx, env: body_fn(ctx, env) if test_fn(ctx, env) else orelse_fn(ctx, env))

    # filters ------------------------------------------------------------------

    @staticmethod
    def is_filter(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name))

    def filter(self, node: ast.BinOp, depth: int) -> _Node:
        target = node.right
        if isinstance(target, ast.Call):
            name_node = target.func
            assert isinstance(name_node, ast.Name)
            if target.keywords:
                raise self.error("filter arguments cannot be named; write name(a, b)", target.keywords[0])
            arg_nodes = [self.compile(arg, depth) for arg in target.args]
        else:
            assert isinstance(target, ast.Name)
            name_node = target
            arg_nodes = []
        name = name_node.id
        func = self.filters.get(name)
        if func is None:
            raise self.error(f"unknown filter '{name}'" + _did_you_mean(name, self.filters), name_node)
        self.check_arity(name, func, len(arg_nodes), name_node)
        self.used_filters.add(name)
        value_fn = self.compile(node.left, depth).fn
        column = self.column(name_node)
        arg_fns = [arg.fn for arg in arg_nodes]

        def apply(ctx: Mapping[str, Any], env: RenderEnv) -> Any:
            # Most filters take no argument (| money): a loop rather than a comprehension (no
            # closure made per call) and no unpacking of an empty list. Written as one
            # comprehension and one *args call, this closure cost 2.8% more instructions per
            # #122# step (callgrind, Python 3.11); a separate no-argument copy saved 0.3% more.
            value = value_fn(ctx, env)
            args = []
            for fn in arg_fns:
                args.append(fn(ctx, env))
            try:
                result = func(value, *args, env=env) if args else func(value, env=env)
            except (EvalError, StepAborted):
                raise
            except Exception as exc:
                raise EvalError(f"filter '{name}' failed: {exc}", column=column) from exc
            return _bounded_text(result, name, column)

        return _Node(apply)

    def check_arity(self, name: str, func: Filter, count: int, node: ast.expr) -> None:
        """Catch ``default`` without its fallback etc. at load time, when introspectable."""
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            return
        try:
            signature.bind(None, *([None] * count), env=None)
        except TypeError as exc:
            raise self.error(f"wrong arguments for filter '{name}': {exc}", node) from None


_DISPATCH: Final[dict[type[ast.AST], Callable[[_Compiler, Any, int], _Node]]] = {
    ast.Constant: _Compiler.constant,
    ast.Name: _Compiler.name,
    ast.Attribute: _Compiler.attribute,
    ast.Subscript: _Compiler.subscript,
    ast.Tuple: _Compiler.tuple_,
    ast.List: _Compiler.list_,
    ast.BoolOp: _Compiler.boolop,
    ast.UnaryOp: _Compiler.unaryop,
    ast.BinOp: _Compiler.binop,
    ast.Compare: _Compiler.compare,
    ast.IfExp: _Compiler.ifexp,
}


def _parse(text: str, full_source: str, offset: int) -> tuple[ast.expr, str]:
    """Parse one expression; returns the body and the exact text that was parsed.

    Leading blanks are dropped (Python would call them an indent).  Line breaks
    are allowed as in parentheses, so YAML block scalars can split long
    conditions; the wrapping is accepted only when our '(' really encloses all.
    """

    def attempt(candidate: str) -> ast.expr:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences in literals
            return ast.parse(candidate, mode="eval").body

    try:
        return attempt(text), text
    except SyntaxError as exc:
        first_error: SyntaxError = exc
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise ExprError(f"cannot parse expression: {exc}", full_source, offset) from None
    if "\n" in text or "\r" in text:
        wrapped = "(" + text + "\n)"
        try:
            body = attempt(wrapped)
        except Exception:
            pass
        else:
            if body.lineno == 1 and body.col_offset == 1:
                return body, wrapped
    column = offset
    lines = _NEWLINE.split(text)
    if first_error.lineno is not None and 1 <= first_error.lineno <= len(lines):
        column += sum(len(line) + 1 for line in lines[: first_error.lineno - 1])
        line = lines[first_error.lineno - 1]
        column += max(0, min((first_error.offset or 1) - 1, len(line)))
    message = first_error.msg or "invalid syntax"
    if message == "invalid syntax" and re.search(r"(?<![=!<>])=(?!=)", text):
        message += " (use '==' to compare)"
    raise ExprError(f"syntax error: {message}", full_source, min(column, len(full_source)))


def _compile_source(
    full_source: str,
    text: str,
    offset: int,
    names: Collection[str] | None,
    filters: Mapping[str, Filter],
) -> tuple[_Node, _Compiler]:
    """Parse and compile *text*, which sits at *offset* inside *full_source*."""
    if len(text) > MAX_SOURCE_LEN:
        raise ExprError(f"expression is too long (limit {MAX_SOURCE_LEN} characters)", full_source, offset)
    stripped = text.lstrip()
    offset += len(text) - len(stripped)
    if not stripped.strip():
        raise ExprError("empty expression", full_source, offset)
    body, parsed = _parse(stripped, full_source, offset)
    # When _parse wrapped the text in "(...)", parsed[1] is stripped[0].
    start = offset if parsed is stripped else offset - 1
    compiler = _Compiler(full_source, parsed, start, names, filters)
    try:
        node = compiler.compile(body, 0)
    except (RecursionError, MemoryError):
        raise ExprError("expression is too complex", full_source, offset) from None
    return node, compiler


def _check_filters(filters: Mapping[str, Filter]) -> None:
    if not isinstance(filters, Mapping):
        raise ExprError("filters must be a mapping of name -> callable")


# --------------------------------------------------------------------------- public API


class _Compiled:
    """What an expression and a template share: their compiled function runs so that only an
    EvalError naming the source comes out (subclasses bind it as ``evaluate`` or ``render``, so
    the hot path pays no extra call)."""

    __slots__ = ()
    source: str
    _fn: _Fn

    def _run(self, ctx: Mapping[str, Any], env: RenderEnv) -> Any:
        try:
            return self._fn(ctx, env)
        except EvalError as exc:
            exc._attach(self.source)
            raise
        except StepAborted:  # not the template's fault: the engine ends the dialogue
            raise
        except Exception as exc:  # data with odd behaviour must not crash the session loop
            raise EvalError(f"unexpected {type(exc).__name__}: {exc}", self.source) from exc


def _check_arguments(source: object, what: str, filters: Mapping[str, Filter]) -> None:
    """The checks both compilers make before reading ``source``."""
    if not isinstance(source, str):
        raise ExprError(f"{what} must be text, not {type(source).__name__}")
    _check_filters(filters)


@dataclass(frozen=True, slots=True, eq=False)
class Expr(_Compiled):
    """A compiled, sandboxed expression; evaluate() only ever raises EvalError."""

    source: str
    names: frozenset[str]
    filters: frozenset[str]
    _fn: _Fn = field(repr=False)

    evaluate = _Compiled._run


def compile_expr(
    source: str,
    *,
    names: Collection[str] | None = None,
    filters: Mapping[str, Filter],
) -> Expr:
    """Compile a condition/value expression; raises only ExprError, whatever the input."""
    _check_arguments(source, "expression", filters)
    node, compiler = _compile_source(source, source, 0, names, filters)
    return Expr(source, frozenset(compiler.used_names), frozenset(compiler.used_filters), node.fn)


def _float_text(value: float) -> str:
    """Floats without trailing zeros or binary noise: 1.5, 2, 0.3."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def _to_text(value: Any, env: RenderEnv, column: int) -> str:
    """How a block's value appears in the message sent to the subscriber."""
    kind = type(value)
    if kind is str:
        text: str = value
        return text
    if value is None:
        return ""
    if kind is bool:
        return env.booleans[value]
    if kind is int:
        return str(value)
    if kind is float:
        return _float_text(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return _float_text(float(value))
    hint = {
        "list": "use | join or | count",
        "mapping": "pick a field, e.g. x.name",
        "date": "use | day",
        "datetime": "use | date, | day or | time",
    }.get(_kind(value), "use a filter")
    raise EvalError(f"cannot display a {_kind(value)} directly; {hint}", column=column)


def _block(fn: _Fn, column: int) -> _Fn:
    return lambda ctx, env: _to_text(fn(ctx, env), env, column)


def _find_block_end(source: str, start: int) -> int:
    """Index of the '}}' closing a block opened before *start*; quotes may contain '}}'."""
    index = start
    quote = ""
    length = len(source)
    while index < length:
        char = source[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "}" and source.startswith("}}", index):
            return index
        index += 1
    return -1


@dataclass(frozen=True, slots=True, eq=False)
class Template(_Compiled):
    """Compiled message text with ``{{ expr }}`` blocks; render() only raises EvalError."""

    source: str
    names: frozenset[str]
    filters: frozenset[str]
    is_static: bool
    _fn: _Fn = field(repr=False)

    render = _Compiled._run

    def static_text(self) -> str:
        """The literal text, for callers that precompute static screens (e.g. page splitting)."""
        if not self.is_static:
            raise ValueError("template has {{ }} blocks; use render()")
        return self.source


def compile_template(
    source: str,
    *,
    names: Collection[str] | None = None,
    filters: Mapping[str, Filter],
) -> Template:
    """Compile message text; raises only ExprError, whatever the input."""
    _check_arguments(source, "template", filters)
    if len(source) > MAX_TEMPLATE_LEN:
        raise ExprError(f"template is too long (limit {MAX_TEMPLATE_LEN} characters)", source, 0)
    parts: list[str | _Fn] = []
    used_names: set[str] = set()
    used_filters: set[str] = set()
    has_blocks = False
    position = 0
    while True:
        start = source.find("{{", position)
        if start < 0:
            break
        end = _find_block_end(source, start + 2)
        if end < 0:
            raise ExprError("unterminated '{{' block: missing '}}' (or an unclosed quote)", source, start)
        has_blocks = True
        if start > position:
            parts.append(source[position:start])
        node, compiler = _compile_source(source, source[start + 2 : end], start + 2, names, filters)
        used_names |= compiler.used_names
        used_filters |= compiler.used_filters
        if node.is_const and isinstance(node.const, str):
            parts.append(node.const)  # e.g. {{ "{{" }} to write literal braces
        else:
            parts.append(_block(node.fn, start + 2))
        position = end + 2
    if position < len(source):
        parts.append(source[position:])
    merged: list[str | _Fn] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return Template(source, frozenset(used_names), frozenset(used_filters), not has_blocks, _joined(merged))


def _joined(parts: list[str | _Fn]) -> _Fn:
    """The function rendering a template's parts: fixed text as it is, blocks evaluated."""
    if all(type(part) is str for part in parts):  # no blocks, or only constant ones ({{ "{{" }})
        text = "".join(parts)  # type: ignore[arg-type]
        return lambda ctx, env: text
    texts = tuple(parts)

    def join(ctx: Mapping[str, Any], env: RenderEnv) -> str:
        pieces = [part if type(part) is str else part(ctx, env) for part in texts]  # type: ignore[operator]
        if sum(map(len, pieces)) > MAX_TEXT_LEN:
            raise EvalError(f"template text longer than {MAX_TEXT_LEN} characters")
        return "".join(pieces)

    return join
