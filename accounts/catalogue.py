"""The passes and options on sale (``accounts/passes.yaml``): price, validity, buckets granted.

Checked when loaded against ``schemas/catalogue.schema.json`` (which editors read too), each
problem at its ``file:line:column``, so a typo in the catalogue never reaches a subscriber's
purchase. A grant names its sub-account (and scope), not its rubrique: what is bought is filed
where the operator's policy says passes go (``passes`` in policy.yaml), never among the rubriques
of bonus offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ussd import Diagnostic, Document, InvalidFile, check_document, excerpt, packaged_schema, read_file

from .model import Bucket, Instant
from .policy import texts

CATALOGUE_FILE = Path(__file__).with_name("passes.yaml")
DAY = 86_400


class CatalogueError(InvalidFile):
    """A catalogue that cannot be used, with every problem found in it."""


@dataclass(frozen=True, slots=True)
class Grant:
    account: str
    amount: int
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Pass:
    id: str
    name: Mapping[str, str]
    price: int
    days: int
    grants: tuple[Grant, ...]

    def buckets(self, at: Instant, rubrique: str) -> list[Bucket]:
        """What buying it at ``at`` grants: its buckets in ``rubrique`` (the policy's rubrique for
        passes), valid from ``at`` for its days."""
        return [Bucket(g.account, rubrique, g.amount, at + self.days * DAY, g.scope, at) for g in self.grants]


def load_catalogue(path: str | Path = CATALOGUE_FILE) -> dict[str, Pass]:
    """The passes on sale by id, in the file's order (none in an empty file); raises
    :class:`CatalogueError` listing every problem."""
    doc = read_file(path, CatalogueError)
    if doc is None:
        return {}
    problems = check_document(doc, packaged_schema("accounts", "catalogue.schema.json")) + _repeated_ids(doc)
    if problems:
        raise CatalogueError(problems)
    return {raw["id"]: _pass(doc, n) for n, raw in enumerate(doc.value.get("passes", []))}


def _repeated_ids(doc: Document) -> list[Diagnostic]:
    """Each id given to a second pass (what the schema cannot say), at the second."""
    listed = doc.value.get("passes") if isinstance(doc.value, dict) else None
    first: dict[str, int] = {}
    found = []
    for n, raw in enumerate(listed if isinstance(listed, list) else []):
        pid = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(pid, str) and first.setdefault(pid, n) != n:
            found.append(Diagnostic(doc.where(("passes", n, "id")),
                                    f"pass {n + 1} id: {excerpt(pid)} is already the id of pass {first[pid] + 1}"))
    return found


def _pass(doc: Document, n: int) -> Pass:
    """The ``n``-th pass of a checked document."""
    raw = doc.value["passes"][n]
    grants = tuple(Grant(g["account"], g["amount"], g.get("scope")) for g in raw["grants"])
    return Pass(raw["id"], texts(doc, ("passes", n, "name")), raw["price"], raw["days"], grants)
