"""Named Python hooks a menu may use: data providers, actions and formatting filters.

Menu files only *name* these; the registry is what the loader checks names against and what the
engine calls. Nothing a menu file says can reach Python beyond what is registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .expr import Filter
from .filters import BUILTIN_FILTERS

#: Variables every template and condition may use, besides the registered providers.
BUILTIN_VARIABLES = frozenset({"input", "result", "now", "lang", "msisdn", "rule"})


@dataclass(frozen=True, slots=True)
class ProviderCall:
    msisdn: str
    at: datetime


#: A provider returns plain data (mappings, lists, numbers, strings, datetimes) for one subscriber.
Provider = Callable[[ProviderCall], Any]


@dataclass(frozen=True, slots=True)
class ActionCall:
    msisdn: str
    at: datetime
    args: Mapping[str, Any]
    #: The network's session id: network session numbers are recycled (SMPP's its_session_info
    #: is one octet), so it names a dialogue only while it lasts.
    session_id: str
    #: Unique to this dialogue, whatever the network calls it: what a request id that must never
    #: be repeated (a debit) is built from.
    dialogue_id: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action returns: the outcome the menu routes on, and data shown as ``result``."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


Action = Callable[[ActionCall], Outcome]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    func: Action
    outcomes: frozenset[str]


#: Every action may end in error (an exception, a store down): the engine maps those to "error".
ERROR_OUTCOME = "error"


@dataclass
class Registry:
    providers: dict[str, Provider] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    filters: dict[str, Filter] = field(default_factory=lambda: dict(BUILTIN_FILTERS))

    def provider(self, name: str, func: Provider) -> None:
        if name in BUILTIN_VARIABLES:
            raise ValueError(f"provider name {name!r} is a builtin variable")
        self.providers[name] = func

    def action(self, name: str, func: Action, outcomes: set[str] | frozenset[str]) -> None:
        self.actions[name] = ActionSpec(func, frozenset(outcomes) | {ERROR_OUTCOME})

    def filter(self, name: str, func: Filter) -> None:
        self.filters[name] = func

    @property
    def variables(self) -> frozenset[str]:
        return BUILTIN_VARIABLES | frozenset(self.providers)
