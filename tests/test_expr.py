"""Tests for the sandboxed expression/template language (ussd.expr)."""

from __future__ import annotations

import ast
import datetime
import inspect
import math
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ussd.expr as expr_module
from ussd.engine import Engine
from ussd.expr import (
    INT_LIMIT,
    MAX_SOURCE_LEN,
    EvalError,
    Expr,
    ExprError,
    RenderEnv,
    Template,
    compile_expr,
    compile_template,
)
from ussd.loader import load_menus_or_raise
from ussd.registry import Registry
from ussd.sessions import MemorySessionStore


def _upper(value: Any, *, env: RenderEnv) -> str:
    return "" if value is None else str(value).upper()


def _default(value: Any, fallback: Any, *, env: RenderEnv) -> Any:
    return fallback if value is None or value == "" else value


def _lang(value: Any, *, env: RenderEnv) -> str:
    return f"{value}@{env.lang}"


def _pad(value: Any, width: int, fill: str = " ", *, env: RenderEnv) -> str:
    return str(value).rjust(width, fill)


def _boom(value: Any, *, env: RenderEnv) -> str:
    raise RuntimeError("kaput")


FILTERS: dict[str, Callable[..., Any]] = {
    "upper": _upper,
    "default": _default,
    "lang": _lang,
    "pad": _pad,
    "boom": _boom,
}
NAMES = ["main", "subscriber", "offers", "x", "y", "z", "items", "obj"]
FR = RenderEnv()
EN = RenderEnv(lang="en")
SW = RenderEnv(lang="sw", booleans=("hapana", "ndiyo"))  # a service's own words for no/yes

CTX: dict[str, Any] = {
    "subscriber": {"status": "active", "msisdn": "2250700000001", "tags": ["vip", "4g"], "profile": {"lang": "fr"}},
    "main": {"balance": 750, "expires": None},
    "offers": [{"name": "Pass Jour", "price": 200}, {"name": "Pass Semaine", "price": 1000}],
    "x": 7,
    "y": 2.5,
    "z": 0,
    "items": ("a", "b", "c"),
}


def ev(source: str, ctx: dict[str, Any] | None = None, env: RenderEnv = FR) -> Any:
    return compile_expr(source, filters=FILTERS).evaluate(CTX if ctx is None else ctx, env)


