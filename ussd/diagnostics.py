"""What is wrong in an operator's file, and where: one type and one way to print it for every kind.

Menus, the policy, the pass catalogue, subscriber imports, transcripts and the server configuration
all report problems as :class:`Diagnostic` values (a place an editor can jump to, and a sentence),
and every command prints them with :func:`report`, so a problem reads the same whichever file
holds it.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

#: The most of a file's text a message quotes: enough to recognise a value, never a file's content.
EXCERPT = 80


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a file, 1-based as editors show it (line 0 for what is not in a file)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something wrong in a file, where an editor can jump to it."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` ``word`` was most likely meant to be, if any is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing when none is close."""
    close = closest(word, choices)
    return f" (did you mean {close!r}?)" if close is not None else ""


def excerpt(text: str) -> str:
    """``text`` quoted, cut to :data:`EXCERPT` characters (a message names a value, it does not
    copy a file into a log)."""
    return repr(text) if len(text) <= EXCERPT else f"{text[:EXCERPT]!r}... ({len(text)} characters)"


def in_order(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """By file, line and column, each once: the order an editor's problem list shows."""
    ordered = sorted(diagnostics, key=lambda d: (d.where.path, d.where.line, d.where.column))
    return list(dict.fromkeys(ordered))


def report(diagnostics: Iterable[Diagnostic], what: str, out: TextIO | None = None,
           summary: TextIO | None = None) -> int:
    """Print each problem on its own line (``file:line:column: message``), then how many there
    were in ``what`` on ``summary`` (standard error); returns that count."""
    found = in_order(diagnostics)
    stream = out if out is not None else sys.stdout
    for diagnostic in found:
        print(diagnostic, file=stream)
    if found:
        print(f"{len(found)} problem(s) in {what}", file=summary if summary is not None else sys.stderr)
    return len(found)


class InvalidFile(Exception):
    """A file (or set of files) that cannot be used as it is, with every problem found in it.

    Each reader raises its own subclass (``MenuError``, ``PolicyError``, ``ConfigError``...), so a
    caller may catch one kind, and a command that checks any kind catches this one and prints
    ``diagnostics`` with :func:`report`."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = in_order(diagnostics)
        super().__init__("\n".join(map(str, self.diagnostics)))
