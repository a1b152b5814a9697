"""The loader: every problem of a menu set, each with the ``file:line:column`` an editor jumps to.

Paths in messages are relative to the working directory, so these tests run from the project root.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import GOOD_MENUS, SHIPPED_MENUS, shop_population, shop_registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.demo import demo_registry
from ussd.diagnostics import Diagnostic
from ussd.loader import LoadResult, MenuError, load_menus, load_menus_or_raise

ROOT = Path(__file__).resolve().parent.parent
CASES = "tests/menus/cases"
BROKEN = "tests/menus/broken"
KNOWN = "known: bonus, conso, input, internet_plus, invoices, lang, msisdn, now, passes, result, rule, subscriber"


@pytest.fixture(scope="module", autouse=True)
def at_project_root():
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        yield


def load(*paths: str | Path) -> LoadResult:
    return load_menus(list(paths), demo_registry())


def lines_of(result: LoadResult) -> list[str]:
    return [str(p) for p in result.problems]


@pytest.fixture(scope="module")
def broken() -> list[str]:
    return lines_of(load(BROKEN))


# -- the deliberately broken service ---------------------------------------------------------------

@pytest.mark.parametrize("expected", [
    # unknown key, with did-you-mean
    "tests/menus/broken/main.yaml:5:3: service: unknown key 'chrset' (did you mean 'charset'?); "
    "expected one of: code, aliases, name, entry, languages, charset, keys, phone, option_format, messages, resume",
    "tests/menus/broken/extra.yaml:6:5: screen 'ask': unknown key 'nxt' (did you mean 'next'?); "
    "expected one of: type, text, lines, input, save, next, errors, resume",
    # unknown key, nothing close enough to suggest
    "tests/menus/broken/main.yaml:32:5: screen 'info': unknown key 'colour'; "
    "expected one of: type, text, lines, resume",
    # unknown screen type
    "tests/menus/broken/extra.yaml:11:11: screen 'bad_type': unknown type 'menuu' (did you mean 'menu'?); "
    "expected one of: menu, info, end, input, confirm, route, action",
    # unknown input kind
    "tests/menus/broken/extra.yaml:5:19: screen 'ask' input: unknown kind 'phon' (did you mean 'phone'?); "
    "expected one of: text, digits, phone, amount",
    # a required key missing (because it was misspelt)
    "tests/menus/broken/extra.yaml:3:5: screen 'ask': missing 'next' (the screen to go to)",
    # target that does not exist
    "tests/menus/broken/main.yaml:16:15: no screen 'balanse'",
    # unreachable screens
    "tests/menus/broken/main.yaml:33:3: screen 'orphan' is unreachable from the entry 'home'",
    "tests/menus/broken/main.yaml:36:3: screen 'long_end' is unreachable from the entry 'home'",
    "tests/menus/broken/main.yaml:39:3: screen 'loop_a' is unreachable from the entry 'home'",
    "tests/menus/broken/main.yaml:43:3: screen 'loop_b' is unreachable from the entry 'home'",
    # duplicate option key
    "tests/menus/broken/main.yaml:17:9: screen 'home': duplicate option key '1' "
    "(first at tests/menus/broken/main.yaml:14:9)",
    # duplicate screen id across files
    "tests/menus/broken/extra.yaml:7:3: screen 'info' is defined twice (first at tests/menus/broken/main.yaml:29:3)",
    # navigation key used as an option key
    "tests/menus/broken/main.yaml:26:14: screen 'home' option 5 key: '0' is the service's back key",
    # undefined filter with did-you-mean, at the filter's own column
    "tests/menus/broken/main.yaml:31:46: screen 'info' text: unknown filter 'mony' (known: count, data, date, "
    "day, default, duration, join, lower, money, national, plural, time, ...); did you mean 'money'?",
    # syntax error in a condition, at the '=' itself
    "tests/menus/broken/main.yaml:25:33: screen 'home' option 4 when: syntax error: invalid syntax "
    "(use '==' to compare)",
    # unknown action with did-you-mean
    "tests/menus/broken/main.yaml:21:17: screen 'home' option 3: unknown action 'buy_pas' "
    "(did you mean 'buy_pass'?); registered: add_favourite, buy_pass, invoice_duplicate, remove_favourite, "
    "set_internet_plus",
    # missing translation
    "tests/menus/broken/main.yaml:23:16: screen 'home' option 4 label: missing translation for en",
    # language not in the service
    "tests/menus/broken/main.yaml:20:47: screen 'home' option 3 label: language 'de' is not one of the "
    "service's languages (fr, en)",
    # include of a missing file
    "tests/menus/broken/main.yaml:8:5: include: no such file 'missing.yaml'",
    # route loop
    "tests/menus/broken/main.yaml:43:3: routes loop without asking the subscriber: loop_a -> loop_b -> loop_a",
    # route without fallback
    "tests/menus/broken/main.yaml:46:9: screen 'loop_b': the last route has a 'when', so a subscriber may "
    "match no route; add a last route without 'when'",
    # fixed end-screen text that cannot fit a page (a text written once is reported once)
    "tests/menus/broken/main.yaml:36:3: fixed text of this end screen cannot fit one page [fr]: "
    "198 septets, a page holds 182",
    # input min > max, at the min value
    "tests/menus/broken/extra.yaml:5:30: screen 'ask' input: min (3) is above max (1)",
    # min/max on a kind that has no number (kind fell back to text)
    "tests/menus/broken/extra.yaml:5:12: screen 'ask' input: 'min'/'max' are for kind amount or digits",
])
def test_broken_menus_report(broken: list[str], expected: str) -> None:
    assert expected in broken


def test_broken_menus_report_every_problem_once(broken: list[str]) -> None:
    assert len(broken) == 25
    assert len(set(broken)) == len(broken)
    assert not any("[en]" in line for line in broken)  # the fr/en-wide text is said once


def test_problems_are_sorted_by_file_line_and_column() -> None:
    problems = load(BROKEN).problems
    keys = [(p.where.path, p.where.line, p.where.column) for p in problems]
    assert keys == sorted(keys)
    assert [p.where.path for p in problems][0] == "tests/menus/broken/extra.yaml"


def test_every_problem_points_inside_its_file() -> None:
    problems = load(BROKEN).problems
    assert problems
    for problem in problems:
        text = (ROOT / problem.where.path).read_text(encoding="utf-8").split("\n")
        assert 1 <= problem.where.line <= len(text), str(problem)
        assert 1 <= problem.where.column <= len(text[problem.where.line - 1]), str(problem)


def test_broken_menus_refuse_to_run_listing_every_problem() -> None:
    with pytest.raises(MenuError) as info:
        load_menus_or_raise([BROKEN], demo_registry())
    assert len(info.value.problems) == 25
    assert str(info.value).split("\n") == lines_of(load(BROKEN))


# -- menus that load ----------------------------------------------------------------------------------

def test_good_menus_load_with_the_test_registry() -> None:
    result = load_menus([GOOD_MENUS], shop_registry(shop_population()))
    assert result.ok and result.problems == []
    assert set(result.menus.services) == {"555", "777"}
    assert len(result.files) == 3


def test_shipped_menus_load_with_the_demo_registry() -> None:
    result = load(SHIPPED_MENUS)
    assert result.problems == []
    assert set(result.menus.services) == {"122"}
    service = result.menus.services["122"]
    assert service.entry == "start" and len(service.screens) == 46


def test_good_menus_need_their_registry() -> None:
    # The shop's 'debit' action is not in the demo registry: a problem, not a crash.
    result = load(GOOD_MENUS)
    assert any("unknown action 'debit'" in str(p) for p in result.problems)


# -- one case per file --------------------------------------------------------------------------------

def test_undefined_variable_with_did_you_mean() -> None:
    result = load(f"{CASES}/undefined_var.yaml")
    assert lines_of(result) == [
        f"{CASES}/undefined_var.yaml:9:21: undefined variable 'subscribr' (did you mean 'subscriber'?); {KNOWN}",
    ]


def test_each_alias_is_visible_only_inside_its_line() -> None:
    result = load(f"{CASES}/each_alias.yaml")
    assert lines_of(result) == [
        f"{CASES}/each_alias.yaml:13:30: undefined variable 'bucket'; {KNOWN}",  # in 'empty'
        f"{CASES}/each_alias.yaml:14:28: undefined variable 'bucket'; {KNOWN}",  # in the next line
    ]  # and nothing for line 12, the 'line' template itself


def test_include_cycle_reported_once_with_its_chain() -> None:
    result = load(f"{CASES}/cycle")
    assert lines_of(result) == [f"{CASES}/cycle/b.yaml:2:5: include cycle: a.yaml -> b.yaml -> a.yaml"]
    service = result.menus.services["603"]
    assert set(service.screens) == {"home", "next"}


def test_yaml_syntax_error_with_line_and_column() -> None:
    assert lines_of(load(f"{CASES}/syntax.yaml")) == [
        f"{CASES}/syntax.yaml:6:3: YAML syntax: expected ',' or '}}', but got '<scalar>'",
    ]


def test_file_that_is_not_a_mapping() -> None:
    assert lines_of(load(f"{CASES}/not_mapping.yaml")) == [
        f"{CASES}/not_mapping.yaml:1:1: file: expected a mapping, found a list",
    ]


def test_empty_file() -> None:
    assert (ROOT / CASES / "empty.yaml").read_bytes() == b""
    assert lines_of(load(f"{CASES}/empty.yaml")) == [
        f"{CASES}/empty.yaml:1:1: empty file: expected 'service', 'include' or 'screens'",
    ]


def test_non_utf8_file() -> None:
    data = (ROOT / CASES / "latin1.yaml").read_bytes()
    assert data.index(b"\xe9") == 84
    assert lines_of(load(f"{CASES}/latin1.yaml")) == [
        f"{CASES}/latin1.yaml:7:15: not UTF-8 text (invalid continuation byte at byte 84); save the file as UTF-8",
    ]


def test_non_utf8_byte_offset_is_counted_from_the_start_of_the_file(tmp_path: Path) -> None:
    # The bad byte sits beyond the first 8 KiB that the text reader decodes at once.
    data = b"# " + b"x" * 10_000 + b'\nservice: {code: "#1#", entry: a}\nscreens:\n  a: {type: end, text: "Caf\xe9"}\n'
    path = tmp_path / "big.yaml"
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    assert offset == 10_072
    problems = load(path).problems
    assert [p.message for p in problems] == [
        f"not UTF-8 text (invalid continuation byte at byte {offset}); save the file as UTF-8"]
    assert (problems[0].where.line, problems[0].where.column) == (4, 28)


def test_file_with_no_service_that_nobody_includes() -> None:
    assert lines_of(load(f"{CASES}/orphan")) == [
        f"{CASES}/orphan/screens_only.yaml:1:1: this file declares no 'service' and no service includes it",
    ]


def test_two_services_with_the_same_short_code() -> None:
    result = load(f"{CASES}/dup_code")
    assert lines_of(result) == [
        f"{CASES}/dup_code/two.yaml:2:3: service *610# is already defined in {CASES}/dup_code/one.yaml",
    ]
    assert result.menus.services["610"].code == "#610#"


def test_ucs2_end_text_over_80_characters() -> None:
    assert lines_of(load(f"{CASES}/ucs2_long.yaml")) == [
        f"{CASES}/ucs2_long.yaml:8:3: fixed text of this end screen cannot fit one page: 85 UCS-2 characters, "
        "a page holds 80 ('ê' is not in GSM 7-bit and forces UCS-2; use charset: transliterate or avoid it)",
    ]


def test_values_of_the_wrong_type() -> None:
    assert lines_of(load(f"{CASES}/wrong_type.yaml")) == [
        f"{CASES}/wrong_type.yaml:4:10: no screen 'home'",  # the menu could not be built
        f"{CASES}/wrong_type.yaml:5:14: service languages: expected a list, found 'fr'",
        f"{CASES}/wrong_type.yaml:10:14: screen 'home' options: expected a list, found '1. Solde'",
        f"{CASES}/wrong_type.yaml:14:32: screen 'ask' input min: expected a whole number, found 'dix'",
        f"{CASES}/wrong_type.yaml:14:42: screen 'ask' input max: expected a whole number, found a list",
        f"{CASES}/wrong_type.yaml:15:11: screen 'ask' next: expected text, found a list",
    ]


def test_screen_id_that_is_not_a_word_is_a_problem_not_a_crash() -> None:
    result = load(f"{CASES}/complex_key.yaml")
    assert any(p.where.path == f"{CASES}/complex_key.yaml" and p.where.line == 7 for p in result.problems)


def test_templated_more_and_error_lines_are_checked_not_a_crash() -> None:
    # The renderer handles templated "more"/"invalid_choice" messages; the fit checker must too.
    result = load(f"{CASES}/dynamic_more.yaml")
    assert isinstance(result.problems, list)
    assert "614" in result.menus.services


def test_include_name_with_a_nul_is_a_problem_not_a_crash() -> None:
    result = load(f"{CASES}/include_nul.yaml")
    assert [(p.where.line, p.where.column) for p in result.problems] == [(6, 10)]
    assert "include" in result.problems[0].message


def test_include_name_too_long_for_the_file_system_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    name = "x" * 300 + ".yaml"  # longer than NAME_MAX (255): stat() fails with ENAMETOOLONG
    path = tmp_path / "main.yaml"
    path.write_text(
        'service: {code: "#617#", entry: home, languages: [fr]}\n'
        f"include: [{name}]\n"
        "screens:\n  home: {type: end, text: Accueil}\n",
        encoding="utf-8",
    )
    result = load(path)
    assert [(p.where.line, p.where.column) for p in result.problems] == [(2, 11)]
    assert "include" in result.problems[0].message


def test_duplicate_screen_id_in_one_file_keeps_the_first_and_points_there() -> None:
    result = load(f"{CASES}/dup_screen_key.yaml")
    lines = lines_of(result)
    assert f"{CASES}/dup_screen_key.yaml:13:3: screens: duplicate key 'home' (first at line 7)" in lines
    home = result.menus.services["616"].screens["home"]
    assert "Ce texte de fin" in home.lines[0].text.variants["*"].source  # the first definition is kept
    # ...so what is said about it must point at the first definition, where its long text is.
    assert f"{CASES}/dup_screen_key.yaml:7:3: fixed text of this end screen cannot fit one page: " \
           "203 septets, a page holds 182" in lines
    assert home.where.line == 7


def test_nothing_to_load() -> None:
    assert lines_of(load("tests/menus/nope")) == ["tests/menus/nope:1:1: no such file or folder"]
    with pytest.raises(MenuError):
        load_menus_or_raise(["tests/menus/nope"], demo_registry())


def test_path_too_long_for_the_file_system_is_a_problem_not_a_crash() -> None:
    result = load("x" * 300)
    assert [(p.where.path, p.where.line, p.where.column) for p in result.problems] == [("x" * 300, 1, 1)]


# -- never raises ------------------------------------------------------------------------------------

PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: .+", re.S)

SCREEN_WORDS = ["menu", "info", "end", "input", "confirm", "route", "action", "home", "start", "info",
                "#122#", "*555#", "fr", "en", "ucs2", "transliterate", "phone", "amount", "digits",
                "buy_pass", "subscriber.status == \"active\"", "{{ subscriber.main.balance | money }}",
                "{{ x | nope }}", "a.yaml", "b.yaml", "", "1", "0", "00", "98"]
KEY_NAMES = ["service", "include", "screens", "code", "entry", "languages", "charset", "keys", "messages",
             "options", "goto", "type", "text", "lines", "label", "key", "when", "routes", "input", "kind",
             "min", "max", "next", "save", "yes", "no", "action", "args", "on", "each", "as", "line",
             "empty", "home", "start", "fr", "en", "more", "nav", "phone", "success", "errors", "colour"]

scalars = st.one_of(st.sampled_from(SCREEN_WORDS), st.text(max_size=12), st.integers(-5, 300),
                    st.booleans(), st.none())
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEY_NAMES), children, max_size=5),
    ),
    max_leaves=30,
)
documents = st.dictionaries(st.sampled_from(["service", "include", "screens", "extra"]), trees, max_size=4)


def _check_result(result: LoadResult) -> None:
    assert isinstance(result.problems, list)
    assert all(isinstance(p, Diagnostic) and PROBLEM_LINE.match(str(p)) for p in result.problems)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text())
def test_arbitrary_text_never_raises(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("text") / "menu.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _check_result(load(path))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents)
def test_arbitrary_yaml_documents_never_raise(tmp_path_factory: pytest.TempPathFactory, doc: dict) -> None:
    folder = tmp_path_factory.mktemp("doc")
    (folder / "menu.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    (folder / "a.yaml").write_text("screens:\n  home: {type: end, text: x}\n", encoding="utf-8")
    _check_result(load(folder))


def test_includes_stay_in_the_menu_folder_and_quote_no_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2-" + "x" * 200 + "\n", encoding="utf-8")
    folder = tmp_path / "menus"
    folder.mkdir()
    main = folder / "main.yaml"
    main.write_text('service: {code: "*560#", entry: a}\n'
                    f'include: ["../secret.yaml", "{secret}", "/etc/passwd", "sub/../ok.yaml"]\n'
                    'screens:\n  a: {type: end, text: "A"}\n', encoding="utf-8")
    (folder / "ok.yaml").write_text('screens:\n  b: {type: end, text: "B"}\n', encoding="utf-8")
    (folder / "sub").mkdir()
    messages = [p.message for p in load(main).problems]
    outside = [m.split(" is outside")[0] for m in messages if "outside the menu folder" in m]
    assert len(outside) == 3 and outside[0] == "include: '../secret.yaml'" and outside[2] == "include: '/etc/passwd'"
    assert not any("hunter2" in m or "root:" in m for m in messages)
    assert "screen 'b' is unreachable from the entry 'a'" in " ".join(messages)  # ok.yaml was read


def test_messages_quote_only_an_excerpt_of_a_value(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("y" * 5000 + "\n", encoding="utf-8")
    [problem] = load(path).problems
    assert len(problem.message) < 200 and "(5000 characters)" in problem.message


def test_a_menu_file_too_large_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"screens: {}\n" + b"#" * (2 << 20))
    assert [p.message for p in load(path).problems] == ["file too large: at most 1024 KiB"]


@pytest.mark.parametrize("screen", ['{type: info}', '{type: end}', '{input: {kind: digits}, save: n, next: a}',
                                    '{yes: a, no: a}'])
def test_a_screen_that_shows_nothing_is_refused(tmp_path: Path, screen: str) -> None:
    path = tmp_path / "blank.yaml"
    path.write_text('service: {code: "*561#", entry: a}\nscreens:\n  a: {options: [{label: "X", goto: b}]}\n'
                    f"  b: {screen}\n", encoding="utf-8")
    assert f"{path}:4:3: screen 'b' shows nothing: give it a 'text' or 'lines'" in [str(p) for p in load(path).problems]


@pytest.mark.parametrize("char", ["\\e", "\\a", "\\u202e", "\\u200b"])
def test_menu_text_with_a_control_or_format_character_is_refused(tmp_path: Path, char: str) -> None:
    path = tmp_path / "ctl.yaml"
    path.write_text(f'service: {{code: "*562#", entry: a}}\nscreens:\n  a: {{type: end, text: "Solde{char}: 5 F"}}\n',
                    encoding="utf-8")
    [problem] = load(path).problems
    assert problem.message.startswith("screen 'a' text: character U+") and "remove it" in problem.message
    assert (problem.where.line, problem.where.column) == (3, 30)  # the character itself


def test_an_input_pattern_re2_cannot_run_is_refused_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "pat.yaml"
    path.write_text('service: {code: "*563#", entry: a}\nscreens:\n'
                    '  a: {text: "Code ?", input: {kind: text, pattern: "(a)\\\\1"}, save: c, next: b}\n'
                    '  b: {type: end, text: "OK"}\n', encoding="utf-8")
    [problem] = load(path).problems
    assert problem.message.startswith("screen 'a' input pattern: not a pattern the linear-time matcher (RE2) accepts")
    assert problem.where.line == 3



@pytest.mark.parametrize(("field", "expected"), [
    ('  aliases:\n    - ~\n    - "*999#"\n',
     ["4:7: service aliases item 1: expected text, found nothing (null)",
      "5:7: service aliases: '*999#' is not the same short code as '*564#'"]),
    ('  phone:\n    prefixes:\n      - [7]\n      - "0123456789"\n',
     ["5:9: service phone prefixes item 1: expected text, found a list",
      "6:9: service phone prefixes: expected the first digits of a national number, like '07', not '0123456789'"]),
], ids=["aliases", "prefixes"])
def test_a_list_item_is_reported_where_it_is_even_after_one_that_is_not_text(
        tmp_path: Path, field: str, expected: list[str]) -> None:
    path = tmp_path / "items.yaml"
    path.write_text(f'service:\n  code: "*564#"\n{field}  entry: a\nscreens:\n  a: {{type: end, text: "OK"}}\n',
                    encoding="utf-8")
    assert [str(p) for p in load(path).problems] == [f"{path}:{problem}" for problem in expected]


def test_a_charset_that_is_not_text_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "charset.yaml"
    path.write_text('service: {code: "*565#", entry: a, charset: ~}\nscreens:\n  a: {type: end, text: "OK"}\n',
                    encoding="utf-8")
    expected = f"{path}:1:45: service charset: expected one of: transliterate, ucs2, found nothing (null)"
    assert [str(p) for p in load(path).problems] == [expected]


def test_a_service_with_phone_prefixes_is_still_located_at_its_own_mapping(tmp_path: Path) -> None:
    path = tmp_path / "prefixes.yaml"
    path.write_text('service:\n  code: "*566#"\n  phone: {prefixes: ["07"]}\nscreens:\n  a: {type: end, text: "OK"}\n',
                    encoding="utf-8")
    assert f"{path}:2:3: service: missing 'entry' (the first screen's id)" in [str(p) for p in load(path).problems]


def test_the_kinds_the_loader_builds_are_the_kinds_the_schema_allows() -> None:
    from ussd.loader import _LINE_KEYS, INPUT_ERRORS, INPUT_KINDS, MENU_SCHEMA, SCREEN_TYPES

    defs = MENU_SCHEMA.document["$defs"]
    assert tuple(defs["screen"]["properties"]["type"]["enum"]) == SCREEN_TYPES
    assert tuple(defs["input"]["properties"]["input"]["properties"]["kind"]["enum"]) == INPUT_KINDS
    assert tuple(defs["line"]["properties"]) == _LINE_KEYS
    assert tuple(defs["input"]["properties"]["errors"]["properties"]) == INPUT_ERRORS


@pytest.mark.parametrize("where", ["keys: {service: x, back: '9'}", "messages: {nope: x}"])
def test_a_key_the_schema_refuses_is_reported_not_used(tmp_path: Path, where: str) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(f'service: {{code: "*567#", entry: a, {where}}}\nscreens:\n  a: {{type: end, text: "OK"}}\n',
                    encoding="utf-8")
    [problem] = load(path).problems
    assert "unknown key" in problem.message and problem.where.line == 1


@pytest.mark.parametrize(("option", "expected"), [
    ("{label: Solde}", "6:9: screen 'home' option 1: missing 'goto' or 'action' (what choosing it does)"),
    ("{label: Solde, action: buy_pass}", "6:9: screen 'home' option 1: missing 'on' (the screen for each outcome)"),
    ("{label: Solde, goto: home, action: buy_pass, on: {success: home}}",
     "6:9: screen 'home' option 1: give either 'goto' or 'action', not both"),
    ("{label: Solde, goto: home, each: 'subscriber.favourites', as: subscriber}",
     "6:71: screen 'home' option 1 as: 'subscriber' is already a variable's name; choose a new one"),
], ids=["no-goto", "action-without-on", "goto-and-action", "as-shadows"])
def test_what_an_option_must_say_is_said_once_where_it_is(tmp_path: Path, option: str, expected: str) -> None:
    path = tmp_path / "option.yaml"
    path.write_text(f'service: {{code: "*566#", entry: home}}\nscreens:\n  home:\n    type: menu\n    options:\n'
                    f'      - {option}\n', encoding="utf-8")
    assert [str(p) for p in load(path).problems] == [f"{path}:{expected}"]