# --------------------------------------------------------------------------- allowed constructs


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", 42),
        ("-3", -3),
        ("+3", 3),
        ("2.5", 2.5),
        ("'texte'", "texte"),
        ('"double"', "double"),
        ("True", True),
        ("None", None),
        ("x", 7),
        ("nothing_here", None),
        ("main.balance", 750),
        ("subscriber.profile.lang", "fr"),
        ("subscriber.missing", None),
        ("subscriber.missing.deeper.still", None),
        ("main.expires.day", None),
        ("subscriber['status']", "active"),
        ("subscriber.tags[0]", "vip"),
        ("subscriber.tags[-1]", "4g"),
        ("subscriber.tags[5]", None),
        ("offers[1].price", 1000),
        ("offers[1]['name']", "Pass Semaine"),
        ("items[1]", "b"),
        ("items[1:]", ("b", "c")),
        ("subscriber.msisdn[-4:]", "0001"),
        ("subscriber.tags[:1]", ["vip"]),
        ("subscriber.missing[0]", None),
        ("[1, x, 'a']", [1, 7, "a"]),
        ("(1, 2)", (1, 2)),
        ("()", ()),
        ("x + 1", 8),
        ("x - 10", -3),
        ("x * 3", 21),
        ("x / 2", 3.5),
        ("x // 2", 3),
        ("x % 4", 3),
        ("-x", -7),
        ("y * 2", 5.0),
        ("'Pass ' + subscriber.status", "Pass active"),
        ("x > 5 and main.balance", 750),
        ("z and x", 0),
        ("z or x", 7),
        ("z or None or ''", ""),
        ("x and y and z", 0),
        ("not z", True),
        ("not x", False),
        ("x == 7", True),
        ("x != 7", False),
        ("x < 10", True),
        ("x <= 7", True),
        ("x > 7", False),
        ("x >= 7", True),
        ("'vip' in subscriber.tags", True),
        ("'gold' not in subscriber.tags", True),
        ("'status' in subscriber", True),
        ("'07' in subscriber.msisdn", True),
        ("'a' < 'b'", True),
        ("'oui' if x > 5 else 'non'", "oui"),
        ("'oui' if z else 'non'", "non"),
        ("1 if z else 2 if x else 3", 2),
        ("subscriber.status == 'active' and main.balance >= 500", True),
        ('subscriber.status == "suspended" or main.balance < 500', False),
        ("x == None", False),
        ("subscriber.missing == None", True),
    ],
)
def test_allowed_constructs(source: str, expected: Any) -> None:
    result = ev(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 < x < 10", True),
        ("1 < x < 5", False),
        ("10 > x > 5 >= z", True),
        ("z < x == 7 != y", True),
        ("0 <= z < 1 <= x", True),
        ("x < 3 < missing", False),  # short-circuits before the None comparison
    ],
)
def test_chained_comparisons(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_chained_comparison_evaluates_middle_once() -> None:
    calls: list[Any] = []

    def spy(value: Any, *, env: RenderEnv) -> Any:
        calls.append(value)
        return value

    compiled = compile_expr("1 < (x | spy) < 10", filters={"spy": spy})
    assert compiled.evaluate({"x": 5}, FR) is True
    assert calls == [5]


def test_short_circuit_skips_failing_operand() -> None:
    assert ev("z and missing < 3") == 0
    assert ev("x or missing < 3") == 7
    assert ev("'a' if x else missing < 3") == "a"


def test_multiline_expression_from_yaml_block() -> None:
    source = "subscriber.status == 'active'\n  and main.balance >= 500\n"
    compiled = compile_expr(source, filters=FILTERS)
    assert compiled.evaluate(CTX, FR) is True
    assert compiled.names == {"subscriber", "main"}


def test_leading_whitespace_is_not_an_indent_error() -> None:
    assert ev("   x + 1") == 8


def test_names_and_filters_metadata() -> None:
    compiled = compile_expr(
        "subscriber.status | upper | default(main.label) if offers else x",
        filters=FILTERS,
    )
    assert compiled.names == {"subscriber", "main", "offers", "x"}
    assert compiled.filters == {"upper", "default"}
    assert compiled.source.startswith("subscriber.status")
    assert isinstance(compiled, Expr)


def test_known_names_accept_listed_roots() -> None:
    compiled = compile_expr("main.balance > 0", names=["main"], filters=FILTERS)
    assert compiled.evaluate({"main": {"balance": 1}}, FR) is True


def test_attribute_is_key_lookup_not_python_attribute() -> None:
    class Account:
        secret = "s3cr3t"

    with pytest.raises(EvalError, match="only mappings have fields"):
        ev("obj.secret", {"obj": Account()})
    # dict methods are not reachable: .get/.keys are just missing keys
    assert ev("obj.get", {"obj": {}}) is None
    assert ev("obj.keys", {"obj": {"a": 1}}) is None
    assert ev("obj.keys", {"obj": {"keys": "k"}}) == "k"


# --------------------------------------------------------------------------- filters


def test_filter_without_and_with_arguments() -> None:
    assert ev("subscriber.status | upper") == "ACTIVE"
    assert ev("main.expires | default('jamais')") == "jamais"
    assert ev("main.balance | default('jamais')") == 750
    assert ev("x | pad(4, '0')") == "0007"
    assert ev("x | pad(x - 4)") == "  7"


def test_filter_chain_and_expression_arguments() -> None:
    assert ev("subscriber.missing | default(subscriber.status) | upper") == "ACTIVE"
    assert ev("(x + 1) | pad(3)") == "  8"


def test_filter_receives_env() -> None:
    assert ev("'a' | lang") == "a@fr"
    assert ev("'a' | lang", env=EN) == "a@en"


def test_filter_exception_is_wrapped() -> None:
    with pytest.raises(EvalError, match="filter 'boom' failed: kaput") as info:
        ev("x | boom")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.source == "x | boom"


def test_filter_arity_checked_at_compile_time() -> None:
    with pytest.raises(ExprError, match="wrong arguments for filter 'default'"):
        compile_expr("x | default", filters=FILTERS)
    with pytest.raises(ExprError, match="wrong arguments for filter 'upper'"):
        compile_expr("x | upper(1)", filters=FILTERS)


def test_filter_keyword_arguments_rejected() -> None:
    with pytest.raises(ExprError, match="cannot be named"):
        compile_expr("x | pad(width=3)", filters=FILTERS)


def test_unknown_filter_always_rejected_with_suggestion() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("x | uper", filters=FILTERS)
    assert "unknown filter 'uper'" in str(info.value)
    assert "did you mean 'upper'?" in str(info.value)
    assert info.value.column == 4


def test_filter_name_is_not_a_variable() -> None:
    compiled = compile_expr("x | upper", names=["x"], filters=FILTERS)
    assert compiled.names == {"x"}


# --------------------------------------------------------------------------- sandbox


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("().__class__", "starting with '_'"),
        ("().__class__.__bases__[0].__subclasses__()", "function calls are not allowed"),
        ("x.__dict__", "starting with '_'"),
        ("x._private", "starting with '_'"),
        ("_hidden", "starting with '_'"),
        ("x['__class__']", None),  # allowed syntax but only a key lookup; checked below
        ('__import__("os")', "function calls are not allowed; use a filter: x | name"),
        ('open("f")', "function calls are not allowed"),
        ("upper(x)", "use a filter: x | upper"),
        ('"".join(x)', "function calls are not allowed"),
        ('"".join', "only mappings have fields"),
        ("[x for x in y]", "list comprehensions"),
        ("{x for x in y}", "set comprehensions"),
        ("{x: 1 for x in y}", "dict comprehensions"),
        ("(x for x in y)", "generator expressions"),
        ("lambda: 1", "lambda"),
        ('"a" * 10**9', "'**'"),
        ('"a" * 10', "numbers"),
        ("[1] * 10", "numbers"),
        ("2 ** 1000", "'**'"),
        ("x ** 2", "'**'"),
        ("x << 2", "'<<'"),
        ("x >> 2", "'>>'"),
        ("x & 1", "'&'"),
        ("x ^ 1", "'^'"),
        ("x | 1", "only applies filters"),
        ("x | y.z", "only applies filters"),
        ("~x", "'~'"),
        ("x @ y", "'@'"),
        ("(y := 1)", "assignment expressions"),
        ("f'{x}'", "f-strings"),
        ("[*x]", "starred"),
        ("{'a': 1}", "dict literals"),
        ("{1, 2}", "set literals"),
        ("x is None", "'is' is not allowed"),
        ("x is not None", "'is' is not allowed"),
        ("x[::2]", "slice steps"),
        ("b'bytes'", "bytes literals"),
        ("1j", "complex number literals"),
        ("...", "ellipsis literals"),
        ("99999999999999999999", "too large"),
        ("1e999", "too large"),
        ("x = 1", "syntax error"),
        ("import os", "syntax error"),
        ("x; y", "syntax error"),
        ("await x", "'await'"),
    ],
)
def test_forbidden_constructs_rejected_at_compile_time(source: str, fragment: str | None) -> None:
    if fragment is None:
        assert ev(source, {"x": {"__class__": "just data"}}) == "just data"
        return
    with pytest.raises(ExprError) as info:
        compile_expr(source, filters=FILTERS)
    assert fragment in info.value.message
    assert info.value.source == source
    assert 0 <= info.value.column <= len(source)


