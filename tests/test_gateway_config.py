"""The server's configuration (checked like menus, every problem at path:line:column) and the one
builder of a running service."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.store import open_store
from gateway.config import ConfigError, ServerConfig, SmppLink, load_config, parse_smpp_url, with_overrides
from gateway.service import build

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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ussd.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_with_secrets_from_the_environment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={"TEST_DB": "memory:", "SMPP_PASSWORD": "s3cret"})
    assert (config.menus, config.db, config.db_timeout, config.idle_timeout, config.workers) == (
        ("menus/122",), "memory:", 2.5, 45.0, 4)
    first, second = config.smpp
    assert (first.host, first.port, first.system_id, first.password, first.window) == ("127.0.0.1", 2776, "gw", "s3cret", 20)
    assert "s3cret" not in repr(first) and "s3cret" not in first.address
    assert (second.host, second.port, second.bind) == ("10.0.0.2", 2775, "pair")
    mine = config.dialect("mine")
    assert (mine.abort_ops, mine.gsm7_coding, mine.end_flag_aborts) == (frozenset({0x81}), 0, False)


@pytest.mark.parametrize("text, where, says", [
    ("db: 3\nworkerz: 2\n", (2, 1), "unknown key 'workerz' (did you mean 'workers'?)"),
    ("db: ${NOPE}\n", (1, 5), "environment variable NOPE is not set"),
    ("idle_timeout: soon\n", (1, 15), "expected a number above 0"),
    ("workers: 0\n", (1, 10), "expected 1 to 256"),
    ("timezone: Mars/Olympus\n", (1, 11), "unknown time zone"),
    ("at: yesterday\n", (1, 5), "not an ISO 8601 instant"),
    ("smpp: {host: x}\n", (1, 7), "expected a list of binds"),
    ("smpp:\n  - {url: 'http://x'}\n", (2, 11), "expected smpp://"),
    ("smpp:\n  - {system_id: gw}\n", (2, 5), "give its url"),
    ("smpp:\n  - {host: h, port: 70000}\n", (2, 21), "expected 1 to 65535"),
    ("smpp:\n  - {host: h, dialect: nope}\n", (2, 24), "is not one of default"),
    ("smpp:\n  - {host: h, bind: receiver}\n", (2, 21), "transceiver, pair"),
    ("dialects:\n  x: {correlation: vendor_tlv}\n", (2, 6), "vendor_tag is given with correlation vendor_tlv"),
    ("dialects:\n  x: {abort_ops: [300]}\n", (2, 19), "expected 0 to 255"),
    ("menus: [a\n", (2, 1), "cannot read the configuration"),
    ("smpp:\n  - {host: h, system_id: gateway-abidjan-1}\n", (2, 26), "system_id: at most 15 characters"),
    ("smpp:\n  - {url: 'smpp://gw:averylongpassword@h'}\n", (2, 11), "password: at most 8 characters"),
    ("smpp:\n  - {host: h, enquire_interval: 0.001}\n", (2, 33), "expected a number of at least 0.1"),
    ("smpp:\n  - {host: h}\n  - {host: h, dialect: umr}\n", (3, 5), "one centre has one dialect"),
    ("dialects:\n  x: {service_type: 'USSD€'}\n", (2, 21), "service_type: SMPP carries it as printable ASCII"),
    ("at: 1066-10-14T09:00\n", (1, 5), "expected a year from 1970 to 9998"),
    ("http: {secret: x}\n", (1, 7), "http: give where it listens"),
    ("http: {listen: 'h:0'}\n", (1, 16), "listen: expected HOST:PORT or PORT"),
    ("http: {listen: 8080, allow: [10.0.0.0/8, nowhere]}\n", (1, 42), "allow: expected a network"),
    ("http: {listen: 8080, secret: '${NOPE}'}\n", (1, 30), "environment variable NOPE is not set"),
    ("http: {listen: 8080, port: 1}\n", (1, 22), "unknown key 'port'"),
    ("ops: 'x:y'\n", (1, 6), "ops: expected HOST:PORT or PORT"),
    ("sessions: 'mysql://u:pw@h/db'\n", (1, 11), "sessions: expected memory: or redis://HOST:PORT/DB"),
])
def test_every_problem_names_its_place(tmp_path: Path, text: str, where: tuple[int, int], says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    places = [(p.where.path, p.where.line, p.where.column) for p in refused.value.problems]
    assert (str(path), *where) in places and says in str(refused.value), str(refused.value)


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
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="at most 1 MiB"):
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
    config = load_config(write(tmp_path, "smpp:\n  - {host: a}\n  - {host: b, port: 2800}\n  - {host: b, port: 2801, peer: b}\n"),
                         env={})
    assert [link.centre for link in config.smpp] == ["a:2775", "b:2800", "b"]
