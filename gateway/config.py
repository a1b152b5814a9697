"""What a running service is made of, read from ``ussd serve --config FILE`` and the command line.

The file's shape (keys, types, ranges, choices) is its JSON Schema's, ``schemas/config.schema.json``,
which editors read too; this module checks what a schema cannot say: the environment variables the
file names, time zones that exist, URLs, networks, SMPP 3.4's field sizes, dialects that exist and one
dialect per centre. Every problem is reported as ``path:line:column``, all at once, and nothing starts
on a bad file. ``${NAME}`` is the environment variable NAME, so that secrets (an SMPP password, a
database URL) need not be written in the file. Flags given on the command line override the file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from accounts.store import redact
from ussd import (
    Diagnostic,
    Document,
    InvalidFile,
    Schema,
    Where,
    check_document,
    did_you_mean,
    excerpt,
    packaged_schema,
    read_file,
)
from ussd.sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION
from ussd.shape import Path as Place
from ussd.shape import path_label, scalar
from ussd.timezone import DEFAULT_TIMEZONE

from .ussd_smpp import DIALECTS, Dialect

DEFAULT_PORT: Final = 2775
#: ``${NAME}``: the environment variable NAME.
REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(InvalidFile):
    """Every problem of a configuration, each naming its place (``problems``: the diagnostics)."""

    def __init__(self, problems: Iterable[Diagnostic]) -> None:
        super().__init__(problems)
        self.problems = self.diagnostics


@dataclass(frozen=True, slots=True)
class SmppLink:
    """One bind to a USSD centre (two connections when ``bind`` is ``pair``: a transmitter and a
    receiver)."""

    host: str
    port: int = DEFAULT_PORT
    system_id: str = ""
    password: str = field(default="", repr=False)
    system_type: str = ""
    #: The centre's name: dialogues are known by it, whatever bind carries them (default: its
    #: host:port, so that two centres never share dialogues; give binds to one centre one name).
    peer: str = ""
    dialect: str = "default"
    bind: str = "transceiver"
    window: int = 10
    enquire_interval: float = 30.0
    #: How long an answer to one of our requests may take before the link is thought dead.
    response_timeout: float = 10.0
    reconnect_max: float = 60.0

    @property
    def address(self) -> str:
        """For logs: never the password."""
        return f"smpp://{self.system_id}@{self.host}:{self.port}"

    @property
    def centre(self) -> str:
        return self.peer or f"{self.host}:{self.port}"


#: SMPP 3.4's sizes of the bind's C-octet strings and of service_type, NUL excluded (smpplib cuts
#: longer ones silently, and the centre then refuses a bind that looks right in the file).
FIELD_SIZES: Final = {"system_id": 15, "password": 8, "system_type": 12, "service_type": 5}


def field_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot go in the SMPP field ``name``, if it cannot (a schema cannot say it of
    a password inside a url, nor of a value from the environment)."""
    if not value.isascii() or not value.isprintable():
        return "SMPP carries it as printable ASCII"
    size = FIELD_SIZES.get(name)
    if size is not None and len(value) > size:
        return f"at most {size} characters in SMPP 3.4, found {len(value)}"
    return None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    menus: tuple[str, ...] = ()  # none: the shipped menus
    db: str | None = None  # none: the embedded SQLite file
    db_timeout: float = 3.0
    policy: str | None = None
    catalogue: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_duration: float = DEFAULT_MAX_DURATION
    #: Engine steps run on this many worker threads (never on the reactor's).
    workers: int = 8
    #: Fill an empty store with the demo population (never done otherwise).
    demo: bool = False
    #: Freeze the engine's clock here (QA set-ups); announced in the log.
    at: datetime | None = None
    smpp: tuple[SmppLink, ...] = ()
    #: The QA control's loopback address (``ussd serve --qa``; never from a file): see gateway.qa.
    qa: tuple[str, int] | None = None
    #: Where ``POST /ussd`` listens (``ussd serve --http``), and the networks it answers (CIDRs;
    #: none: any). The shared secret comes from the environment (USSD_HTTP_SECRET).
    http: tuple[str, int] | None = None
    http_allow: tuple[str, ...] = ()
    #: The shared secret HTTP requests must carry (else USSD_HTTP_SECRET from the environment).
    http_secret: str | None = field(default=None, repr=False)
    #: GET /metrics and /healthz on a port of their own (else on the HTTP port, if any).
    ops: tuple[str, int] | None = None
    #: Where dialogues live between steps: None (or ``memory:``) in this process; ``redis://HOST:PORT/DB``
    #: shared by several nodes (``?prefix=`` names their keys' prefix; default ``ussd:``).
    sessions: str | None = field(default=None, repr=False)
    #: The secret ``POST /admin/reload`` must carry (else USSD_ADMIN_SECRET; neither: it is off).
    admin_secret: str | None = field(default=None, repr=False)
    dialects: dict[str, Dialect] = field(default_factory=lambda: dict(DIALECTS))

    def dialect(self, name: str) -> Dialect:
        return self.dialects[name]


