"""The pass catalogue (accounts/passes.yaml): what a purchase grants, and how mistakes are named:
each at its file:line:column, the shape by accounts/schemas/catalogue.schema.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_policy_schema import loads_or_places_every_problem, places, replaced, shipped_problems, values

from accounts.catalogue import CATALOGUE_FILE, DAY, CatalogueError, load_catalogue
from accounts.model import LANGUAGES, RUBRIQUES, SCOPES, Bucket
from ussd import InvalidFile, packaged_schema

SCHEMA = packaged_schema("accounts", "catalogue.schema.json")


def catalogue_problems(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = tmp_path / "passes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(caught.value).split("\n") == [str(d) for d in caught.value.diagnostics]
    return path, [str(d) for d in caught.value.diagnostics]


def test_shipped_catalogue_grants_buckets_valid_from_the_purchase() -> None:
    passes = load_catalogue()
    assert list(passes) == ["internet_500", "internet_1000", "mix_1000", "minutes_intra"]
    mix = passes["mix_1000"]
    assert mix.price == 1000 and mix.name["fr"] == "Pass Mix 1000"
    assert mix.buckets(100, "pass") == [Bucket("credit", "pass", 1000, 100 + 7 * DAY, "all", 100),
                                        Bucket("internet", "pass", 209715200, 100 + 7 * DAY, None, 100)]


def test_the_shipped_catalogue_fits_its_schema() -> None:
    assert shipped_problems(CATALOGUE_FILE, "catalogue.schema.json") == []


def test_the_schema_names_the_models_accounts_scopes_and_languages() -> None:
    grant = SCHEMA.document["$defs"]["grant"]
    assert grant["properties"]["account"]["enum"] == list(RUBRIQUES)
    by_account = {rule["if"]["properties"]["account"]["const"]: rule["then"] for rule in grant["allOf"]}
    assert list(by_account) == list(RUBRIQUES)
    scopes = {account: tuple(then["properties"]["scope"].get("enum", ())) for account, then in by_account.items()}
    assert scopes == SCOPES
    assert {account for account, then in by_account.items() if then.get("required") == ["scope"]} == \
        {account for account, scopes in SCOPES.items() if scopes}
    per_language = SCHEMA.document["$defs"]["text"]["anyOf"][1]
    assert tuple(per_language["properties"]) == tuple(per_language["required"]) == LANGUAGES


def test_every_mistake_is_placed_and_named_by_pass_and_field(tmp_path: Path) -> None:
    path, problems = catalogue_problems(
        tmp_path,
        "passes:\n"
        "  - {id: a, name: A, price: cinq, days: 1, grants: [{account: internet, scope: intra, amount: 1}]}\n"
        "  - {id: b, name: B, price: 5, days: 1, grants: [nothing, {account: credit, amount: 1}]}\n"
        "  - {id: c, name: C, price: 5, days: 1, grants: [{account: internet, rubrique: special, amount: 1},\n"
        "                                                  {account: data, amount: 1}]}\n")
    assert problems == [
        f"{path}:2:29: pass 1 price: expected a whole number of at least 1, found 'cinq'",
        f"{path}:2:80: pass 1 grant 1 scope: internet has no scope",
        f"{path}:3:50: pass 2 grant 1: expected a mapping, found 'nothing'",
        f"{path}:3:59: pass 2 grant 2: missing 'scope' (credit needs a scope: intra, all)",
        f"{path}:4:80: pass 3 grant 1 rubrique: a pass is filed where the policy's 'passes' says "
        "(accounts/policy.yaml), not in a rubrique of its own",
        f"{path}:5:61: pass 3 grant 2: unknown account 'data'; expected one of: credit, minutes, internet",
    ]


def test_a_repeated_id_an_empty_grant_list_and_a_missing_language(tmp_path: Path) -> None:
    path, problems = catalogue_problems(
        tmp_path,
        "passes:\n"
        "  - {id: a, name: A, price: 5, days: 1, grants: [{account: internet, amount: 1}]}\n"
        "  - {id: a, name: {fr: Deux}, price: 0, days: 1, grants: [], prix: 3}\n"
        "  - {id: 'c d', name: C, price: 5, days: 1}\n")
    assert problems == [
        f"{path}:3:10: pass 2 id: 'a' is already the id of pass 1",
        f"{path}:3:19: pass 2 name: missing 'en' (the text in English; a mapping names every language, "
        "fr and en, or write one text for all)",
        f"{path}:3:38: pass 2 price: expected a whole number of at least 1, not 0",
        f"{path}:3:58: pass 2 grants: expected at least 1 item",
        f"{path}:3:62: pass 2: unknown key 'prix' (did you mean 'price'?); expected one of: id, name, price, days, "
        "grants",
        f"{path}:4:5: pass 3: missing 'grants' (the buckets it grants)",
        f"{path}:4:10: pass 3 id: expected a word of letters, digits, _ or -, not 'c d'",
    ]


def test_a_file_that_cannot_be_read_is_one_placed_problem(tmp_path: Path) -> None:
    path, problems = catalogue_problems(tmp_path, "passes:\n  - {id: a\n")
    assert problems == [f"{path}:3:1: YAML syntax: expected ',' or '}}', but got '<stream end>'"]
    with pytest.raises(InvalidFile) as caught:
        load_catalogue(tmp_path / "nope.yaml")
    assert isinstance(caught.value, CatalogueError)
    assert [(d.where.line, d.where.column) for d in caught.value.diagnostics] == [(1, 1)]
    assert caught.value.diagnostics[0].message == "cannot read: No such file or directory"


def test_an_empty_catalogue_sells_nothing(tmp_path: Path) -> None:
    path = tmp_path / "passes.yaml"
    path.write_text("# nothing on sale yet\n", encoding="utf-8")
    assert load_catalogue(path) == {}


# -- no file makes the reader fail otherwise ------------------------------------------------------

SHIPPED = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(places(SHIPPED))), values)
def test_the_shipped_catalogue_with_any_value_anywhere_loads_or_gives_placed_problems(
        fuzz_dir: Path, at: tuple[str | int, ...], value: Any) -> None:
    text = yaml.safe_dump(replaced(SHIPPED, at, value), allow_unicode=True, default_flow_style=None)
    loads_or_places_every_problem(load_catalogue, CatalogueError, fuzz_dir / "passes.yaml", text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_gives_placed_problems_never_another_exception(fuzz_dir: Path, text: str) -> None:
    loads_or_places_every_problem(load_catalogue, CatalogueError, fuzz_dir / "text.yaml", text)