def test_module_never_calls_dynamic_code_execution() -> None:
    tree = ast.parse(inspect.getsource(expr_module))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr", "setattr", "open"}


def test_source_length_cap() -> None:
    source = "1 + " * (MAX_SOURCE_LEN // 4) + "1"
    with pytest.raises(ExprError, match="too long"):
        compile_expr(source, filters=FILTERS)


@pytest.mark.parametrize(
    "source",
    [
        "-" * 1999 + "1",
        "not " * 499 + "x",
        "(" * 300 + "1" + ")" * 300,
        "[" * 300 + "]" * 300,
        "+".join(["x"] * 999),
        "x" + "[0]" * 600,
        "1 if x else " * 150 + "0",
    ],
)
def test_deep_nesting_gives_expr_error(source: str) -> None:
    with pytest.raises(ExprError):
        compile_expr(source, filters=FILTERS)


def test_long_flat_chains_are_fine() -> None:
    source = " and ".join(["x"] * 300)
    assert ev(source) == 7
    assert ev("x" + ".a" * 500, {"x": None}) is None


def test_non_string_source_is_expr_error() -> None:
    with pytest.raises(ExprError, match="must be text"):
        compile_expr(True, filters=FILTERS)  # type: ignore[arg-type]
    with pytest.raises(ExprError, match="must be text"):
        compile_template(None, filters=FILTERS)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- compile errors


def test_unknown_variable_with_did_you_mean() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("balanse >= 500", names=["balance", "main", "subscriber"], filters=FILTERS)
    error = info.value
    assert error.message.startswith("unknown variable 'balanse'")
    assert "(known: balance, main, subscriber)" in str(error)
    assert "did you mean 'balance'?" in str(error)
    assert error.column == 0
    assert error.source == "balanse >= 500"


def test_unknown_variable_without_close_match() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("main.balance > qqqq", names=["main"], filters=FILTERS)
    assert "did you mean" not in str(info.value)
    assert info.value.column == 15


def test_names_none_accepts_anything() -> None:
    assert compile_expr("whatever.you.like", filters=FILTERS).names == {"whatever"}


def test_error_column_counts_characters_not_bytes() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("'éèà' + nope", names=[], filters=FILTERS)
    assert info.value.column == 8


def test_error_column_on_second_line() -> None:
    source = "main.balance >= 500 and\n   subscirber.status"
    with pytest.raises(ExprError) as info:
        compile_expr(source, names=["main", "subscriber"], filters=FILTERS)
    assert source[info.value.column :].startswith("subscirber")


def test_syntax_error_column_and_hint() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("x = 1", filters=FILTERS)
    assert "use '=='" in info.value.message
    assert info.value.column == 2


def test_parenthesis_wrapping_cannot_be_abused() -> None:
    # Multi-line sources are parsed inside "( )"; unbalanced input must still fail.
    with pytest.raises(ExprError, match="syntax error"):
        compile_expr("x) + (y\n", filters=FILTERS)


def test_constant_errors_are_reported_at_load_time() -> None:
    with pytest.raises(ExprError, match="division by zero"):
        compile_expr("1 / 0", filters=FILTERS)
    with pytest.raises(ExprError, match="cannot compare None < number"):
        compile_expr("None < 3", filters=FILTERS)
    with pytest.raises(ExprError, match="too large"):
        compile_expr("1000000000000 * 1000000000000", filters=FILTERS)


def test_expr_error_str_is_readable() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("x | mony", filters={"money": _upper})
    assert str(info.value) == "unknown filter 'mony' (known: money); did you mean 'money'?"
    assert info.value.column == 4 and info.value.source == "x | mony"


# --------------------------------------------------------------------------- runtime errors


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("missing < 3", "cannot compare None < number"),
        ("main.expires < 3", "cannot compare None < number"),
        ("subscriber.status < 1", "cannot compare text < number"),
        ("x < 'a'", "cannot compare number < text"),
        ("1 < x < 'a'", "cannot compare number < text"),
        ("'a' in missing", "cannot test 'in' on a None"),
        ("x in x", "cannot test 'in' on a number"),
        ("x / z", "division by zero"),
        ("x // z", "division by zero"),
        ("x % z", "division by zero"),
        ("x + 'a'", "'+' needs two numbers or two texts"),
        ("subscriber.tags + subscriber.tags", "'+' needs"),
        ("subscriber.status * x", "'*' needs two numbers"),
        ("missing + 1", "'+' needs"),
        ("(x > 1) + 1", "'+' needs"),
        ("-subscriber.status", "unary '-' needs a number"),
        ("big * big", "too large"),
        ("big + big", "too large"),
        ("-(big * 10)", "too large"),
        ("huge * huge", "not a finite number"),
        ("x.field", "only mappings have fields"),
        ("x[0]", "cannot index a number"),
        ("subscriber.tags['a']", "list index must be an integer"),
        ("subscriber.tags[y]", "list index must be an integer"),
        ("subscriber[subscriber.tags]", "cannot be used as a key"),
        ("x[1:2]", "cannot slice a number"),
        ("items['a':]", "slice bounds must be integers"),
    ],
)
def test_runtime_errors_are_eval_errors(source: str, fragment: str) -> None:
    ctx = dict(CTX, big=INT_LIMIT, huge=1e300)
    compiled = compile_expr(source, filters=FILTERS)
    with pytest.raises(EvalError) as info:
        compiled.evaluate(ctx, FR)
    assert fragment in info.value.message
    assert info.value.source == source
    assert fragment in str(info.value)


