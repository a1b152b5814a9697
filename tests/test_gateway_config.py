"""The server's configuration (checked like menus, every problem at path:line:column) and the one
builder of a running service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.store import open_store
from gateway.config import (
    ConfigError,
    ServerConfig,
    SmppLink,
    check_config,
    config_schema,
    load_config,
    parse_smpp_url,
    with_overrides,
)
from gateway.service import build
from ussd import Diagnostic, InvalidFile, Where, check_document, read_document

GOOD = """\
menus: [menus/122]
db: ${TEST_DB}
db_timeout: 2.5
timezone: Africa/Abidjan
idle_timeout: 45
workers: 4
smpp:
  - url: smpp://gw:${SMPP_PASSWORD}@127.0.0.1:2776
    dialect: mine
    window: 20
  - host: 10.0.0.2
    system_id: gw2
    bind: pair
dialects:
  mine: {base: vendor-0x81, gsm7_coding: 0}
"""

YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ussd.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_with_secrets_from_the_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={"TEST_DB": "memory:", "SMPP_PASSWORD": "s3cret"})
    assert (config.menus, config.db, config.db_timeout, config.idle_timeout, config.workers) == (
        ("menus/122",), "memory:", 2.5, 45.0, 4)
    first, second = config.smpp
    assert (first.host, first.port, first.system_id, first.password, first.window) == \
        ("127.0.0.1", 2776, "gw", "s3cret", 20)
    assert "s3cret" not in repr(first) and "s3cret" not in first.address
    assert (second.host, second.port, second.bind) == ("10.0.0.2", 2775, "pair")
    mine = config.dialect("mine")
    assert (mine.abort_ops, mine.gsm7_coding, mine.end_flag_aborts) == (frozenset({0x81}), 0, False)


TOP_KEYS = ("menus, db, db_timeout, policy, catalogue, timezone, idle_timeout, max_duration, workers, demo, at, smpp, "
            "dialects, http, ops, admin_secret, sessions")
SECONDS = "a number of seconds above 0, under 1e9"
INSTANT = "an ISO 8601 instant from 1970 to 9998, like 2026-11-25T10:00"


@pytest.mark.parametrize("text, where, says", [
    ("db: 3\nworkerz: 2\n", (2, 1),
     f"file: unknown key 'workerz' (did you mean 'workers'?); expected one of: {TOP_KEYS}"),
    ("db: ${NOPE}\n", (1, 5), "db: environment variable NOPE is not set"),
    ("idle_timeout: soon\n", (1, 15), f"idle_timeout: expected {SECONDS}, not 'soon'"),
    ("workers: 0\n", (1, 10), "workers: expected 1 to 256, not 0"),
    ("timezone: Mars/Olympus\n", (1, 11), "timezone: unknown time zone 'Mars/Olympus' (e.g. Africa/Abidjan)"),
    ("at: yesterday\n", (1, 5), f"at: expected {INSTANT}, not 'yesterday'"),
    ("smpp: {host: x}\n", (1, 7), "smpp: expected a list of binds, found a mapping"),
    ("smpp:\n  - {url: 'http://x'}\n", (2, 11),
     "smpp bind 1 url: expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT, found 'http://x'"),
    ("smpp:\n  - {system_id: gw}\n", (2, 5), "smpp bind 1: missing 'host' (the centre's host name or address; "
                                              "or give the bind's url, smpp://SYSTEM_ID:PASSWORD@HOST:PORT)"),
    ("smpp:\n  - {host: h, port: 70000}\n", (2, 21), "smpp bind 1 port: expected 1 to 65535, not 70000"),
    ("smpp:\n  - {host: h, dialect: nope}\n", (2, 24),
     "smpp bind 1: unknown dialect 'nope'; expected one of: default, msisdn, umr, vendor-0x81"),
    ("smpp:\n  - {host: h, bind: receiver}\n", (2, 21),
     "smpp bind 1: unknown bind 'receiver' (did you mean 'transceiver'?); expected one of: transceiver, pair"),
    ("dialects:\n  x: {correlation: vendor_tlv}\n", (2, 6),
     "dialect 'x': vendor_tag is given with correlation vendor_tlv, and only then"),
    ("dialects:\n  x: {abort_ops: [300]}\n", (2, 19), "dialect 'x' abort_ops item 1: expected 0 to 255, not 300"),
    ("dialects:\n  x: {base: umr}\n  y: {base: z}\n", (3, 13),
     "dialect 'y': unknown base 'z'; expected one of: default, msisdn, umr, vendor-0x81, x"),
    ("menus: [a\n", (2, 1), "YAML syntax: expected ',' or ']', but got '<stream end>'"),
    ("smpp:\n  - {host: h, system_id: gateway-abidjan-1}\n", (2, 26),
     "smpp bind 1 system_id: at most 15 characters in SMPP 3.4, found 17"),
    ("smpp:\n  - {url: 'smpp://gw:averylongpassword@h'}\n", (2, 11),
     "smpp bind 1 url: its password: at most 8 characters in SMPP 3.4, found 17"),
    ("smpp:\n  - {host: h, enquire_interval: 0.001}\n", (2, 33),
     "smpp bind 1 enquire_interval: expected a number of seconds of at least 0.1, under 1e9, not 0.001"),
    ("smpp:\n  - {host: h}\n  - {host: h, dialect: umr}\n", (3, 5),
     "smpp bind 2: centre 'h:2775' is spoken to in dialect 'default' already; one centre has one dialect"),
    ("dialects:\n  x: {service_type: 'USSD€'}\n", (2, 21),
     "dialect 'x' service_type: SMPP carries it as printable ASCII"),
    ("at: 1066-10-14T09:00\n", (1, 5), f"at: expected {INSTANT}, not '1066-10-14T09:00'"),
    ("at: 2026-02-30T10:00\n", (1, 5), "at: no such instant: '2026-02-30T10:00'"),
    ("http: {secret: x}\n", (1, 7), "http: missing 'listen' (where it listens: HOST:PORT or PORT)"),
    ("http: {listen: 'h:0'}\n", (1, 16), "http listen: expected HOST:PORT or PORT, found 'h:0'"),
    ("http: {listen: 8080, allow: [10.0.0.0/8, nowhere]}\n", (1, 42),
     "http allow item 2: expected a network as 10.0.0.0/8, found 'nowhere'"),
    ("http: {listen: 8080, secret: '${NOPE}'}\n", (1, 30), "http secret: environment variable NOPE is not set"),
    ("http: {listen: 8080, port: 1}\n", (1, 22), "http: unknown key 'port'; expected one of: listen, secret, allow"),
    ("ops: 'x:y'\n", (1, 6), "ops: expected HOST:PORT or PORT, found 'x:y'"),
    ("sessions: 'mysql://u:pw@h/db'\n", (1, 11),
     "sessions: expected memory: or redis://HOST:PORT/DB, found 'mysql://u:***@h/db'"),
    ("idle_timeout: .nan\n", (1, 15), f"idle_timeout: expected {SECONDS}, not '.nan'"),
    ("menus: [a, ~]\n", (1, 12), "menus item 2: expected text, found nothing (null)"),
    ("smpp:\n  - host: h\n    host: h2\n", (3, 5), "smpp bind 1: duplicate key 'host' (first at line 2)"),
])
def test_every_problem_names_its_place(tmp_path: Path, text: str, where: tuple[int, int], says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert Diagnostic(Where(str(path), *where), says) in refused.value.problems, str(refused.value)


def test_http_and_ops_from_the_file_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    text = ("http:\n  listen: 0.0.0.0:8080\n  secret: ${USSD_HTTP_SECRET}\n  allow: [10.0.0.0/8, '2001:db8::/32']\n"
            "ops: 9100\nadmin_secret: ${ADMIN}\nsessions: 'redis://127.0.0.1:6379/2?prefix=gw1:'\n")
    config = load_config(write(tmp_path, text), env={"USSD_HTTP_SECRET": "s3cret", "ADMIN": "adm1n"})
    assert (config.http, config.http_secret, config.http_allow, config.ops, config.admin_secret) == (
        ("0.0.0.0", 8080), "s3cret", ("10.0.0.0/8", "2001:db8::/32"), ("127.0.0.1", 9100), "adm1n")
    assert "s3cret" not in repr(config) and "adm1n" not in repr(config)
    assert config.sessions == "redis://127.0.0.1:6379/2?prefix=gw1:"
    assert load_config(write(tmp_path, "sessions: 'memory:'\n")).sessions is None
    assert with_overrides(config, http=("127.0.0.1", 1234)).http == ("127.0.0.1", 1234)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, "workers: x\nidle_timeout: -1\nsmpp: 3\n"), env={})
    assert len(refused.value.problems) == 3


def test_a_missing_file_and_a_large_one_are_one_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="file too large: at most 1024 KiB"):
        load_config(write(tmp_path, "# " + "x" * (1 << 20)))


def test_smpp_urls_and_overrides() -> None:
    assert parse_smpp_url("smpp://gw:p%40ss@centre.example:2800") == SmppLink("centre.example", 2800, "gw", "p@ss")
    assert parse_smpp_url("smpp://gw@h").port == 2775
    with pytest.raises(ValueError) as bad:
        parse_smpp_url("smtp://gw:secret@h")
    assert "secret" not in str(bad.value)
    config = with_overrides(ServerConfig(db="sqlite:///x.db", workers=3), db="memory:", workers=None)
    assert (config.db, config.workers) == ("memory:", 3)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_text_is_a_configuration_or_its_problems(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text else None
    if not path.exists():
        return
    try:
        assert isinstance(load_config(path, env={}), ServerConfig)
    except ConfigError as exc:
        assert exc.problems and all(p.where.path == str(path) for p in exc.problems)


def test_a_whole_reference_reads_as_its_value_written_there(tmp_path: Path) -> None:
    text = ("workers: ${WORKERS}\ndemo: ${DEMO}\nadmin_secret: ${EMPTY}\nsmpp:\n  - host: ${HOST}\n    port: ${PORT}\n"
            "    password: ${PASSWORD}\n    window: '${WINDOW}'\n")
    env = {"WORKERS": "4", "DEMO": "yes", "EMPTY": "", "HOST": "10.0.0.9", "PORT": "0x0ad0", "PASSWORD": "0123",
           "WINDOW": "20"}
    config = load_config(write(tmp_path, text), env=env)
    (link,) = config.smpp
    assert (config.workers, config.demo, config.admin_secret) == (4, True, None)
    assert (link.host, link.port, link.password, link.window) == ("10.0.0.9", 2768, "0123", 20)


@pytest.mark.parametrize("text, env, where, says", [
    ("workers: ${N}\n", {"N": "300"}, (1, 10), "workers: expected 1 to 256, not 300 (environment variable N)"),
    ("idle_timeout: ${T}\n", {"T": "soon"}, (1, 15),
     f"idle_timeout: expected {SECONDS}, not 'soon' (environment variable T)"),
    ("idle_timeout: ${T}\n", {"T": ".inf"}, (1, 15),
     f"idle_timeout: expected {SECONDS}, not '.inf' (environment variable T)"),
    ("demo: ${D}\n", {"D": "maybe"}, (1, 7), "demo: expected true or false, not 'maybe' (environment variable D)"),
    ("db: ${D}\n", {"D": "~"}, (1, 5), "db: expected text, found nothing (null) (environment variable D)"),
    ("timezone: ${TZ}\n", {"TZ": "Mars/Olympus"}, (1, 11),
     "timezone: unknown time zone 'Mars/Olympus' (e.g. Africa/Abidjan) (environment variable TZ)"),
    ("smpp:\n  - url: smpp://gw:${P}${P}@h:${PORT}\n", {"P": "secret", "PORT": "2775"}, (2, 10),
     "smpp bind 1 url: its password: at most 8 characters in SMPP 3.4, found 12 (environment variables P, PORT)"),
    ("workers: ${N}\n", {"N": "${M}"}, (1, 10), "workers: environment variable N holds a ${NAME} of its own, "
                                               "which is not replaced"),
])
def test_a_value_from_the_environment_is_checked_where_it_is_named(
        tmp_path: Path, text: str, env: dict[str, str], where: tuple[int, int], says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env=env)
    assert refused.value.problems == [Diagnostic(Where(str(path), *where), says)]
    assert "secret" not in str(refused.value)


def test_a_variable_under_a_key_the_schema_refused_is_not_said_again(tmp_path: Path) -> None:
    path = write(tmp_path, "workerz: ${NOPE}\ndb: ${NOPE}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert [(d.where.line, d.message.split(":")[0]) for d in refused.value.problems] == [(1, "file"), (2, "db")]


def test_checking_a_file_takes_each_reference_for_a_value_that_fits(tmp_path: Path) -> None:
    text = "workers: ${N}\nsmpp:\n  - url: smpp://gw:${PASSWORD}@h\n    port: ${PORT}\n"
    check_config(write(tmp_path, text))  # no problem: nothing raised
    path = write(tmp_path, text + "    window: 0\n")
    with pytest.raises(ConfigError) as refused:
        check_config(path)
    assert refused.value.problems == [
        Diagnostic(Where(str(path), 5, 13), "smpp bind 1 window: expected 1 to 1000, not 0")]


def test_a_configuration_error_is_an_invalid_file_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "workers: 0\ndb: ${NOPE}\n")
    with pytest.raises(InvalidFile) as refused:
        load_config(path, env={})
    assert isinstance(refused.value, ConfigError)
    assert [(d.where.line, d.where.column) for d in refused.value.diagnostics] == [(1, 10), (2, 5)]


# -- the schema, the shipped example and the documentation ------------------------------------

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "gateway" / "serve.example.yaml"
EXAMPLE_ENV = {"USSD_DB": "memory:", "SMPP_PASSWORD": "s3cret", "USSD_HTTP_SECRET": "h", "USSD_ADMIN_SECRET": "a"}


def test_the_schema_is_draft_2020_12_and_describes_every_property() -> None:
    from jsonschema import Draft202012Validator

    schema = config_schema().document
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/config.schema.json") and schema["title"] and "${NAME}" in schema["description"]
    bodies = [schema, *schema["$defs"].values(), schema["properties"]["http"]]
    undescribed = [name for body in bodies for name, prop in body.get("properties", {}).items()
                   if "description" not in prop]
    assert undescribed == []


def test_the_schema_s_choices_are_the_gateway_s() -> None:
    from gateway.ussd_smpp import CORRELATIONS

    defs = config_schema().document["$defs"]
    assert defs["dialect"]["properties"]["correlation"]["enum"] == list(CORRELATIONS)
    assert defs["link"]["properties"]["bind"]["enum"] == ["transceiver", "pair"]  # gateway.esme binds these


def test_every_shipped_configuration_fits_the_schema_as_written() -> None:
    shipped = sorted((ROOT / "gateway").glob("*.yaml"))
    assert shipped == [EXAMPLE]
    for path in shipped:
        assert path.read_text(encoding="utf-8").splitlines()[0] == \
            "# yaml-language-server: $schema=schemas/config.schema.json"
        assert (path.parent / "schemas" / "config.schema.json").is_file()
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        assert check_document(read_document(root, str(path)), config_schema()) == []
        check_config(path)  # the whole checker, as `ussd check` runs it: nothing raised


def test_the_shipped_example_is_the_documented_one_and_loads() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = doc.split("## The file", 1)[1].split("```yaml\n", 1)[1].split("```\n", 1)[0]
    assert EXAMPLE.read_text(encoding="utf-8").split("\n", 1)[1] == block
    assert "gateway/serve.example.yaml" in doc
    config = load_config(EXAMPLE, env=EXAMPLE_ENV)
    assert (config.db, config.workers, config.http, config.ops) == (
        "memory:", 8, ("0.0.0.0", 8080), ("127.0.0.1", 9100))
    assert [(link.host, link.password, link.centre) for link in config.smpp] == [
        ("10.1.2.3", "s3cret", "centre-abidjan"), ("10.1.2.4", "s3cret", "10.1.2.4:2775")]
    assert config.dialect("my-centre").gsm7_coding == 0


# -- any input: diagnostics inside the file, never another exception ----------------------------

_REFERENCES = st.sampled_from(["${PORT}", "${NOPE}", "${EMPTY}", "${REF}", "${TEXT}", "x${PORT}y", "smpp://gw:${TEXT}@h"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(), st.text(max_size=12),
                     _REFERENCES, st.sampled_from(["default", "umr", "pair", "vendor_tlv", "10.0.0.0/8", "8080",
                                                   "Africa/Abidjan", "2026-11-25T10:00", "smpp://gw:pw@h:2775"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=12)


def _fields(schema: dict[str, object]) -> st.SearchStrategy[dict[str, object]]:
    """Mappings with the keys ``schema`` knows (and a stranger now and then), any values."""
    keys = list(schema["properties"]) + ["stranger"]  # type: ignore[call-overload]
    return st.dictionaries(st.sampled_from(keys), _VALUES, max_size=6)


_SCHEMA = config_schema().document
_LINK = _fields(_SCHEMA["$defs"]["link"])
_DIALECT = _fields(_SCHEMA["$defs"]["dialect"])
_CONFIGS = st.fixed_dictionaries({}, optional={
    "smpp": st.lists(st.one_of(_LINK, _VALUES), max_size=3),
    "dialects": st.dictionaries(st.sampled_from(["mine", "umr", "x"]), st.one_of(_DIALECT, _VALUES), max_size=2),
    "http": st.one_of(_fields(_SCHEMA["properties"]["http"]), _VALUES),
}).flatmap(lambda known: _fields(_SCHEMA).map(lambda others: {**others, **known}))
_ENV = {"PORT": "2776", "EMPTY": "", "REF": "${PORT}", "TEXT": "a b: [c"}


@settings(max_examples=300, deadline=None)
@given(st.one_of(_CONFIGS, _VALUES))
def test_any_yaml_value_gives_diagnostics_inside_the_file_and_nothing_else(
        tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    text = yaml.safe_dump(value, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    lines = len(YAML_LINE_BREAK.split(text))  # YAML breaks lines at NEL, LS and PS too
    for read in (lambda: load_config(path, env=_ENV), lambda: check_config(path)):
        try:
            read()
        except ConfigError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.where.path == str(path) and 1 <= problem.where.line <= lines
                assert problem.message and "\n" not in problem.message


def test_serve_never_fills_an_empty_store_unless_asked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    build(ServerConfig(db=url)).close()
    with open_store(url) as store:
        assert store.count() == 0
    build(ServerConfig(db=url, demo=True)).close()
    with open_store(url) as store:
        assert store.count() > 0


def test_a_frozen_clock_freezes_the_screens_not_the_timers() -> None:
    from datetime import datetime

    service = build(ServerConfig(db="memory:", demo=True, at=datetime(2026, 11, 25, 10, 0)))
    assert service.clock().isoformat() == "2026-11-25T10:00:00+00:00"
    first = service.clock.seconds()
    assert service.clock.seconds() >= first > 0  # the timers' clock is real time
    service.close()


def test_binds_to_two_centres_never_share_dialogues(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "smpp:\n  - {host: a}\n  - {host: b, port: 2800}\n"
                                         "  - {host: b, port: 2801, peer: b}\n"), env={})
    assert [link.centre for link in config.smpp] == ["a:2775", "b:2800", "b"]
