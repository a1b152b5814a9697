"""ussd.shape: YAML documents checked against JSON Schemas, each problem at its place."""

from __future__ import annotations

import re

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ussd.diagnostics import Diagnostic, Where, report
from ussd.shape import Document, Schema, check_document, packaged_schema, path_label, read_document

MENU = packaged_schema("ussd", "menu.schema.json")

SMALL = Schema({
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "who it is"},
        "size": {"type": "integer", "minimum": 1, "maximum": 9, "x-expected": "1 to 9"},
        "colour": {"enum": ["red", "green", "blue"]},
        "items": {"type": "array", "x-item": "item", "items": {"type": "object", "properties": {
            "code": {"type": "string", "pattern": "^[0-9]+$", "x-expected": "digits"}},
            "additionalProperties": False}},
        "each": {"type": "string"},
        "as": {"type": "string"},
    },
    "required": ["name"],
    "dependentRequired": {"as": ["each"]},
    "additionalProperties": False,
}, "small")

YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def check(text: str, schema: Schema = SMALL) -> list[str]:
    return [str(d) for d in check_document(read_document(yaml.compose(text, Loader=yaml.SafeLoader), "f.yaml"),
                                           schema)]


def test_an_unknown_key_is_placed_on_the_key_with_a_suggestion_and_the_known_keys() -> None:
    assert check("name: x\ncolor: red\n") == [
        "f.yaml:2:1: file: unknown key 'color' (did you mean 'colour'?); "
        "expected one of: name, size, colour, items, each, as"]


def test_a_wrong_type_is_placed_on_the_value_and_says_what_was_found() -> None:
    assert check("name: [a]\n") == ["f.yaml:1:7: name: expected text, found a list"]


def test_a_missing_key_is_placed_on_the_mapping_with_its_description() -> None:
    assert check("size: 3\n") == ["f.yaml:1:1: file: missing 'name' (who it is)"]


def test_an_enum_names_the_key_suggests_and_lists_the_choices() -> None:
    assert check("name: x\ncolour: gren\n") == [
        "f.yaml:2:9: file: unknown colour 'gren' (did you mean 'green'?); expected one of: red, green, blue"]


def test_x_expected_words_a_range_and_a_pattern() -> None:
    assert check("name: x\nsize: 12\nitems:\n  - code: 12a\n") == [
        "f.yaml:2:7: size: expected 1 to 9, not 12",
        "f.yaml:4:11: item 1 code: expected digits, not '12a'",
    ]


def test_a_dependent_key_says_what_it_goes_with() -> None:
    assert check("name: x\nas: y\n") == ["f.yaml:2:1: file: 'as' only goes with 'each'"]


def test_duplicate_and_complex_keys_are_problems_of_their_own() -> None:
    assert check("name: x\nname: y\n? [a]\n: 1\n") == [
        "f.yaml:2:1: file: duplicate key 'name' (first at line 1)",
        "f.yaml:3:3: file: keys must be plain words",
    ]


def test_aliases_that_multiply_a_document_stop_the_reading_with_one_problem() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    doc = read_document(yaml.compose("\n".join(lines), Loader=yaml.SafeLoader), "bomb.yaml")
    problems = check_document(doc, SMALL)
    assert len(problems) == 1 and "aliases repeat" in problems[0].message


def test_a_shared_list_through_an_alias_is_fine() -> None:
    doc = read_document(yaml.compose("name: &n x\neach: *n\n", Loader=yaml.SafeLoader), "f.yaml")
    assert doc.value == {"name": "x", "each": "x"} and check_document(doc, SMALL) == []


def test_nesting_too_deep_is_a_problem_not_a_recursion_error() -> None:
    doc = read_document(yaml.compose("[" * 100 + "]" * 100, Loader=yaml.SafeLoader), "deep.yaml")
    assert any("nested more than" in d.message for d in check_document(doc, SMALL))