def test_int_limit_is_inclusive() -> None:
    assert ev("big + 0", {"big": INT_LIMIT}) == INT_LIMIT
    assert ev("-big - 0", {"big": INT_LIMIT}) == -INT_LIMIT
    with pytest.raises(EvalError):
        ev("big + 1", {"big": INT_LIMIT})


def test_odd_data_only_raises_eval_error() -> None:
    class Hostile(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise KeyError(key)

    with pytest.raises(EvalError, match="unexpected KeyError"):
        ev("x.y", {"x": Hostile()})
    with pytest.raises(EvalError):
        compile_expr("x", filters=FILTERS).evaluate(None, FR)  # type: ignore[arg-type]


def test_datetime_comparisons_work_and_mismatches_are_eval_errors() -> None:
    aware = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    naive = datetime.datetime(2025, 1, 2)
    assert ev("a < b", {"a": aware, "b": aware + datetime.timedelta(1)}) is True
    with pytest.raises(EvalError, match="cannot compare datetime < datetime"):
        ev("a < b", {"a": aware, "b": naive})


# --------------------------------------------------------------------------- templates


def test_template_render_with_blocks() -> None:
    template = compile_template(
        "Solde: {{ main.balance }} F, statut {{ subscriber.status | upper }}.",
        filters=FILTERS,
    )
    assert template.render(CTX, FR) == "Solde: 750 F, statut ACTIVE."
    assert template.names == {"main", "subscriber"}
    assert template.filters == {"upper"}
    assert template.is_static is False
    with pytest.raises(ValueError):
        template.static_text()


@pytest.mark.parametrize(
    ("block", "env", "expected"),
    [
        ("None", FR, ""),
        ("missing", FR, ""),
        ("x", FR, "7"),
        ("-x", FR, "-7"),
        ("y", FR, "2.5"),
        ("x / 7", FR, "1"),
        ("0.1 + 0.2", FR, "0.3"),
        ("x > 1", FR, "True"),  # no service's words at hand: as the expression language writes it
        ("x < 1", FR, "False"),
        ("x > 1", SW, "ndiyo"),
        ("x < 1", SW, "hapana"),
        ("'texte'", FR, "texte"),
    ],
)
def test_template_value_rendering(block: str, env: RenderEnv, expected: str) -> None:
    assert compile_template("[{{ " + block + " }}]", filters=FILTERS).render(CTX, env) == f"[{expected}]"


@pytest.mark.parametrize("lang", ["fr", "en", "en-GB", "EN_us", "dyu", ""])
def test_a_boolean_reads_only_as_the_words_it_is_handed(lang: str) -> None:
    """The language holds no words of its own and tests no language code: whatever the language,
    a boolean reads as the env's words (a French or English code included)."""
    template = compile_template("{{ x > 1 }}/{{ x < 1 }}", filters=FILTERS)
    assert template.render(CTX, RenderEnv(lang=lang, booleans=("nein", "ja"))) == "ja/nein"
    assert template.render(CTX, RenderEnv(lang=lang)) == "True/False"


AT = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=datetime.UTC)
_BOOLEAN_SERVICE = (
    'service: {code: "*558#", entry: home, languages: [fr, en]%s}\n'
    "screens:\n"
    "  home:\n"
    "    type: end\n"
    "    text:\n"
    '      fr: "Actif: {{ msisdn != \'\' }}, bloqué: {{ msisdn == \'\' }}"\n'
    '      en: "Active: {{ msisdn != \'\' }}, blocked: {{ msisdn == \'\' }}"\n'
)


