"""The engine's public API: what an adapter or an operator's Python hook needs to load menus, run
dialogues on them, keep dialogues between steps and serve the data screens ask for.

Only the names in ``__all__`` are public; every other name, and every submodule as such, is internal
and may change from one release to the next. ``accounts`` imports from here and nowhere else in the
engine; ``gateway`` and ``simulator``, which sit on top of the engine and change with it, may reach
into its submodules. The import-linter contracts in ``setup.cfg`` hold all of this.

``import ussd`` loads nothing else: each name is imported from its submodule on first use (PEP 562),
so a program that wants a phone rule does not load the state machine and the YAML reader with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and import-linter read; at run time __getattr__ does the same
    from .clock import parse_instant
    from .diagnostics import Diagnostic, InvalidFile, Where, did_you_mean, excerpt, report
    from .engine import Engine, Response
    from .errors import StepAborted, Unavailable
    from .inputs import normalise_phone
    from .loader import LoadResult, MenuError, load_menus, load_menus_or_raise
    from .model import PhoneRule
    from .registry import ActionCall, Outcome, ProviderCall, Registry
    from .sessions import (
        DEFAULT_IDLE_TIMEOUT,
        DEFAULT_MAX_DURATION,
        Dialogue,
        MemorySessionStore,
        SessionConflict,
        SessionStore,
    )
    from .shape import Document, Schema, check_document, packaged_schema, read_document
    from .timezone import DEFAULT_TIMEZONE, DEFAULT_TZ
    from .yamlfile import line_column, read_file

__all__ = [
    # running dialogues
    "Engine",
    "Response",
    "StepAborted",
    "Unavailable",
    # menus
    "LoadResult",
    "MenuError",
    "load_menus",
    "load_menus_or_raise",
    # where dialogues live between steps
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_DURATION",
    "Dialogue",
    "MemorySessionStore",
    "SessionConflict",
    "SessionStore",
    # what the application hands the engine: providers, actions, filters
    "ActionCall",
    "Outcome",
    "ProviderCall",
    "Registry",
    # numbers and time, as the engine reads them
    "DEFAULT_TIMEZONE",
    "DEFAULT_TZ",
    "PhoneRule",
    "normalise_phone",
    "parse_instant",
    # operators' files: their shape (JSON Schemas) and their problems, said one way for every kind
    "Diagnostic",
    "Document",
    "InvalidFile",
    "Schema",
    "Where",
    "check_document",
    "did_you_mean",
    "excerpt",
    "packaged_schema",
    "read_document",
    "line_column",
    "read_file",
    "report",
]

#: The submodule each public name comes from.
_HOME = {
    "parse_instant": "clock",
    "Engine": "engine",
    "Response": "engine",
    "StepAborted": "errors",
    "Unavailable": "errors",
    "normalise_phone": "inputs",
    "LoadResult": "loader",
    "MenuError": "loader",
    "load_menus": "loader",
    "load_menus_or_raise": "loader",
    "PhoneRule": "model",
    "Diagnostic": "diagnostics",
    "InvalidFile": "diagnostics",
    "Where": "diagnostics",
    "did_you_mean": "diagnostics",
    "excerpt": "diagnostics",
    "report": "diagnostics",
    "Document": "shape",
    "Schema": "shape",
    "check_document": "shape",
    "packaged_schema": "shape",
    "read_document": "shape",
    "line_column": "yamlfile",
    "read_file": "yamlfile",
    "ActionCall": "registry",
    "Outcome": "registry",
    "ProviderCall": "registry",
    "Registry": "registry",
    "DEFAULT_IDLE_TIMEOUT": "sessions",
    "DEFAULT_MAX_DURATION": "sessions",
    "Dialogue": "sessions",
    "MemorySessionStore": "sessions",
    "SessionConflict": "sessions",
    "SessionStore": "sessions",
    "DEFAULT_TIMEZONE": "timezone",
    "DEFAULT_TZ": "timezone",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:  # AttributeError also lets ``from ussd import gsm`` import the submodule
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value  # the next look-up is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
