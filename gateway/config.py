"""What a running service is made of, read from ``ussd serve --config FILE`` and the command line.

The file is checked like menus: every problem is reported as ``path:line:column`` with what was
expected, all at once, and nothing starts on a bad file. ``${NAME}`` in a text is the environment
variable NAME, so that secrets (an SMPP password, a database URL) need not be written in the file.
Flags given on the command line override the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from accounts.store import redact
from ussd.model import Problem, Where
from ussd.sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION
from ussd.timezone import DEFAULT_TIMEZONE
from ussd.yamlnodes import NodeReader, describe, excerpt

from .ussd_smpp import CORRELATIONS, DIALECTS, Dialect

DEFAULT_PORT: Final = 2775
BINDS: Final = ("transceiver", "pair")
MAX_CONFIG_BYTES: Final = 1 << 20
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """Every problem of a configuration, each naming its place."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


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
    """Why ``value`` cannot go in the SMPP field ``name``, if it cannot."""
    if not value.isascii() or not value.isprintable():
        return f"{name}: SMPP carries it as printable ASCII"
    size = FIELD_SIZES.get(name)
    if size is not None and len(value) > size:
        return f"{name}: at most {size} characters in SMPP 3.4, found {len(value)}"
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

_TOP: Final = ("menus", "db", "db_timeout", "policy", "catalogue", "timezone", "idle_timeout", "max_duration",
               "workers", "demo", "at", "smpp", "dialects", "http", "ops",
               "admin_secret", "sessions")
_HTTP: Final = ("listen", "secret", "allow")
_LINK: Final = ("url", "host", "port", "system_id", "password", "system_type", "peer", "dialect", "bind", "window",
                "enquire_interval", "response_timeout", "reconnect_max")
_DIALECT: Final = ("base", "begin_ops", "reply_ops", "abort_ops", "ask_op", "end_op", "end_flag_aborts",
                   "correlation", "vendor_tag", "gsm7_coding", "ucs2_coding", "service_type")