def _boolean_screen(tmp_path: Path, lang: str, messages: str = "") -> str:
    """The screen of a service that shows two booleans, as the engine renders it in ``lang``."""
    (tmp_path / "m.yaml").write_text(_BOOLEAN_SERVICE % messages, encoding="utf-8")
    registry = Registry()

    def clock() -> float:
        return 1000.0

    engine = Engine(load_menus_or_raise([str(tmp_path)], registry), registry, MemorySessionStore(clock), clock=clock)
    return engine.begin("2250701000001", "*558#", AT, lang=lang).text


@pytest.mark.parametrize(("lang", "shown"), [("fr", "Actif: Oui, bloqué: Non"), ("en", "Active: Yes, blocked: No")])
def test_a_boolean_in_a_menu_reads_as_the_services_yes_and_no(tmp_path: Path, lang: str, shown: str) -> None:
    assert _boolean_screen(tmp_path, lang) == shown


def test_a_service_that_redefines_yes_and_no_shows_its_words(tmp_path: Path) -> None:
    messages = ', messages: {yes: {fr: "Vrai", en: "Right"}, no: {fr: "Faux", en: "Wrong"}}'
    assert _boolean_screen(tmp_path, "fr", messages) == "Actif: Vrai, bloqué: Faux"
    assert _boolean_screen(tmp_path, "en", messages) == "Active: Right, blocked: Wrong"


