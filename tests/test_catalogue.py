"""The pass catalogue (accounts/passes.yaml): what a purchase grants, and how mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.catalogue import DAY, CatalogueError, load_catalogue
from accounts.model import Bucket


def test_shipped_catalogue_grants_buckets_valid_from_the_purchase() -> None:
    passes = load_catalogue()
    assert list(passes) == ["internet_500", "internet_1000", "mix_1000", "minutes_intra"]
    mix = passes["mix_1000"]
    assert mix.price == 1000 and mix.name["fr"] == "Pass Mix 1000"
    assert mix.buckets(100, "pass") == [Bucket("credit", "pass", 1000, 100 + 7 * DAY, "all", 100),
                                        Bucket("internet", "pass", 209715200, 100 + 7 * DAY, None, 100)]


def test_every_mistake_is_named_by_pass_and_field(tmp_path: Path) -> None:
    path = tmp_path / "passes.yaml"
    path.write_text(
        "passes:\n"
        "  - {id: a, name: A, price: cinq, days: 1, grants: [{account: internet, scope: intra, amount: 1}]}\n"
        "  - {id: b, name: B, price: 5, days: 1, grants: [nothing, {account: credit, amount: 1}]}\n"
        "  - {id: c, name: C, price: 5, days: 1, grants: [{account: internet, rubrique: special, amount: 1},\n"
        "                                                  {account: data, amount: 1}]}\n",
        encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert str(caught.value).split("\n") == [
        f"{path}: passes[0].grants[0].scope: internet has no scope 'intra'; it has: none",
        f"{path}: passes[0].grants: a pass grants at least one bucket",
        f"{path}: passes[0].price: expected a whole number of at least 1, found 'cinq'",
        f"{path}: passes[1].grants[0]: expected a mapping of account, scope, amount",
        f"{path}: passes[1].grants[1].scope: credit needs a scope: intra, all",
        f"{path}: passes[1].grants: a pass grants at least one bucket",
        f"{path}: passes[2].grants[0].rubrique: a pass is filed where the policy's 'passes' says "
        "(accounts/policy.yaml), not in a rubrique of its own",
        f"{path}: passes[2].grants[1].account: expected one of credit, minutes, internet, found 'data'",
    ]
