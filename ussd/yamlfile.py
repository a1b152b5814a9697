"""Reading an operator's YAML file: bounded in size, UTF-8, every failure a placed diagnostic.

Menus, the policy, the catalogue, transcripts and the server configuration are read here, so a file
that cannot be read says so the same way whatever its kind (the subscriber importer, which reads
files of any size with its own fast reader, places its syntax errors with :func:`syntax_problem`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .diagnostics import Diagnostic, InvalidFile, Where
from .shape import Document, read_document

#: The largest file read: a menu file, a policy or a configuration is a few kilobytes.
MAX_FILE_BYTES = 1 << 20


@dataclass
class Composed:
    """A YAML file's node tree (None when it holds no document or could not be read), its bytes,
    and what stopped it being read."""

    path: str
    root: yaml.Node | None = None
    data: bytes = b""
    problems: list[Diagnostic] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """The SHA-256 of the bytes read (empty when they hold no document)."""
        return hashlib.sha256(self.data).hexdigest() if self.root is not None else ""


def line_column(data: bytes | str, offset: int) -> tuple[int, int]:
    """The line and column (1-based, in characters) of ``offset`` in ``data`` (bytes or text)."""
    if isinstance(data, str):
        start = data.rfind("\n", 0, offset) + 1
        return data.count("\n", 0, offset) + 1, offset - start + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1


def syntax_problem(path: str, exc: Exception, text: bytes | str) -> Diagnostic:
    """Where and why ``text`` (the file's bytes, or its decoded text) is not YAML."""
    if isinstance(exc, UnicodeDecodeError):
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        return Diagnostic(Where(path, *line_column(raw, exc.start)),
                          f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8")
    if isinstance(exc, RecursionError):
        return Diagnostic(Where(path, 1, 1), "YAML nested too deeply to read")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = Where(path, mark.line + 1, mark.column + 1) if mark else Where(path, 1, 1)
        return Diagnostic(where, f"YAML syntax: {' '.join(str(exc.problem or exc.context).split())}")
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids (a control character)
        return Diagnostic(Where(path, *line_column(text, exc.position)), f"YAML syntax: {exc.reason}")
    return Diagnostic(Where(path, 1, 1), f"YAML: {' '.join(str(exc).split())}")


def compose_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> Composed:
    """Read ``path`` into a node tree; never raises for what the file holds or where it is."""
    name = str(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (OSError, ValueError) as exc:  # missing, a folder, no permission, a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        return Composed(name, problems=[Diagnostic(Where(name, 1, 1), f"cannot read: {reason}")])
    if len(data) > max_bytes:
        return Composed(name, problems=[Diagnostic(Where(name, 1, 1),
                                                   f"file too large: at most {max_bytes // 1024} KiB")])
    try:
        text = data.decode("utf-8")
        return Composed(name, yaml.compose(text, Loader=yaml.SafeLoader), data)
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        return Composed(name, None, data, [syntax_problem(name, exc, data if isinstance(exc, UnicodeDecodeError)
                                                          else data.decode("utf-8", "replace"))])


def read_file(path: str | Path, error: type[InvalidFile], max_bytes: int = MAX_FILE_BYTES) -> Document | None:
    """The YAML file at ``path`` as a document to check (None when it holds none); raises
    ``error`` (the reader's own kind of :class:`InvalidFile`) when it cannot be read."""
    composed = compose_file(path, max_bytes)
    if composed.problems:
        raise error(composed.problems)
    return None if composed.root is None else read_document(composed.root, composed.path)