@pytest.mark.parametrize(("block", "hint"), [("offers", "join"), ("subscriber", "field"), ("when", "date")])
def test_template_refuses_to_show_python_reprs(block: str, hint: str) -> None:
    ctx = dict(CTX, when=datetime.datetime(2025, 1, 1))
    template = compile_template("A {{ " + block + " }}", filters=FILTERS)
    with pytest.raises(EvalError, match=hint) as info:
        template.render(ctx, FR)
    assert info.value.source == template.source
    assert info.value.column == 4


def test_static_template() -> None:
    template = compile_template("Bienvenue sur le #122#", filters=FILTERS)
    assert template.is_static
    assert template.static_text() == "Bienvenue sur le #122#"
    assert template.render({}, FR) == "Bienvenue sur le #122#"
    assert template.names == frozenset() and template.filters == frozenset()


def test_template_braces_inside_string_literals() -> None:
    template = compile_template("a {{ '}}' }} b {{ \"{{\" }} c }} d", filters=FILTERS)
    assert template.render({}, FR) == "a }} b {{ c }} d"
    assert not template.is_static


def test_template_multiline_text_and_block() -> None:
    template = compile_template("1. Solde\n2. Offres {{\n  x\n  + 1 }}\n0. Retour", filters=FILTERS)
    assert template.render(CTX, FR) == "1. Solde\n2. Offres 8\n0. Retour"


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("Solde {{ main.balance ", 6, "unterminated '{{'"),
        ("Solde {{ 'abc }}", 6, "unterminated '{{'"),
        ("ok {{ }}", 6, "empty expression"),
        ("ok {{ x }} then {{ mian.balance }}", 19, "did you mean 'main'"),
        ("é {{ x +* 2 }}", 8, "syntax error"),
        ("{{ open('f') }}", 3, "function calls"),
    ],
)
def test_template_errors_carry_template_column(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        compile_template(source, names=NAMES, filters=FILTERS)
    assert info.value.source == source
    assert info.value.column == column
    assert fragment in str(info.value)


def test_template_runtime_error_carries_template_source() -> None:
    template = compile_template("Total: {{ x / z }}", filters=FILTERS)
    with pytest.raises(EvalError, match="division by zero") as info:
        template.render(CTX, FR)
    assert info.value.source == "Total: {{ x / z }}"
    assert info.value.column == 10


def test_template_filter_sees_env() -> None:
    template = compile_template("{{ 'x' | lang }}", filters=FILTERS)
    assert template.render({}, FR) == "x@fr"
    assert template.render({}, EN) == "x@en"


def test_compiled_objects_are_immutable() -> None:
    compiled = compile_expr("x", filters=FILTERS)
    template = compile_template("{{ x }}", filters=FILTERS)
    with pytest.raises(AttributeError):
        compiled.source = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        template.source = "y"  # type: ignore[misc]
    assert isinstance(template, Template)


def test_render_env_defaults() -> None:
    env = RenderEnv()
    assert env.lang == "fr"
    assert datetime.datetime(2025, 6, 1, 12, tzinfo=env.tz).utcoffset() == datetime.timedelta(0)
    assert str(env.tz) == "Africa/Abidjan"


# --------------------------------------------------------------------------- properties


def _check_expr_error(error: ExprError, source: str) -> None:
    assert error.message
    assert error.source == source
    assert 0 <= error.column <= len(source)
    assert str(error)


@settings(max_examples=400)
@given(st.text())
def test_compile_expr_only_raises_expr_error(source: str) -> None:
    try:
        compiled = compile_expr(source, filters=FILTERS)
    except ExprError as error:
        _check_expr_error(error, source)
    else:
        assert compiled.source == source


_TOKENS = [
    "x", "y", "main", "balance", ".", "._x", "__class__", "(", ")", "[", "]", ",", ":", "|", "upper",
    "default", "pad", "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">=", "in", "not", "and",
    "or", "if", "else", "is", "lambda", "for", "1", "0", "2.5", "'a'", '"}}"', "None", "True", "{",
    "}", "=", ":=", "\n", "\\", "#", "'", "@", "~", "...", "1e999", "\x00", "é",
]  # fmt: skip


@settings(max_examples=600)
@given(st.lists(st.sampled_from(_TOKENS), max_size=14).map(" ".join))
def test_token_soup_compiles_or_expr_error_and_evaluates_or_eval_error(source: str) -> None:
    try:
        compiled = compile_expr(source, filters=FILTERS)
    except ExprError as error:
        _check_expr_error(error, source)
        return
    ctx = {"x": {"a": [1, "b"]}, "y": 3, "main": {"balance": 10}}
    try:
        compiled.evaluate(ctx, FR)
    except EvalError as error:
        assert error.source == source
        assert error.message


@settings(max_examples=300)
@given(st.text(), st.lists(st.sampled_from(_TOKENS), max_size=6).map(" ".join), st.text())
def test_compile_template_only_raises_expr_error(before: str, block: str, after: str) -> None:
    for source in (before, f"{before}{{{{ {block} }}}}{after}", f"{before}{{{{{block}"):
        try:
            template = compile_template(source, filters=FILTERS)
        except ExprError as error:
            _check_expr_error(error, source)
        else:
            assert template.source == source


@given(st.text().filter(lambda text: "{{" not in text))
def test_template_without_blocks_renders_source(source: str) -> None:
    template = compile_template(source, filters=FILTERS)
    assert template.is_static
    assert template.render({"x": 1}, EN) == source
    assert template.static_text() == source


# Arithmetic trees: the sandbox must agree with Python's own operators wherever
# results stay within bounds, and fail with EvalError/ExprError where they don't.

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}