def test_labels_use_the_item_names_of_the_schema() -> None:
    schema = MENU.document
    assert path_label(schema, ("screens", "ask", "input", "min")) == "screen 'ask' input min"
    assert path_label(schema, ("screens", "home", "options", 3, "label")) == "screen 'home' option 4 label"
    assert path_label(schema, ()) == "file"


def test_a_place_falls_back_to_the_nearest_known_ancestor() -> None:
    doc = read_document(yaml.compose("a:\n  b: 1\n", Loader=yaml.SafeLoader), "f.yaml")
    assert doc.where(("a", "b", "c")) == Where("f.yaml", 2, 6)
    assert doc.where(("a", "b"), key=True) == Where("f.yaml", 2, 3)
    assert Document("g.yaml").where(("x",)) == Where("g.yaml", 1, 1)


def test_the_reporter_prints_in_file_order_once_and_counts() -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    b, a = Diagnostic(Where("f", 2, 1), "second"), Diagnostic(Where("f", 1, 5), "first")
    assert report([b, a, b], "1 file", out, err) == 2
    assert out.getvalue() == "f:1:5: first\nf:2:1: second\n" and err.getvalue() == "2 problem(s) in 1 file\n"


def test_every_schema_shipped_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(MENU.document)
    assert MENU.document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                         st.floats(allow_nan=False, allow_infinity=False))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_any_yaml_value_gives_diagnostics_within_the_file_never_an_exception(value: object) -> None:
    text = yaml.safe_dump({"screens": value, "service": value}, allow_unicode=True)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = len(YAML_LINE_BREAK.split(text))  # YAML breaks lines at NEL, LS and PS too
    for diagnostic in check_document(read_document(root, "fuzz.yaml"), MENU):
        assert diagnostic.where.path == "fuzz.yaml" and 1 <= diagnostic.where.line <= lines
        assert diagnostic.message and "\n" not in diagnostic.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_read_as_yaml_never_raises_beyond_yaml_itself(text: str) -> None:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return
    if root is not None:
        assert all(isinstance(d, Diagnostic) for d in check_document(read_document(root, "t.yaml"), MENU))


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_the_fast_validator_and_the_explaining_one_agree(value: object) -> None:
    for document in ({"screens": value}, {"service": value}, {"screens": {"a": value}}, value):
        assert MENU.is_valid(document) == MENU.validator.is_valid(document)


def test_a_label_deep_in_lists_keeps_its_start_and_its_end() -> None:
    label = path_label(SMALL.document, ("items", 0) + (1,) * 20 + ("code",))
    assert label == "item 1 item 2 ... item 2 item 2 item 2 item 2 code"


def test_an_unknown_value_in_a_list_gets_a_suggestion_too() -> None:
    schema = Schema({"type": "array", "items": {"enum": ["monday", "sunday"]}}, "days")
    doc = read_document(yaml.compose("[sundy]", Loader=yaml.SafeLoader), "d.yaml")
    assert [str(d) for d in check_document(doc, schema)] == [
        "d.yaml:1:2: item 1: expected one of: monday, sunday, found 'sundy' (did you mean 'sunday'?)"]


def test_nan_and_infinity_are_not_numbers_of_any_schema() -> None:
    assert check("name: x\nsize: .nan\n") == ["f.yaml:2:7: size: expected 1 to 9, found '.nan'"]
    assert check("name: x\nsize: -.inf\n") == ["f.yaml:2:7: size: expected 1 to 9, found '-.inf'"]


def test_a_key_that_is_no_word_is_quoted_in_a_label() -> None:
    assert path_label(SMALL.document, ("a\nb", "c")) == "'a\\nb' c"


def test_a_value_left_out_is_placed_just_after_its_key() -> None:
    assert check("name: x\nsize:\n") == ["f.yaml:2:6: size: expected 1 to 9, found nothing (null)"]
    assert check("size:\nname: x\n") == ["f.yaml:1:6: size: expected 1 to 9, found nothing (null)"]
    # on the key's own line (a comment after it), where the value would be
    assert check("name: x\nsize: # 3\n") == ["f.yaml:2:6: size: expected 1 to 9, found nothing (null)"]