class _Reader(NodeReader):
    """NodeReader with what a configuration needs besides: environment variables, numbers,
    flags."""

    def __init__(self, path: str, problems: list[Problem], env: dict[str, str]) -> None:
        super().__init__(problems)
        self.path = path
        self.env = env

    def text(self, node: yaml.Node, what: str) -> str | None:
        value = self.string(self.path, node, what)
        if value is None:
            return None
        missing = [name for name in _ENV.findall(value) if name not in self.env]
        if missing:
            self.problem(self.path, node, f"{what}: environment variable {missing[0]} is not set")
            return None
        return _ENV.sub(lambda m: self.env[m.group(1)], value)

    def number(self, node: yaml.Node, what: str, minimum: float = 0.0) -> float | None:
        """A number above ``minimum`` (at least it, when it is above 0)."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
            try:
                value = float(node.value.replace("_", ""))
            except ValueError:
                value = None
            if value is not None and (value >= minimum if minimum else value > 0) and value < 1e9:
                return value
        bound = f"of at least {minimum:g}" if minimum else "above 0"
        self.problem(self.path, node, f"{what}: expected a number {bound}, found {describe(node)}")
        return None

    def whole(self, node: yaml.Node, what: str, low: int, high: int) -> int | None:
        value = self.integer(self.path, node, what)
        if value is not None and not low <= value <= high:
            self.problem(self.path, node, f"{what}: expected {low} to {high}, found {value}")
            return None
        return value

    def flag(self, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return node.value.lower() in ("true", "yes", "on")
        self.problem(self.path, node, f"{what}: expected true or false, found {describe(node)}")
        return None

    def choice(self, node: yaml.Node, what: str, choices: Sequence[str]) -> str | None:
        value = self.text(node, what)
        if value is not None and value not in choices:
            self.problem(self.path, node, f"{what}: {excerpt(value)} is not one of {', '.join(choices)}")
            return None
        return value

    def ops(self, node: yaml.Node, what: str) -> frozenset[int] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(self.path, node, f"{what}: expected a list of ops (0 to 255), found {describe(node)}")
            return None
        found = [self.whole(item, what, 0, 255) for item in node.value]
        return None if None in found else frozenset(v for v in found if v is not None)


def load_config(path: str | Path, env: dict[str, str] | None = None) -> ServerConfig:
    """Read and check a configuration file; raises :class:`ConfigError` listing every problem."""
    path = str(path)
    problems: list[Problem] = []
    reader = _Reader(path, problems, dict(os.environ) if env is None else env)
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError([Problem(Where(path, 1, 1), f"{size:,} bytes: a configuration is at most 1 MiB")])
        with open(path, encoding="utf-8") as fh:
            root = yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Where(path, mark.line + 1, mark.column + 1) if mark else Where(path, 1, 1)
        reason = getattr(exc, "problem", None) or getattr(exc, "strerror", None) or exc
        raise ConfigError([Problem(where, f"cannot read the configuration: {reason}")]) from None
    if root is None:
        return ServerConfig()
    top = reader.mapping(path, root, _TOP, "configuration") or {}
    given: dict[str, Any] = {}
    if "menus" in top:
        node = top["menus"]
        menus = [reader.text(n, "menus") for n in node.value] if isinstance(node, yaml.SequenceNode) else [
            reader.text(node, "menus")]
        given["menus"] = tuple(m for m in menus if m)
    for name in ("db", "policy", "catalogue"):
        if name in top:
            given[name] = reader.text(top[name], name)
    if "timezone" in top:
        zone = reader.text(top["timezone"], "timezone")
        try:
            ZoneInfo(zone or "")
            given["timezone"] = zone
        except (ZoneInfoNotFoundError, ValueError):
            reader.problem(path, top["timezone"], f"timezone: unknown time zone {excerpt(zone or '')} (e.g. {DEFAULT_TIMEZONE})")
    for name in ("db_timeout", "idle_timeout", "max_duration"):
        if name in top:
            given[name] = reader.number(top[name], name)
    if "workers" in top:
        given["workers"] = reader.whole(top["workers"], "workers", 1, 256)
    if "http" in top:
        given.update(_http(reader, top["http"]))
    if "ops" in top:
        given["ops"] = _listen(reader, top["ops"], "ops")
    if "sessions" in top:
        try:
            given["sessions"] = parse_sessions_url(reader.text(top["sessions"], "sessions") or "")
        except ValueError as exc:
            reader.problem(path, top["sessions"], f"sessions: {exc}")
    if "admin_secret" in top:
        given["admin_secret"] = reader.text(top["admin_secret"], "admin_secret") or None
    if "demo" in top:
        given["demo"] = reader.flag(top["demo"], "demo")
    if "at" in top:
        text = reader.text(top["at"], "at")
        try:
            given["at"] = datetime.fromisoformat(text) if text else None
        except ValueError:
            reader.problem(path, top["at"], f"at: not an ISO 8601 instant: {excerpt(text or '')}")
        else:
            if given["at"] is not None and not 1970 <= given["at"].year <= 9998:
                reader.problem(path, top["at"], "at: expected a year from 1970 to 9998")
    dialects = dict(DIALECTS)
    if "dialects" in top:
        for name, node in (reader.mapping(path, top["dialects"], (), "dialects") or {}).items():
            made = _dialect(reader, name, node, dialects)
            if made is not None:
                dialects[name] = made
    given["dialects"] = dialects
    if "smpp" in top:
        node = top["smpp"]
        if not isinstance(node, yaml.SequenceNode):
            reader.problem(path, node, f"smpp: expected a list of binds, found {describe(node)}")
        else:
            links = [(n, _link(reader, n, dialects)) for n in node.value]
            given["smpp"] = tuple(link for _, link in links if link is not None)
            spoken: dict[str, str] = {}
            for n, link in links:
                if link is not None and spoken.setdefault(link.centre, link.dialect) != link.dialect:
                    reader.problem(reader.path, n, f"smpp bind: centre {link.centre!r} is spoken to in dialect "
                                                   f"{spoken[link.centre]!r} already; one centre has one dialect")
    if problems:
        raise ConfigError(problems)
    return with_overrides(ServerConfig(), **given)


def _listen(reader: _Reader, node: yaml.Node, what: str) -> tuple[str, int] | None:
    text = reader.text(node, what)
    if text is None:
        return None
    try:
        return parse_host_port(text)
    except ValueError as exc:
        reader.problem(reader.path, node, f"{what}: {exc}")
        return None


def _http(reader: _Reader, node: yaml.Node) -> dict[str, Any]:
    """``http: {listen: HOST:PORT, secret: ${USSD_HTTP_SECRET}, allow: [CIDR, ...]}``."""
    fields = reader.mapping(reader.path, node, _HTTP, "http")
    if fields is None:
        return {}
    values: dict[str, Any] = {}
    if "listen" not in fields:
        reader.problem(reader.path, node, "http: give where it listens (listen: HOST:PORT)")
    else:
        values["http"] = _listen(reader, fields["listen"], "listen")
    if "secret" in fields:
        values["http_secret"] = reader.text(fields["secret"], "secret")
    if "allow" in fields:
        allow = fields["allow"]
        nodes = allow.value if isinstance(allow, yaml.SequenceNode) else [allow]
        networks = []
        for item in nodes:
            text = reader.text(item, "allow")
            try:
                ipaddress.ip_network(text or "", strict=False)
                networks.append(text)
            except ValueError:
                reader.problem(reader.path, item, f"allow: expected a network as 10.0.0.0/8, found {excerpt(text or '')}")
        values["http_allow"] = tuple(n for n in networks if n)
    return values


def _link(reader: _Reader, node: yaml.Node, dialects: dict[str, Dialect]) -> SmppLink | None:
    fields = reader.mapping(reader.path, node, _LINK, "smpp bind")
    if fields is None:
        return None
    values: dict[str, Any] = {}
    if "url" in fields:
        url = reader.text(fields["url"], "url")
        if url is not None:
            try:
                base = parse_smpp_url(url)
                values.update(host=base.host, port=base.port, system_id=base.system_id, password=base.password)
            except ValueError as exc:
                reader.problem(reader.path, fields["url"], f"url: {exc}")
    elif "host" not in fields:
        reader.problem(reader.path, node, "smpp bind: give its url (smpp://ID:PASSWORD@HOST:PORT) or its host")
    for name in ("host", "system_id", "password", "system_type", "peer"):
        if name in fields:
            values[name] = reader.text(fields[name], name)
    for name in ("system_id", "password", "system_type"):
        problem = field_problem(name, values[name]) if values.get(name) is not None else None
        if problem is not None:
            reader.problem(reader.path, fields.get(name) or fields.get("url") or node, problem)
            values[name] = None
    if "port" in fields:
        values["port"] = reader.whole(fields["port"], "port", 1, 65535)
    if "window" in fields:
        values["window"] = reader.whole(fields["window"], "window", 1, 1000)
    for name, minimum in (("enquire_interval", 0.1), ("response_timeout", 0.1), ("reconnect_max", 0.5)):
        if name in fields:
            values[name] = reader.number(fields[name], name, minimum)
    if "bind" in fields:
        values["bind"] = reader.choice(fields["bind"], "bind", BINDS)
    if "dialect" in fields:
        values["dialect"] = reader.choice(fields["dialect"], "dialect", sorted(dialects))
    if None in values.values() or "host" not in values:
        return None
    return SmppLink(**values)


def _dialect(reader: _Reader, name: str, node: yaml.Node, known: dict[str, Dialect]) -> Dialect | None:
    fields = reader.mapping(reader.path, node, _DIALECT, f"dialect {name!r}")
    if fields is None:
        return None
    base = known["default"]
    if "base" in fields:
        base_name = reader.choice(fields["base"], "base", sorted(known))
        base = known.get(base_name or "", base)
    values: dict[str, Any] = {"name": name}
    for key in ("begin_ops", "reply_ops", "abort_ops"):
        if key in fields:
            values[key] = reader.ops(fields[key], key)
    for key in ("ask_op", "end_op", "gsm7_coding", "ucs2_coding"):
        if key in fields:
            values[key] = reader.whole(fields[key], key, 0, 255)
    if "vendor_tag" in fields:
        values["vendor_tag"] = reader.whole(fields["vendor_tag"], "vendor_tag", 0x1400, 0x3FFF)
    if "end_flag_aborts" in fields:
        values["end_flag_aborts"] = reader.flag(fields["end_flag_aborts"], "end_flag_aborts")
    if "correlation" in fields:
        values["correlation"] = reader.choice(fields["correlation"], "correlation", CORRELATIONS)
    if "service_type" in fields:
        values["service_type"] = reader.text(fields["service_type"], "service_type")
        problem = field_problem("service_type", values["service_type"]) if values["service_type"] else None
        if problem is not None:
            reader.problem(reader.path, fields["service_type"], problem)
            values["service_type"] = None
    if None in values.values():
        return None
    try:
        return replace(base, **values)
    except ValueError as exc:
        reader.problem(reader.path, node, f"dialect {name!r}: {exc}")
        return None


__all__ = ["ConfigError", "ServerConfig", "SmppLink", "load_config", "parse_smpp_url", "with_overrides"]
