"""The kinds of file an operator writes, each with its published schema and its checker.

``ussd check`` and ``ussd schema`` find a kind here: one table, so a new kind is one entry. Each
checker returns the file's problems as :class:`~ussd.Diagnostic` values (every reader raises a
subclass of :class:`~ussd.InvalidFile`), so every kind is reported the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ussd import Diagnostic, InvalidFile, Schema, Where, packaged_schema


def _policy(path: Path) -> object:
    from accounts.policy import load_policy

    return load_policy(path)


def _catalogue(path: Path) -> object:
    from accounts.catalogue import load_catalogue

    return load_catalogue(path)


def _subscribers(path: Path) -> object:
    from accounts.importer import read_subscribers
    from accounts.policy import load_policy

    return read_subscribers(path, load_policy().tz)


def _transcript(path: Path) -> object:
    from simulator.transcript import load_transcript

    return load_transcript(path)


def _config(path: Path) -> object:
    from gateway.config import check_config  # its ${NAME} stand for values: the server's environment is not here

    check_config(path)
    return None


@dataclass(frozen=True, slots=True)
class FileKind:
    name: str
    #: The package whose ``schemas/`` folder holds the schema (the layer that reads the kind).
    package: str
    about: str
    #: The files of this kind shipped with ussd122 (relative to the project), checked by a bare
    #: ``ussd check``.
    shipped: tuple[str, ...]
    #: How one file is read (raising :class:`~ussd.InvalidFile`); None for menus, read as one set
    #: (their files include one another).
    read: Callable[[Path], object] | None = None

    @property
    def schema_file(self) -> str:
        return f"{self.name}.schema.json"

    @property
    def schema(self) -> Schema:
        return packaged_schema(self.package, self.schema_file)


KINDS: dict[str, FileKind] = {kind.name: kind for kind in (
    FileKind("menu", "ussd", "menu files: a service and its screens (docs/menu-language.md)", ("menus",)),
    FileKind("policy", "accounts", "the account policy: windows, rubriques, lines (docs/accounts.md)",
             ("accounts/policy.yaml",), _policy),
    FileKind("catalogue", "accounts", "the catalogue of passes and options on sale", ("accounts/passes.yaml",),
             _catalogue),
    FileKind("subscribers", "accounts", "subscribers to import (`ussd accounts import`)", ("accounts/demo.yaml",),
             _subscribers),
    FileKind("transcript", "simulator", "a QA transcript: a walk and the screens expected (docs/transcripts.md)",
             (), _transcript),
    FileKind("config", "gateway", "the server configuration (`ussd serve --config`, docs/configuration.md)",
             ("gateway/serve.example.yaml",), _config),
)}

_SCHEMA_COMMENT = re.compile(rb"#\s*yaml-language-server:\s*\$schema=\S*?([a-z]+)\.schema\.json")
#: Bytes read to find the schema comment and the top-level keys of a file whose kind is not given.
_HEAD = 64 * 1024


def kind_of(path: Path) -> FileKind:
    """A folder holds menus, a CSV file subscribers; a YAML file says its kind in its ``$schema``
    comment, or is the kind whose schema knows most of its top-level keys (menus when nothing tells)."""
    if path.suffix.lower() == ".csv":  # only subscribers are imported from CSV
        return KINDS["subscribers"]
    try:
        if path.is_dir():
            return KINDS["menu"]
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
    except (OSError, ValueError):  # missing, too long a name, a NUL: its checker says why it cannot be read
        return KINDS["menu"]
    named = _SCHEMA_COMMENT.search(head)
    if named and named.group(1).decode() in KINDS:
        return KINDS[named.group(1).decode()]
    keys = set(re.findall(rb"^([A-Za-z_]+):", head, re.MULTILINE))
    words = {key.decode() for key in keys}

    def known(kind: FileKind) -> int:
        return len(words & set(kind.schema.document.get("properties", {})))

    best = max(KINDS.values(), key=known)
    return best if known(best) > 0 else KINDS["menu"]


@dataclass(frozen=True, slots=True)
class Checked:
    """What checking some files of one kind found, and what they held (for the line that says
    all is well)."""

    diagnostics: list[Diagnostic]
    files: int
    held: str


def _menus(paths: Sequence[Path]) -> Checked:
    from simulator.demo import demo_registry
    from ussd import load_menus

    result = load_menus(paths, demo_registry())
    services = result.menus.services.values()
    problems = result.problems
    if not problems and not services:
        problems = [Diagnostic(Where(str(paths[0]), 1, 1), "no service found")]
    screens = sum(len(s.screens) for s in services)
    held = f"{len(services)} service(s) ({', '.join(s.code for s in services)}), {screens} screens"
    return Checked(problems, max(len(result.files), len(paths)), held)


def check_files(kind: FileKind, paths: Sequence[Path]) -> Checked:
    """Every problem of ``paths``, all of ``kind``: menus as one set (their files include one
    another), the other kinds file by file."""
    if kind.read is None:
        return _menus(paths)
    found: list[Diagnostic] = []
    for path in paths:
        try:
            kind.read(path)
        except InvalidFile as exc:
            found.extend(exc.diagnostics)
        except (OSError, yaml.YAMLError) as exc:  # a reader that lets these through still gets one line
            found.append(Diagnostic(Where(str(path), 1, 1), f"cannot read: {exc}"))
    return Checked(found, len(paths), f"{len(paths)} {kind.name} file(s)")
