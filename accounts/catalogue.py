"""The passes and options on sale (``accounts/passes.yaml``): price, validity, buckets granted.

Checked when loaded, each problem naming the pass and the field, so a typo in the catalogue never
reaches a subscriber's purchase. A grant names its sub-account (and scope), not its rubrique: what
is bought is filed where the operator's policy says passes go (``passes`` in policy.yaml), never
among the rubriques of bonus offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .model import RUBRIQUES, Bucket, Instant, scope_problem

CATALOGUE_FILE = Path(__file__).with_name("passes.yaml")
DAY = 86_400


class CatalogueError(Exception):
    pass


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


def _int(raw: Mapping[str, Any], key: str, where: str, problems: list[str], low: int = 1) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        problems.append(f"{where}.{key}: expected a whole number of at least {low}, found {value!r}")
        return low
    return value


def load_catalogue(path: str | Path = CATALOGUE_FILE) -> dict[str, Pass]:
    problems: list[str] = []
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue: {exc}") from None
    out: dict[str, Pass] = {}
    for n, raw in enumerate(data.get("passes") or [] if isinstance(data, dict) else []):
        where = f"passes[{n}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        unknown = set(raw) - {"id", "name", "price", "days", "grants"}
        if unknown:
            problems.append(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))}")
        pid = str(raw.get("id") or "")
        if not pid or pid in out:
            problems.append(f"{where}.id: expected a new id, found {pid!r}")
        name = raw.get("name")
        names = {"*": name} if isinstance(name, str) else name
        if not isinstance(names, dict) or not names:
            problems.append(f"{where}.name: expected text or {{fr: ..., en: ...}}")
            names = {"*": pid}
        grants = []
        for k, g in enumerate(raw.get("grants") or []):
            gw = f"{where}.grants[{k}]"
            if not isinstance(g, dict):
                problems.append(f"{gw}: expected a mapping of account, scope, amount")
                continue
            unknown = set(g) - {"account", "scope", "amount"}
            if "rubrique" in unknown:
                problems.append(f"{gw}.rubrique: a pass is filed where the policy's 'passes' says "
                                "(accounts/policy.yaml), not in a rubrique of its own")
            elif unknown:
                problems.append(f"{gw}: unknown fields {', '.join(sorted(map(str, unknown)))}")
            account, scope = g.get("account"), g.get("scope")
            if account not in RUBRIQUES:
                problems.append(f"{gw}.account: expected one of {', '.join(RUBRIQUES)}, found {account!r}")
                continue
            problem = scope_problem(account, scope)
            if problem is not None:
                problems.append(f"{gw}.scope: {problem}")
                continue
            grants.append(Grant(account, _int(g, "amount", gw, problems), scope))
        if not grants:
            problems.append(f"{where}.grants: a pass grants at least one bucket")
        out[pid] = Pass(pid, {str(k): str(v) for k, v in names.items()}, _int(raw, "price", where, problems),
                        _int(raw, "days", where, problems), tuple(grants))
    if problems:
        raise CatalogueError("\n".join(f"{path}: {p}" for p in problems))
    return out
