"""The policy's JSON Schema (accounts/schemas/policy.schema.json) and the reader built on it: the
names it lists are the model's, the shipped policy fits it, and no file makes the reader fail
other than with its own error, every problem placed in the file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from accounts.model import LANGUAGES, RUBRIQUES, SCOPES
from accounts.policy import DAYS, POLICY_FILE, PolicyError, load_policy
from ussd import InvalidFile, check_document, packaged_schema, read_document

SCHEMA = packaged_schema("accounts", "policy.schema.json")
SCHEMAS = ("policy.schema.json", "catalogue.schema.json")


def shipped_problems(path: Path, schema_name: str) -> list[str]:
    """What the schema finds in a shipped file (its first line names the schema for editors)."""
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# yaml-language-server: $schema=schemas/{schema_name}"
    assert (path.parent / "schemas" / schema_name).is_file()
    doc = read_document(yaml.compose(text, Loader=yaml.SafeLoader), str(path))
    return [str(d) for d in check_document(doc, packaged_schema("accounts", schema_name))]


def loads_or_places_every_problem(load: Callable[[Path], object], error: type[InvalidFile], path: Path,
                                  text: str) -> None:
    """``load`` reads ``text`` from ``path`` or raises ``error`` whose every problem is a line of
    its own, placed inside the file (anything else raised fails the test)."""
    path.write_text(text, encoding="utf-8")
    try:
        load(path)
    except error as exc:
        assert exc.diagnostics
        lines = len(text.splitlines()) + 1  # every line break YAML knows, and more
        for diagnostic in exc.diagnostics:
            assert diagnostic.where.path == str(path)
            assert 1 <= diagnostic.where.line <= lines and diagnostic.where.column >= 1, diagnostic
            assert diagnostic.message and "\n" not in diagnostic.message


def subschemas(schema: Any, at: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(schema, Mapping):
        yield at, schema
        for key, value in schema.items():
            yield from subschemas(value, f"{at}/{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            yield from subschemas(value, f"{at}/{n}")


# -- the schemas as documents ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_draft_2020_12_with_a_title_and_a_description_on_every_property(name: str) -> None:
    document = json.loads((POLICY_FILE.parent / "schemas" / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith(f"/{name}") and document["title"] and document["description"]
    undescribed = [f"{at}/properties/{key}" for at, schema in subschemas(document)
                   for key, prop in schema.get("properties", {}).items()
                   if isinstance(prop, Mapping) and "description" not in prop and not at.endswith("/if")]
    assert undescribed == []


def test_the_schema_names_the_models_accounts_rubriques_scopes_languages_and_days() -> None:
    document = SCHEMA.document
    rubriques = document["properties"]["rubriques"]["properties"]
    assert {account: tuple(schema["properties"]) for account, schema in rubriques.items()} == RUBRIQUES
    assert list(rubriques) == list(RUBRIQUES)  # the order messages list them in
    line = document["$defs"]["line"]
    assert line["properties"]["account"]["enum"] == list(RUBRIQUES)
    by_account = {rule["if"]["properties"]["account"]["const"]: rule["then"]["properties"] for rule in line["allOf"]}
    assert {account: tuple(props["rubrique"]["enum"]) for account, props in by_account.items()} == RUBRIQUES
    assert {account: tuple(props["scope"].get("enum", ())) for account, props in by_account.items()} == SCOPES
    everywhere = [r for r in RUBRIQUES["credit"] if all(r in names for names in RUBRIQUES.values())]
    assert document["properties"]["passes"]["properties"]["rubrique"]["enum"] == everywhere
    per_language = document["$defs"]["text"]["anyOf"][1]
    assert tuple(per_language["properties"]) == tuple(per_language["required"]) == LANGUAGES
    assert tuple(document["$defs"]["window"]["properties"]["days"]["items"]["enum"]) == DAYS


def test_the_shipped_policy_fits_its_schema() -> None:
    assert shipped_problems(POLICY_FILE, "policy.schema.json") == []


# -- what the reader adds to the schema -----------------------------------------------------------


def policy_at(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_error_is_an_invalid_file_with_its_problems_in_file_order(tmp_path: Path) -> None:
    path = policy_at(tmp_path, "passes: {rubrique: nigth}\ntimezon: UTC\nfavourites: {max: 0}\n")
    with pytest.raises(InvalidFile) as caught:
        load_policy(path)
    assert isinstance(caught.value, PolicyError)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:1:20: passes: unknown rubrique 'nigth'; expected one of: monthly, special, pass",
        f"{path}:2:1: file: unknown key 'timezon' (did you mean 'timezone'?); "
        "expected one of: timezone, windows, rubriques, lines, favourites, passes",
        f"{path}:3:19: favourites max: expected a whole number of at least 1, not 0",
    ]


def test_a_rubrique_names_a_rubrique_of_its_lines_account_at_the_rubrique(tmp_path: Path) -> None:
    path = policy_at(tmp_path, "lines:\n  - {account: credit, rubrique: nigth, label: x}\n"
                               "  - {account: internet, rubrique: night, label: ''}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:2:33: lines entry 1: unknown rubrique 'nigth'; expected one of: monthly, omoney, weekend, "
        "special, pass",
        f"{path}:3:49: lines entry 2 label: expected some text, not ''",
    ]


def test_unquoted_times_and_texts_are_read_as_the_operator_wrote_them(tmp_path: Path) -> None:
    # YAML 1.1 reads 18:00 as 64800 and yes as true; editors (YAML 1.2) and operators read text
    path = policy_at(tmp_path, "windows:\n  evening: {start: 18:00, end: 20:30, label: yes}\n"
                               "rubriques:\n  credit:\n    special: {title: 2024, window: evening}\n")
    policy = load_policy(path)
    evening = policy.windows["evening"]
    assert (str(evening.start), str(evening.end), dict(evening.label)) == ("18:00:00", "20:30:00", {"*": "yes"})
    assert dict(policy.rubriques[("credit", "special")].title) == {"*": "2024"}


def test_a_file_nested_beyond_reading_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    path = policy_at(tmp_path, "[" * 5000 + "]" * 5000)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert [str(d) for d in caught.value.diagnostics] == [f"{path}:1:1: YAML nested too deeply to read"]


def test_a_file_that_is_not_utf8_or_has_control_characters_is_one_problem_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("timezone: Abidjan é\n".encode("latin-1"))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:1:19: not UTF-8 text (invalid continuation byte at byte 18); save the file as UTF-8"]
    path = policy_at(tmp_path, "timezone: \x01\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:1:11: YAML syntax: special characters are not allowed"]


# -- no file makes the reader fail otherwise ------------------------------------------------------

WORDS = ["credit", "minutes", "internet", "monthly", "night", "pass", "special", "intra", "all", "saturday",
         "sunday", "weekend", "fr", "en", "00:00", "06:00", "25:00", "Africa/Abidjan", "Mars/Olympus", "x", ""]
KEYS = ["timezone", "windows", "rubriques", "lines", "favourites", "passes", "days", "start", "end", "label",
        "title", "window", "account", "rubrique", "scope", "line", "max", "credit", "internet", "night",
        "weekend", "fr", "en"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100_000), st.sampled_from(WORDS), st.text(max_size=12),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)), max_leaves=40)
policies = st.dictionaries(st.sampled_from(KEYS[:6]) | st.text(max_size=8), values, max_size=6)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=None)
@given(policies)
def test_any_yaml_value_loads_or_gives_placed_problems_never_another_exception(fuzz_dir: Path,
                                                                               value: dict[str, Any]) -> None:
    text = yaml.safe_dump(value, allow_unicode=True, default_flow_style=None)
    loads_or_places_every_problem(load_policy, PolicyError, fuzz_dir / "policy.yaml", text)


def places(value: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every place in a plain document: its mappings' keys and its lists' items, and the root."""
    yield at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield from places(inner, (*at, key))


def replaced(document: Any, at: tuple[str | int, ...], value: Any) -> Any:
    """``document`` with ``value`` at ``at`` (a copy: the document is shared between examples)."""
    if not at:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[at[0]] = replaced(document[at[0]], at[1:], value)
    return copy


SHIPPED = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(places(SHIPPED))), values)
def test_the_shipped_policy_with_any_value_anywhere_loads_or_gives_placed_problems(
        fuzz_dir: Path, at: tuple[str | int, ...], value: Any) -> None:
    text = yaml.safe_dump(replaced(SHIPPED, at, value), allow_unicode=True, default_flow_style=None)
    loads_or_places_every_problem(load_policy, PolicyError, fuzz_dir / "mutated.yaml", text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_gives_placed_problems_never_another_exception(fuzz_dir: Path, text: str) -> None:
    loads_or_places_every_problem(load_policy, PolicyError, fuzz_dir / "text.yaml", text)