Tree = Any  # int | float | ("neg", Tree) | (op, Tree, Tree)

_leaf = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**12), 10**12),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
_trees = st.recursive(
    _leaf,
    lambda sub: st.one_of(
        st.tuples(st.just("neg"), sub),
        st.tuples(st.sampled_from(sorted(_OPS)), sub, sub),
    ),
    max_leaves=16,
)


class _OutOfRange(Exception):
    pass


def _reference(tree: Tree) -> Any:
    """Plain-Python evaluation with the sandbox's documented limits."""
    if not isinstance(tree, tuple):
        return tree
    if tree[0] == "neg":
        result = -_reference(tree[1])
    else:
        left, right = _reference(tree[1]), _reference(tree[2])
        try:
            result = _OPS[tree[0]](left, right)
        except (ZeroDivisionError, OverflowError):
            raise _OutOfRange from None
    if isinstance(result, int) and abs(result) > INT_LIMIT:
        raise _OutOfRange
    if isinstance(result, float) and not math.isfinite(result):
        raise _OutOfRange
    return result


def _render(tree: Tree, leaves: list[Any] | None) -> str:
    """Source text; with *leaves*, numbers become variables n0, n1... bound in a context."""
    if not isinstance(tree, tuple):
        if leaves is not None:
            leaves.append(tree)
            return f"n{len(leaves) - 1}"
        return f"({tree!r})"
    if tree[0] == "neg":
        return f"(-{_render(tree[1], leaves)})"
    return f"({_render(tree[1], leaves)} {tree[0]} {_render(tree[2], leaves)})"