def parse_smpp_url(text: str) -> SmppLink:
    """``smpp://SYSTEM_ID:PASSWORD@HOST:PORT`` (the port defaults to 2775); raises ValueError."""
    parts = urlsplit(text)
    if parts.scheme != "smpp" or not parts.hostname:
        raise ValueError(f"expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT, found {excerpt(redact(text))}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in {excerpt(redact(text))}") from None
    return SmppLink(parts.hostname, port, unquote(parts.username or ""), unquote(parts.password or ""))


def parse_sessions_url(text: str) -> str | None:
    """``memory:`` (None: this process) or a Redis URL (``redis://``, ``rediss://``,
    ``unix://``); raises ValueError."""
    if text.strip() == "memory:":
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix", "redis+sentinel"):
        raise ValueError(f"expected memory: or redis://HOST:PORT/DB, found {excerpt(redact(text))}")
    if parts.scheme == "redis+sentinel":
        from ussd.redis_sessions import sentinel_hosts

        primary, _, db = parts.path.strip("/").partition("/")
        if not primary or (db and not db.isdigit()):
            raise ValueError("expected redis+sentinel://HOST:PORT[,HOST:PORT...]/PRIMARY[/DB]: name the primary")
        sentinel_hosts(parts.netloc.rpartition("@")[2])
    return text.strip()


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` -> (host, port); raises ValueError."""
    host, _, port_text = text.rpartition(":")
    host = (host or default_host).strip("[]")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT or PORT, found {text[:80]!r}")
    return host, int(port_text)


def with_overrides(config: ServerConfig, **given: Any) -> ServerConfig:
    """The configuration with what the command line gave (None: not given)."""
    return replace(config, **{name: value for name, value in given.items() if value is not None})


# -- the file --------------------------------------------------------------------------------


def config_schema() -> Schema:
    """The configuration's JSON Schema, ``gateway/schemas/config.schema.json``."""
    return packaged_schema("gateway", "config.schema.json")


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> ServerConfig:
    """Read and check a configuration file, its ``${NAME}`` taken from ``env`` (default: this
    process's environment); raises :class:`ConfigError` listing every problem."""
    return _load(str(path), dict(os.environ) if env is None else env)


def check_config(path: str | Path) -> None:
    """Check a configuration file away from the server it configures (``ussd check``): each
    ``${NAME}`` stands for a value that fits its place, as in an editor. Raises :class:`ConfigError`."""
    _load(str(path), None)


def _load(path: str, env: Mapping[str, str] | None) -> ServerConfig:
    doc = read_file(path, ConfigError)
    if doc is None:
        return ServerConfig()
    reader = _Reader(doc, env)
    given = _settings(reader)
    if reader.problems:
        raise ConfigError(reader.said())
    return with_overrides(ServerConfig(), **given)


class _Reader:
    """A configuration's document, its ``${NAME}`` replaced, after its schema check. The settings
    are read from what the schema took; what it rejected is skipped (each mistake is said once)."""

    def __init__(self, doc: Document, env: Mapping[str, str] | None) -> None:
        schema = config_schema()
        self.doc = doc
        self.env = env
        self.labels = schema.document
        self.problems: list[Diagnostic] = []
        #: Places whose value is not known here: a variable that is not set, or no environment at all.
        self.unknown: set[Place] = set()
        #: Texts as written, variables replaced (``password: ${P}`` is P's text, whatever YAML reads it as).
        self.texts: dict[Place, str] = {}
        #: The variables each replaced value came from, for its problems to name them.
        self.sources: dict[Where, list[str]] = {}
        #: What is wrong with a variable, said once the schema has spoken (not of a key it refused).
        self.pending: dict[Place, str] = {}
        doc.value = self._replace(doc.value, ())
        found = check_document(doc, schema)
        self.problems.extend(found)
        self.rejected = _refused(schema, doc.value) if found else set()
        for at, message in self.pending.items():
            if not any(at[:len(p)] == p for p in self.rejected):
                self.bad(at, message)

    def _replace(self, value: Any, at: Place) -> Any:
        """``value`` with each ``${NAME}`` replaced. A value that is exactly one is NAME's value as
        YAML reads it written bare (``port: ${PORT}`` is a number), for the schema to check. A
        number JSON cannot hold (.nan, .inf) is the text it was written as, which no number place takes."""
        if isinstance(value, dict):
            return {key: self._replace(item, at + (key,)) for key, item in value.items()}
        if isinstance(value, list):
            return [self._replace(item, at + (n,)) for n, item in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            return self._written(at)
        if not isinstance(value, str) or not REFERENCE.search(value):
            return value
        env = self.env
        names = REFERENCE.findall(value)
        missing = [name for name in names if env is None or name not in env]
        if env is None or missing:
            self.unknown.add(at)
            if missing and env is not None:
                self.pending[at] = f"environment variable {missing[0]} is not set"
            return value
        text = REFERENCE.sub(lambda m: env[m.group(1)], value)
        if not REFERENCE.fullmatch(value):
            typed: Any = text
        elif REFERENCE.search(text):  # left in, the schema would take it where a number goes
            self.unknown.add(at)
            self.pending[at] = f"environment variable {names[0]} holds a ${{NAME}} of its own, which is not replaced"
            return value
        else:
            typed = _bare(text)
        self.texts[at] = text
        self.sources[self.doc.where(at)] = names
        return typed

    def _written(self, at: Place) -> str:
        node = self.doc.values.get(at)
        return str(node.value) if isinstance(node, yaml.ScalarNode) else ""

    def fits(self, at: Place) -> bool:
        """Whether the value at ``at`` and all it holds are known and taken by the schema."""
        return not any(p[:len(at)] == at for p in (*self.rejected, *self.unknown))

    def found(self, at: Place) -> Any:
        """The value at ``at`` whatever it is (None when absent)."""
        value = self.doc.value
        for step in at:
            if isinstance(value, dict) and isinstance(step, str):
                value = value.get(step)
            elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                value = value[step]
            else:
                return None
        return value

    def value(self, at: Place) -> Any:
        """The value at ``at`` as the schema took it; None when it is absent, rejected or unknown."""
        return self.found(at) if self.fits(at) else None

    def text(self, at: Place) -> str | None:
        """The text at ``at`` as written (``password: 0123`` is "0123"), its variables replaced."""
        if self.value(at) is None:
            return None
        return self.texts[at] if at in self.texts else self._written(at)

    def number(self, at: Place) -> float | None:
        value = self.value(at)
        return None if value is None else float(value)

    def whole(self, at: Place) -> int | None:
        value = self.value(at)
        return None if value is None else int(value)  # JSON Schema's integers include 2.0

    def choice(self, at: Place, key: str, choices: Iterable[str]) -> str | None:
        """The name given as ``key`` of the mapping at ``at``, if it is one of ``choices`` (said as
        the schema says its own choices)."""
        name = self.text(at + (key,))
        known = sorted(choices)
        if name is not None and name not in known:
            self.bad(at + (key,), f"unknown {key} {excerpt(name)}{did_you_mean(name, known)}; "
                                  f"expected one of: {', '.join(known)}", about=at)
            return None
        return name

    def bad(self, at: Place, message: str, about: Place | None = None) -> None:
        """A problem with the value at ``at``, named as the schema's problems are ("smpp bind 2 url:
        ..."), or after ``about`` (the mapping that holds it) when given."""
        label = path_label(self.labels, at if about is None else about)
        self.problems.append(Diagnostic(self.doc.where(at), f"{label}: {message}"))

    def said(self) -> list[Diagnostic]:
        """The problems, each about a value from the environment naming the variables it came from."""
        out = []
        for problem in self.problems:
            names = self.sources.get(problem.where)
            if names:
                variables = f"variable{'s' if len(names) > 1 else ''} {', '.join(dict.fromkeys(names))}"
                problem = Diagnostic(problem.where, f"{problem.message} (environment {variables})")
            out.append(problem)
        return out


def _refused(schema: Schema, value: Any) -> set[Place]:
    """The places the schema refused: an unknown key's own place, the value's for anything else."""
    refused: set[Place] = set()
    for error in schema.validator.iter_errors(value):
        at: Place = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            refused.update(at + (key,) for key in error.instance if key not in known)
        else:
            refused.add(at)
    return refused


def _bare(text: str) -> Any:
    """``text`` as YAML reads it written bare: "2776" is a number, "true" a flag; empty, it is
    empty text (not YAML's null)."""
    if not text:
        return text
    tag: str = yaml.resolver.Resolver().resolve(  # type: ignore[no-untyped-call]  # PyYAML's is unannotated
        yaml.ScalarNode, text, (True, False))
    value = scalar(yaml.ScalarNode(tag, text))
    return text if isinstance(value, float) and not math.isfinite(value) else value


def _settings(r: _Reader) -> dict[str, Any]:
    """What the file gives, for :func:`with_overrides` (None: not given, or not usable)."""
    top = r.found(())
    if not isinstance(top, dict):
        return {}
    given: dict[str, Any] = {name: r.text((name,)) for name in ("db", "policy", "catalogue")}
    menus = top.get("menus")
    places = [("menus", n) for n in range(len(menus))] if isinstance(menus, list) else [("menus",)]
    given["menus"] = tuple(t for t in map(r.text, places) if t) if "menus" in top else None
    given.update({name: r.number((name,)) for name in ("db_timeout", "idle_timeout", "max_duration")})
    given.update(workers=r.whole(("workers",)), demo=r.value(("demo",)), timezone=_timezone(r), at=_instant(r))
    given.update(_http(r), ops=_listen(r, ("ops",)), sessions=_sessions(r))
    given["admin_secret"] = r.text(("admin_secret",)) or None
    dialects = dict(DIALECTS)
    given_dialects = top.get("dialects")
    for name in given_dialects if isinstance(given_dialects, dict) else ():
        made = _dialect(r, name, dialects)
        if made is not None:
            dialects[name] = made
    given["dialects"] = dialects
    if isinstance(top.get("smpp"), list):
        given["smpp"] = _links(r, len(top["smpp"]), dialects)
    return given


def _timezone(r: _Reader) -> str | None:
    zone = r.text(("timezone",))
    if zone is None:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        r.bad(("timezone",), f"unknown time zone {excerpt(zone)} (e.g. {DEFAULT_TIMEZONE})")
        return None
    return zone


def _instant(r: _Reader) -> datetime | None:
    """``at``: its form is the schema's; a date that does not exist (30 February) is found here."""
    text = r.text(("at",))
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        r.bad(("at",), f"no such instant: {excerpt(text or '')}")
        return None


def _sessions(r: _Reader) -> str | None:
    text = r.text(("sessions",))
    try:
        return parse_sessions_url(text) if text is not None else None
    except ValueError as exc:
        r.bad(("sessions",), str(exc))
        return None


def _listen(r: _Reader, at: Place) -> tuple[str, int] | None:
    text = r.text(at)
    try:
        return parse_host_port(text) if text is not None else None
    except ValueError as exc:
        r.bad(at, str(exc))
        return None


def _http(r: _Reader) -> dict[str, Any]:
    """``http: {listen: HOST:PORT, secret: ${USSD_HTTP_SECRET}, allow: [CIDR, ...]}``."""
    fields = r.found(("http",))
    if not isinstance(fields, dict):
        return {}
    allow = fields.get("allow")
    places = [("http", "allow", n) for n in range(len(allow))] if isinstance(allow, list) else [("http", "allow")]
    networks: list[str] = []
    for place in places if "allow" in fields else ():
        text = r.text(place)
        if text is None:
            continue
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            r.bad(place, f"expected a network as 10.0.0.0/8, found {excerpt(text)}")
            continue
        networks.append(text)
    return {"http": _listen(r, ("http", "listen")), "http_secret": r.text(("http", "secret")),
            "http_allow": tuple(networks) if "allow" in fields else None}


def _links(r: _Reader, count: int, dialects: dict[str, Dialect]) -> tuple[SmppLink, ...]:
    """The binds, one dialect for each centre."""
    links = [(("smpp", n), _link(r, ("smpp", n), dialects)) for n in range(count)]
    spoken: dict[str, str] = {}
    for at, link in links:
        if link is not None and spoken.setdefault(link.centre, link.dialect) != link.dialect:
            r.bad(at, f"centre {link.centre!r} is spoken to in dialect {spoken[link.centre]!r} already; "
                      "one centre has one dialect")
    return tuple(link for _, link in links if link is not None)


def _link(r: _Reader, at: Place, dialects: dict[str, Dialect]) -> SmppLink | None:
    fields = r.found(at)
    if not isinstance(fields, dict):
        return None
    values: dict[str, Any] = {}
    url = r.text(at + ("url",))
    if url is not None:
        try:
            base = parse_smpp_url(url)
            values.update(host=base.host, port=base.port, system_id=base.system_id, password=base.password)
        except ValueError as exc:
            r.bad(at + ("url",), str(exc))
    values.update({name: r.text(at + (name,)) for name in ("host", "system_id", "password", "system_type", "peer")
                   if name in fields})
    for name in ("system_id", "password", "system_type"):
        problem = field_problem(name, values[name]) if values.get(name) else None
        if problem is not None:
            if name in fields:
                r.bad(at + (name,), problem)
            else:
                r.bad(at + ("url",), f"its {name}: {problem}")
            values[name] = None
    values.update({name: r.whole(at + (name,)) for name in ("port", "window") if name in fields})
    values.update({name: r.number(at + (name,)) for name in ("enquire_interval", "response_timeout", "reconnect_max")
                   if name in fields})
    if "bind" in fields:
        values["bind"] = r.value(at + ("bind",))
    if "dialect" in fields:
        values["dialect"] = r.choice(at, "dialect", dialects)
    if None in values.values() or "host" not in values:
        return None  # what is wrong has been said
    return SmppLink(**values)


def _dialect(r: _Reader, name: str, known: dict[str, Dialect]) -> Dialect | None:
    """A dialect of the file: a known one (built in, or given above it) with some fields changed."""
    at: Place = ("dialects", name)
    fields = r.found(at)
    if not isinstance(fields, dict):
        return None
    base_name = r.choice(at, "base", known) if "base" in fields else "default"
    values: dict[str, Any] = {"name": name}
    for key in ("begin_ops", "reply_ops", "abort_ops"):
        if key in fields:
            ops = r.value(at + (key,))
            values[key] = frozenset(int(op) for op in ops) if isinstance(ops, list) else None
    values.update({key: r.whole(at + (key,)) for key in ("ask_op", "end_op", "gsm7_coding", "ucs2_coding",
                                                          "vendor_tag") if key in fields})
    values.update({key: r.value(at + (key,)) for key in ("end_flag_aborts", "correlation") if key in fields})
    if "service_type" in fields:
        values["service_type"] = service_type = r.text(at + ("service_type",))
        problem = field_problem("service_type", service_type) if service_type else None
        if problem is not None:
            r.bad(at + ("service_type",), problem)
            values["service_type"] = None
    if base_name is None or None in values.values():
        return None
    try:
        return replace(known[base_name], **values)
    except ValueError as exc:
        r.bad(at, str(exc))
        return None


__all__ = ["ConfigError", "ServerConfig", "SmppLink", "check_config", "config_schema", "load_config",
           "parse_smpp_url", "with_overrides"]