@settings(max_examples=400)
@given(_trees)
def test_arithmetic_matches_python(tree: Tree) -> None:
    try:
        expected: Any = _reference(tree)
    except _OutOfRange:
        expected = _OutOfRange
    leaves: list[Any] = []
    variable_source = _render(tree, leaves)
    ctx = {f"n{index}": value for index, value in enumerate(leaves)}
    compiled = compile_expr(variable_source, filters={})
    if expected is _OutOfRange:
        with pytest.raises(EvalError):
            compiled.evaluate(ctx, FR)
    else:
        result = compiled.evaluate(ctx, FR)
        assert result == expected and type(result) is type(expected)

    constant_source = _render(tree, None)
    if expected is _OutOfRange:
        with pytest.raises(ExprError):  # constant parts are folded at compile time
            compile_expr(constant_source, filters={})
    else:
        result = compile_expr(constant_source, filters={}).evaluate({}, FR)
        assert result == expected and type(result) is type(expected)


@given(
    st.lists(st.integers(-5, 5), min_size=2, max_size=5),
    st.lists(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), min_size=4, max_size=4),
)
def test_chained_comparisons_match_python(values: list[int], ops: list[str]) -> None:
    functions = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
                 "==": operator.eq, "!=": operator.ne}  # fmt: skip
    used = ops[: len(values) - 1]
    source = "v0" + "".join(f" {op} v{index + 1}" for index, op in enumerate(used))
    expected = all(functions[op](values[i], values[i + 1]) for i, op in enumerate(used))
    ctx = {f"v{index}": value for index, value in enumerate(values)}
    assert compile_expr(source, filters={}).evaluate(ctx, FR) is expected


# -- bounded text ---------------------------------------------------------------------------------


def _nested_joins(levels: int) -> str:
    inner = "'y' + 'zzzzzzzzzzzzzzzzzzzz'"
    for _ in range(levels):
        inner = f"['a','b','c','d','e','f','g','h'] | join({inner})"
    return "{{ " + inner + " }}"


def test_nested_joins_are_refused_before_the_text_is_built() -> None:
    from ussd.filters import BUILTIN_FILTERS

    template = compile_template(_nested_joins(6), names=None, filters=BUILTIN_FILTERS)  # ~8**6 x 20 characters
    with pytest.raises(EvalError, match="over 4096"):
        template.render({}, RenderEnv())
    assert len(compile_template(_nested_joins(2), names=None, filters=BUILTIN_FILTERS).render({}, RenderEnv())) < 4096


def test_texts_added_and_templates_are_bounded() -> None:
    long = "x" * 3000
    with pytest.raises(EvalError, match="longer than 4096"):
        compile_expr("a + a", names=None, filters={}).evaluate({"a": long}, RenderEnv())
    with pytest.raises(EvalError, match="longer than 4096"):
        compile_template("{{ a }}{{ a }}", names=None, filters={}).render({"a": long}, RenderEnv())
    assert compile_template("{{ a }}", names=None, filters={}).render({"a": long}, RenderEnv()) == long
