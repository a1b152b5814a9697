"""``ussd accounts`` run for real: import, list, show, grant against SQLite, PostgreSQL and a demo
copy in memory; numbers read however a subscriber writes them; failures are one line per problem
and an exit status, the database is untouched by a failed import, and nothing ever prints a
traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from accounts.store import open_store

ROOT = Path(__file__).resolve().parent.parent
USSD = str(Path(sys.executable).with_name("ussd"))
FIXTURES = Path(__file__).parent / "accounts"
DEMO = ROOT / "accounts" / "demo.yaml"
AT = "2026-11-25T10:00:00"  # a Wednesday morning
ACTIVE = "2250701020304"
INACTIVE = "2250700000001"
STRANGER = "2250799999999"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Ussd:
    """The console script with its default database under a private XDG_DATA_HOME."""

    def __init__(self, data_home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in ("USSD_DB", "USSD_MENUS")}
        self.env["XDG_DATA_HOME"] = str(data_home)
        self.env["PYTHONIOENCODING"] = "utf-8"

    def __call__(self, *args: str) -> Run:
        done = subprocess.run([USSD, "accounts", *args], capture_output=True, cwd=ROOT, timeout=60, env=self.env)
        run = Run(done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))
        assert "Traceback" not in run.out and "Traceback" not in run.err, run
        return run


@pytest.fixture
def ussd(tmp_path: Path) -> Ussd:
    return Ussd(tmp_path / "xdg")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'a.db'}"


def demo_count() -> int:
    return len(yaml.safe_load(DEMO.read_text(encoding="utf-8"))["subscribers"])


def imported(ussd: Ussd, db: str, path: Path = DEMO) -> None:
    run = ussd("import", str(path), "--db", db)
    assert (run.code, run.err) == (0, ""), run
    if path == DEMO:
        assert run.out == f"imported {demo_count()} subscriber(s)\n"


def show(ussd: Ussd, db: str, msisdn: str = ACTIVE, at: str = AT) -> Any:
    run = ussd("show", msisdn, "--at", at, "--json", "--db", db)
    assert (run.code, run.err) == (0, ""), run
    return run.json()


# Worked out by hand from accounts/demo.yaml, at 2026-11-25T10:00:00 (Abidjan, UTC+0), a Wednesday:
# credit special (150, expired 2026-11-20) is gone; the weekend and night rubriques count but are
# not usable now; lines are ordered by expiry.
def line(label: str, scope: str | None, amount: int, expires: str) -> dict[str, Any]:
    return {"label": label, "scope": scope, "amount": amount, "expires": expires + "+00:00"}


EXPECTED_ACTIVE = {
    "msisdn": ACTIVE,
    "status": "active",
    "main": {"balance": 1250, "expires": "2027-01-31T23:59:59+00:00"},
    "credit": {
        "monthly": {"total": 750, "next_expiry": "2026-11-30T23:59:59+00:00", "usable_now": True,
                    "lines": [line("Intra", "intra", 500, "2026-11-30T23:59:59"),
                              line("Bonus", "all", 250, "2026-12-15T23:59:59")]},
        "omoney": {"total": 300, "next_expiry": "2026-12-05T23:59:59+00:00", "usable_now": True,
                   "lines": [line("OM Tous Réseaux", "all", 300, "2026-12-05T23:59:59")]},
        "weekend": {"total": 1000, "next_expiry": "2026-11-29T23:59:59+00:00", "usable_now": False,
                    "lines": [line("WES intra", "intra", 1000, "2026-11-29T23:59:59")]},
    },
    "minutes": {
        "monthly": {"total": 1800, "next_expiry": "2026-11-30T23:59:59+00:00", "usable_now": True,
                    "lines": [line("Intra", "intra", 1800, "2026-11-30T23:59:59")]},
        "special": {"total": 600, "next_expiry": "2026-12-10T12:00:00+00:00", "usable_now": True,
                    "lines": [line("Spécial International", "international", 600, "2026-12-10T12:00:00")]},
    },
    "internet": {
        "monthly": {"total": 1073741824, "next_expiry": "2026-11-30T23:59:59+00:00", "usable_now": True,
                    "lines": [line("Bonus Mensuel", None, 1073741824, "2026-11-30T23:59:59")]},
        "night": {"total": 524288000, "next_expiry": "2026-12-01T06:00:00+00:00", "usable_now": False,
                  "lines": [line("Bonus Nuit", None, 524288000, "2026-12-01T06:00:00")]},
        "social": {"total": 209715200, "next_expiry": "2026-12-02T23:59:59+00:00", "usable_now": True,
                   "lines": [line("Réseaux sociaux", None, 209715200, "2026-12-02T23:59:59")]},
    },
    "favourites": ["2250705060708"],
    "usage": {"since": "2026-11-01T00:00:00+00:00", "voice": 2710, "sms": 14, "data": 1288490189, "spend": 3500},
    "invoices": [],
    "internet_plus": None,
    "duplicates": [],
    "debits": [],
}
#: What ``show --json`` prints after the bonus, in this order.
SERVICE_KEYS = ["favourites", "usage", "invoices", "internet_plus", "duplicates", "debits"]


# -- import and show ---------------------------------------------------------------------------------


def test_import_demo_then_show_json(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    got = show(ussd, db)
    assert got == EXPECTED_ACTIVE
    assert list(got) == ["msisdn", "status", "main", "credit", "minutes", "internet", *SERVICE_KEYS]
    assert list(got["credit"]) == ["monthly", "omoney", "weekend"]
    assert sum(v["total"] for v in got["credit"].values()) == 2050
    assert sum(v["total"] for v in got["minutes"].values()) == 2400
    assert sum(v["total"] for v in got["internet"].values()) == 1807745024


def test_show_at_night_and_weekend(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    saturday_night = show(ussd, db, at="2026-11-28T05:59:59")
    assert saturday_night["credit"]["weekend"]["usable_now"] is True
    assert saturday_night["internet"]["night"]["usable_now"] is True
    assert show(ussd, db, at="2026-11-28T06:00:00")["internet"]["night"]["usable_now"] is False
    # at its expiry second, a bucket no longer counts
    assert "weekend" not in show(ussd, db, at="2026-11-29T23:59:59")["credit"]
    assert show(ussd, db, at="2026-11-29T23:59:58")["credit"]["weekend"]["total"] == 1000


def test_show_with_offset(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    assert show(ussd, db, at="2026-11-25T11:00:00+01:00") == EXPECTED_ACTIVE


def test_show_restricted_subscribers(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    assert show(ussd, db, msisdn=INACTIVE) == {
        "msisdn": INACTIVE, "status": "inactive", "main": {"balance": 35, "expires": "2026-10-31T23:59:59+00:00"},
    }
    assert show(ussd, db, msisdn="2250700000002") == {
        "msisdn": "2250700000002", "status": "deactivated",
        "main": {"balance": 0, "expires": "2026-06-30T23:59:59+00:00"},
    }


def test_show_text(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    run = ussd("show", ACTIVE, "--at", AT, "--db", db)
    assert run.code == 0 and run.err == ""
    lines = run.out.splitlines()
    assert lines[0].startswith(f"{ACTIVE}  active  Mix Découverte (prepaid)")
    assert any("WES intra" in ln for ln in lines)
    assert not any("Spécial Tous Réseaux" in ln for ln in lines)  # expired
    run = ussd("show", "2250709080706", "--at", AT, "--db", db)
    assert run.code == 0 and "no bonus" in run.out.splitlines()
    run = ussd("show", INACTIVE, "--at", AT, "--db", db)
    assert run.code == 0 and run.out.splitlines()[2:] == ["inactive: #122# shows only the main account"]


def test_show_unknown_number(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    run = ussd("show", STRANGER, "--at", AT, "--json", "--db", db)
    assert run.code == 1
    assert run.out == ""
    assert run.err == f"unknown subscriber {STRANGER}\n"


def test_show_bad_instant_is_a_usage_error(ussd: Ussd, db: str) -> None:
    run = ussd("show", ACTIVE, "--at", "yesterday", "--db", db)
    assert run.code == 2 and run.out == ""
    assert "not an ISO 8601 instant: 'yesterday'" in run.err


def test_default_database_is_under_xdg_data_home(ussd: Ussd, tmp_path: Path) -> None:
    run = ussd("import", str(DEMO))
    assert run.code == 0, run
    assert (tmp_path / "xdg" / "ussd122" / "accounts.sqlite3").is_file()
    run = ussd("show", ACTIVE, "--at", AT, "--json")
    assert run.code == 0 and run.json() == EXPECTED_ACTIVE


# -- failed and repeated imports ----------------------------------------------------------------------


def test_failing_import_lists_every_problem_and_changes_nothing(ussd: Ussd, db: str, tmp_path: Path) -> None:
    imported(ussd, db)
    before = show(ussd, db)
    bad = FIXTURES / "two_bad.yaml"
    run = ussd("import", str(bad), "--db", db)
    assert run.code == 1
    assert run.out == ""
    assert run.err.splitlines() == [
        f"{bad}:9:13: subscribers[1] 2250755555555: "
        "unknown status 'activ' (did you mean 'active'?); expected one of: active, inactive, deactivated",
        f"{bad}:17:66: subscribers[2] 2250766666666: buckets[0].amount: "
        "expected a whole number from 0 to 1000000000000000, not '-5'",
        f"2 problem(s) in {bad}; nothing imported",
    ]
    assert show(ussd, db) == before  # the good record in the file was not written either
    for msisdn in ("2250755555555", "2250766666666"):
        assert ussd("show", msisdn, "--db", db).code == 1


def test_failing_csv_import_changes_nothing(ussd: Ussd, db: str, tmp_path: Path) -> None:
    imported(ussd, db, FIXTURES / "small.csv")
    before = show(ussd, db, msisdn="2250711111111")
    text = (FIXTURES / "small.csv").read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace(",500,", ",-500,").replace(",inactive,", ",inactiv,").replace(",1250,", ",9,"),
                   encoding="utf-8")
    run = ussd("import", str(bad), "--db", db)
    assert run.code == 1 and run.out == ""
    assert len(run.err.splitlines()) == 3 and run.err.splitlines()[-1] == f"2 problem(s) in {bad}; nothing imported"
    assert show(ussd, db, msisdn="2250711111111") == before


def test_reimport_replaces_a_subscriber(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    run = ussd("import", str(FIXTURES / "replace.yaml"), "--db", db)
    assert (run.code, run.out, run.err) == (0, "imported 1 subscriber(s)\n", "")
    assert show(ussd, db) == {
        "msisdn": ACTIVE, "status": "active", "main": {"balance": 4000, "expires": "2027-02-28T23:59:59+00:00"},
        "credit": {}, "minutes": {},
        "internet": {"weekly": {"total": 1000, "next_expiry": "2026-12-01T00:00:00+00:00", "usable_now": True,
                                "lines": [line("Bonus Hebdo", None, 1000, "2026-12-01T00:00:00")]}},
        "favourites": [], "usage": None, "invoices": [], "internet_plus": None, "duplicates": [], "debits": [],
    }
    assert show(ussd, db, msisdn=INACTIVE)["main"]["balance"] == 35  # the others are left alone


def test_yaml_and_csv_imports_show_the_same(ussd: Ussd, tmp_path: Path) -> None:
    a, b = f"sqlite:///{tmp_path / 'y.db'}", f"sqlite:///{tmp_path / 'c.db'}"
    imported(ussd, a, FIXTURES / "small.yaml")
    imported(ussd, b, FIXTURES / "small.csv")
    for msisdn in ("2250711111111", "2250722222222", "2250733333333"):
        assert show(ussd, a, msisdn) == show(ussd, b, msisdn)


def test_import_syntax_error(ussd: Ussd, db: str) -> None:
    path = FIXTURES / "syntax_error.yaml"
    run = ussd("import", str(path), "--db", db)
    assert run.code == 1 and run.out == ""
    first, last = run.err.splitlines()
    assert re.match(rf"{re.escape(str(path))}:[0-9]+:[0-9]+: YAML syntax: ", first), first
    assert last == f"1 problem(s) in {path}; nothing imported"


def test_import_missing_file(ussd: Ussd, db: str, tmp_path: Path) -> None:
    run = ussd("import", str(tmp_path / "nope.yaml"), "--db", db)
    assert run.code == 1 and run.out == ""
    assert len(run.err.splitlines()) == 2


# -- grant ------------------------------------------------------------------------------------------------


def test_grant_adds_a_bucket(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    run = ussd("grant", ACTIVE, "--account", "internet", "--rubrique", "weekly", "--amount", "1000",
               "--expires", "2026-12-31T23:59:59", "--db", db)
    assert (run.code, run.err) == (0, ""), run
    assert run.out == f"granted 1000 internet/weekly to {ACTIVE} until 2026-12-31T23:59:59+00:00\n"
    run = ussd("grant", ACTIVE, "--account", "credit", "--rubrique", "monthly", "--scope", "intra",
               "--line", "credit_monthly", "--amount", "100", "--granted", "2026-11-20T00:00:00",
               "--expires", "2026-12-20T00:00:00", "--db", db)
    assert run.code == 0, run
    got = show(ussd, db)
    assert got["internet"]["weekly"] == {
        "total": 1000, "next_expiry": "2026-12-31T23:59:59+00:00", "usable_now": True,
        "lines": [line("Bonus Hebdo", None, 1000, "2026-12-31T23:59:59")]}
    assert got["credit"]["monthly"]["total"] == 850
    assert line("Crédit mensuel", "intra", 100, "2026-12-20T00:00:00") in got["credit"]["monthly"]["lines"]
    assert len(got["credit"]["monthly"]["lines"]) == 3  # where it stands is the rules' business (test_account_rules)
    # the rest is as it was
    expected = json.loads(json.dumps(EXPECTED_ACTIVE))
    got["internet"].pop("weekly")
    got["credit"]["monthly"] = expected["credit"]["monthly"]
    assert got == expected
    # not yet granted before its grant time
    assert show(ussd, db, at="2026-11-19T23:59:59")["credit"]["monthly"]["total"] == 750


@pytest.mark.parametrize("args", [
    ("--account", "internet", "--rubrique", "weekly", "--scope", "intra"),  # internet has no scope
    ("--account", "credit", "--rubrique", "monthly", "--scope", "international"),  # credit has no international
    ("--account", "credit", "--rubrique", "monthly"),  # credit needs one
    ("--account", "minutes", "--rubrique", "night", "--scope", "all"),  # not a minutes rubrique
])
def test_grant_with_bad_scope_or_rubrique_exits_2(ussd: Ussd, db: str, args: tuple[str, ...]) -> None:
    imported(ussd, db)
    before = show(ussd, db)
    run = ussd("grant", ACTIVE, *args, "--amount", "10", "--expires", "2026-12-31T00:00:00", "--db", db)
    assert run.code == 2
    assert run.out == ""
    assert len(run.err.splitlines()) == 1
    assert show(ussd, db) == before


def test_grant_negative_amount_and_granted_after_expiry_exit_2(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    base = ("grant", ACTIVE, "--account", "internet", "--rubrique", "weekly", "--db", db)
    run = ussd(*base, "--amount", "-1", "--expires", "2026-12-31T00:00:00")
    assert (run.code, run.err) == (2, "--amount must not be negative\n")
    run = ussd(*base, "--amount", "1", "--expires", "2026-12-31T00:00:00", "--granted", "2026-12-31T00:00:00")
    assert (run.code, run.err) == (2, "--granted must be before --expires\n")


def test_grant_to_unknown_subscriber(ussd: Ussd, db: str) -> None:
    imported(ussd, db)
    run = ussd("grant", STRANGER, "--account", "internet", "--rubrique", "weekly", "--amount", "1",
               "--expires", "2026-12-31T00:00:00", "--db", db)
    assert (run.code, run.out, run.err) == (1, "", f"unknown subscriber {STRANGER}\n")


# -- databases ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("show", ACTIVE), ("import", str(DEMO)), ("migrate",),
                                     ("grant", ACTIVE, "--account", "internet", "--rubrique", "weekly",
                                      "--amount", "1", "--expires", "2026-12-31T00:00:00")])
def test_unknown_database_url(ussd: Ussd, command: tuple[str, ...]) -> None:
    run = ussd(*command, "--db", "nosuch://x")
    assert run.code == 1
    assert run.out == ""
    assert run.err == ("unknown database URL 'nosuch://x': expected sqlite:///PATH, postgresql://... or memory:\n")


def test_unreachable_postgres_is_one_line(ussd: Ussd) -> None:
    run = ussd("show", ACTIVE, "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert run.code == 1 and run.out == ""
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert run.err.startswith("cannot connect to postgresql://nobody@127.0.0.1:1/none")


SECRET = "secretpw"
GRANT = ("grant", ACTIVE, "--account", "internet", "--rubrique", "weekly", "--amount", "1",
         "--expires", "2026-12-31T00:00:00")


def assert_secret_kept(run: Run, *secrets: str) -> None:
    for secret in (SECRET, *secrets):
        assert secret not in run.out and secret not in run.err, run


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@127.0.0.1:1/x",
    f"postgresql://:{SECRET}@127.0.0.1:1/x",  # no user name
    f"postgresql://u@127.0.0.1:1/x?password={SECRET}",  # libpq's parameter
    f"postgresql://u:{SECRET}%zz@127.0.0.1:1/x",  # a bad escape, which libpq's message quotes
    f"nosuch://u:{SECRET}@127.0.0.1:1/x",  # an unknown kind of database, quoted in the message
])
def test_a_database_password_is_never_printed(ussd: Ussd, url: str) -> None:
    run = ussd("show", ACTIVE, "--db", url)
    assert run.code == 1 and run.out == "" and len(run.err.splitlines()) == 1, run
    assert "127.0.0.1:1/x" in run.err  # the message still says which database
    assert_secret_kept(run, f"{SECRET}%zz")


@pytest.mark.parametrize("command", [("import", str(DEMO)), ("migrate",), ("list",), GRANT])
def test_no_command_prints_a_database_password(ussd: Ussd, command: tuple[str, ...]) -> None:
    run = ussd(*command, "--db", f"postgresql://:{SECRET}@127.0.0.1:1/x")
    assert run.code == 1, run
    assert_secret_kept(run)


def test_the_database_from_the_environment_is_redacted_too(ussd: Ussd) -> None:
    ussd.env["USSD_DB"] = f"postgresql://u@127.0.0.1:1/x?password={SECRET}"
    run = ussd("show", ACTIVE)
    assert run.code == 1 and "127.0.0.1:1/x" in run.err, run
    assert_secret_kept(run)


@pytest.mark.parametrize("form", ["user", "parameter"])
def test_migrate_names_its_database_without_the_password(ussd: Ussd, pg_url: str, form: str) -> None:
    """The server here trusts local connections, so a password in the URL is accepted and ignored."""
    if form == "user":
        url = re.sub(r"://([^:@/]+)@", rf"://\1:{SECRET}@", pg_url, count=1)
    else:
        url = f"{pg_url}&password={SECRET}"
    assert SECRET in url
    run = ussd("migrate", "--db", url)
    assert (run.code, run.err) == (0, ""), run
    assert run.out.startswith("schema ready in postgresql://") and "127.0.0.1" in run.out, run
    assert_secret_kept(run)


def test_sqlite_and_postgresql_show_the_same(ussd: Ussd, db: str, pg_url: str) -> None:
    run = ussd("migrate", "--db", pg_url)
    assert run.code == 0 and run.err == "", run
    assert run.out.startswith("schema ready in ")
    for url in (db, pg_url):
        imported(ussd, url)
    for msisdn in (ACTIVE, INACTIVE, "2250709080706"):
        for at in (AT, "2026-11-28T03:00:00"):
            assert show(ussd, pg_url, msisdn, at) == show(ussd, db, msisdn, at)
    assert show(ussd, pg_url) == EXPECTED_ACTIVE
    assert ussd("list", "--db", pg_url) == ussd("list", "--db", db)
    # and the same after a grant and a failed import
    grant = ("grant", ACTIVE, "--account", "minutes", "--rubrique", "weekend", "--scope", "all", "--amount", "60",
             "--expires", "2026-12-31T00:00:00")
    for url in (db, pg_url):
        assert ussd(*grant, "--db", url).code == 0
        assert ussd("import", str(FIXTURES / "two_bad.yaml"), "--db", url).code == 1
    assert show(ussd, pg_url) == show(ussd, db)
    assert show(ussd, pg_url)["minutes"]["weekend"]["lines"] == [line("WES Tous Réseaux", "all", 60,
                                                                      "2026-12-31T00:00:00")]


def test_postgresql_reimport_replaces(ussd: Ussd, pg_url: str) -> None:
    assert ussd("migrate", "--db", pg_url).code == 0
    assert ussd("migrate", "--db", pg_url).code == 0  # twice is fine
    imported(ussd, pg_url)
    imported(ussd, pg_url, FIXTURES / "replace.yaml")
    assert show(ussd, pg_url)["main"]["balance"] == 4000
    assert show(ussd, pg_url)["credit"] == {}


def test_postgresql_show_before_migrate_is_one_line(ussd: Ussd, pg_url: str) -> None:
    run = ussd("show", ACTIVE, "--db", pg_url)
    assert run.code == 1 and run.out == ""
    assert len(run.err.splitlines()) == 1 and "has no schema: run `ussd accounts migrate --db URL`" in run.err


@pytest.mark.parametrize("command", [
    ("import", str(DEMO)),
    ("grant", ACTIVE, "--account", "internet", "--rubrique", "weekly", "--amount", "1",
     "--expires", "2026-12-31T00:00:00"),
])
def test_postgresql_writes_before_migrate_are_one_line(ussd: Ussd, pg_url: str, command: tuple[str, ...]) -> None:
    """BUG: accounts/postgres.py `_write` does not turn psycopg.errors.UndefinedTable into StoreError
    (only `_read` does), so `import` and `grant` before `migrate` crash with a traceback."""
    done = subprocess.run([USSD, "accounts", *command, "--db", pg_url], capture_output=True, cwd=ROOT,
                          timeout=60, env=ussd.env)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in err
    assert done.returncode == 1 and out == ""
    assert len(err.splitlines()) == 1, err


def test_show_of_an_instant_past_year_9999_does_not_crash(ussd: Ussd, db: str, tmp_path: Path) -> None:
    """BUG: the importer accepts `9999-12-31T23:59:59-01:00` (year 10000 in UTC); `show` then fails
    in accounts/resolve.py iso() -> datetime.fromtimestamp: ValueError, with a traceback."""
    path = tmp_path / "far.yaml"
    path.write_text(
        "subscribers:\n"
        "  - {msisdn: '2250701020399', status: active, offer: {name: x, type: prepaid},\n"
        "     main: {balance: 1, expires: '9999-12-31T23:59:59-01:00'}}\n", encoding="utf-8")
    run = subprocess.run([USSD, "accounts", "import", str(path), "--db", db], capture_output=True, cwd=ROOT,
                         timeout=60, env=ussd.env)
    if run.returncode == 1:
        assert b"Traceback" not in run.stderr
        return  # refused at import: fine
    done = subprocess.run([USSD, "accounts", "show", "2250701020399", "--json", "--db", db], capture_output=True,
                          cwd=ROOT, timeout=60, env=ussd.env)
    assert b"Traceback" not in done.stderr
    assert done.returncode in (0, 1)


# -- what the other screens show: favourites, usage, invoices, internet+, duplicates, debits -----------

SERVED = "2250712121212"  # tests/accounts/services.yaml


def at(text: str) -> int:
    """An operator-time (UTC+0) instant as the store keeps it."""
    return int(datetime.fromisoformat(text + "+00:00").timestamp())


@pytest.fixture
def served(ussd: Ussd, db: str) -> str:
    """``db`` with the services fixture and three debits (one after ``AT``)."""
    imported(ussd, db, FIXTURES / "services.yaml")
    with open_store(db) as store:
        store.debit(SERVED, "s1:pass-jour", 1000, at=at("2026-11-24T10:00:00"))
        store.debit(SERVED, "s2:pass-mois", 99999, at=at("2026-11-25T09:00:00"))
        store.debit(SERVED, "s3:pass-jour", 1000, at=at("2026-11-26T10:00:00"))
    return db


def test_show_json_adds_what_the_other_screens_show_as_of_at(ussd: Ussd, served: str) -> None:
    got = show(ussd, served, SERVED)
    assert list(got) == ["msisdn", "status", "main", "credit", "minutes", "internet", *SERVICE_KEYS]
    assert {key: got[key] for key in SERVICE_KEYS} == {
        "favourites": ["2250705060708", "2250101010101"],
        "usage": {"since": "2026-10-26T00:00:00+00:00", "voice": 600, "sms": 3, "data": 1048576, "spend": 900},
        "invoices": [  # newest first; December's is not issued yet
            {"month": "2026-11", "amount": 18500, "issued": "2026-11-01T08:00:00+00:00",
             "due": "2026-11-15T23:59:59+00:00", "paid": False, "overdue": True},
            {"month": "2026-10", "amount": 17250, "issued": "2026-10-01T08:00:00+00:00",
             "due": "2026-10-15T23:59:59+00:00", "paid": True, "overdue": False},
        ],
        "internet_plus": {"active": False, "purchases": [
            {"at": "2026-11-20T14:03:00+00:00", "merchant": "Jeux Mobiles", "amount": 500},
            {"at": "2026-11-02T09:30:00+00:00", "merchant": "Musique Premium", "amount": 1500},
        ]},
        "duplicates": [{"month": "2026-10", "at": "2026-11-10T09:00:00+00:00"}],
        "debits": [
            {"request_id": "s2:pass-mois", "amount": 99999, "outcome": "insufficient_funds", "balance": 4000,
             "at": "2026-11-25T09:00:00+00:00"},
            {"request_id": "s1:pass-jour", "amount": 1000, "outcome": "success", "balance": 4000,
             "at": "2026-11-24T10:00:00+00:00"},
        ],
    }
    assert got["main"]["balance"] == 3000  # the debit after AT is in the store, only not shown at AT


def test_show_at_an_earlier_instant_shows_less(ussd: Ussd, served: str) -> None:
    got = show(ussd, served, SERVED, at="2026-11-10T12:00:00")
    assert [(i["month"], i["overdue"]) for i in got["invoices"]] == [("2026-11", False), ("2026-10", False)]
    assert [p["merchant"] for p in got["internet_plus"]["purchases"]] == ["Musique Premium"]
    assert got["duplicates"] == [{"month": "2026-10", "at": "2026-11-10T09:00:00+00:00"}]
    assert got["debits"] == []
    later = show(ussd, served, SERVED, at="2026-12-02T00:00:00")
    assert [i["month"] for i in later["invoices"]] == ["2026-12", "2026-11", "2026-10"]
    assert [d["request_id"] for d in later["debits"]] == ["s3:pass-jour", "s2:pass-mois", "s1:pass-jour"]
    assert [d["month"] for d in later["duplicates"]] == ["2026-11", "2026-10"]


def test_show_text_adds_the_same_after_the_bonus(ussd: Ussd, served: str) -> None:
    run = ussd("show", SERVED, "--at", AT, "--db", served)
    assert (run.code, run.err) == (0, "")
    assert run.out.splitlines()[2:] == [
        "no bonus",
        "favourite 2250705060708",
        "favourite 2250101010101",
        "usage     since 2026-10-26T00:00:00+00:00: 600 s voice, 3 SMS, 1048576 B data, 900 F spent",
        "invoice   2026-11       18500 F  issued 2026-11-01T08:00:00+00:00  due 2026-11-15T23:59:59+00:00  "
        "unpaid, overdue",
        "invoice   2026-10       17250 F  issued 2026-10-01T08:00:00+00:00  due 2026-10-15T23:59:59+00:00  paid",
        "internet+ inactive, 2 purchase(s)",
        "    2026-11-20T14:03:00+00:00  Jeux Mobiles                    500 F",
        "    2026-11-02T09:30:00+00:00  Musique Premium                1500 F",
        "duplicate 2026-10  asked 2026-11-10T09:00:00+00:00",
        "debit     s2:pass-mois  insufficient_funds  99999 F  balance 4000  2026-11-25T09:00:00+00:00",
        "debit     s1:pass-jour  success  1000 F  balance 4000  2026-11-24T10:00:00+00:00",
    ]


# -- numbers as subscribers write them ---------------------------------------------------------------

@pytest.mark.parametrize("written", ["2250701020304", "+2250701020304", "002250701020304", "225 07 01 02 03 04",
                                     "07 01 02 03 04", "0701020304", "+225 07.01.02.03.04"])
def test_show_and_grant_read_a_number_however_it_is_written(ussd: Ussd, db: str, written: str) -> None:
    imported(ussd, db)
    assert show(ussd, db, written)["msisdn"] == ACTIVE
    run = ussd("grant", written, "--account", "internet", "--rubrique", "weekly", "--amount", "7",
               "--expires", "2026-12-31T00:00:00", "--db", db)
    assert (run.code, run.err) == (0, ""), run
    assert run.out.startswith(f"granted 7 internet/weekly to {ACTIVE} ")
    assert show(ussd, db)["internet"]["weekly"]["total"] == 7


@pytest.mark.parametrize("command", ["show", "grant"])
@pytest.mark.parametrize("written", ["07", "abc", "+33612345678", "22507010203045", "07 01 02 03 0٤"])
def test_a_number_that_cannot_be_read_is_one_line_and_exit_2(ussd: Ussd, db: str, command: str,
                                                             written: str) -> None:
    imported(ussd, db)
    extra = ("--account", "internet", "--rubrique", "weekly", "--amount", "7", "--expires", "2026-12-31T00:00:00")
    run = ussd(command, written, *(extra if command == "grant" else ()), "--db", db)
    assert (run.code, run.out) == (2, "")
    assert run.err.count("\n") == 1 and run.err.startswith(f"MSISDN {written!r}: not a number; expected "), run.err
    assert show(ussd, db)["internet"] == EXPECTED_ACTIVE["internet"]  # nothing granted


# -- list --------------------------------------------------------------------------------------------

def demo_listing(status: str | None = None) -> list[str]:
    """``list``'s lines for the demo population, worked out from the file."""
    records = yaml.safe_load(DEMO.read_text(encoding="utf-8"))["subscribers"]
    return [f"{r['msisdn']}\t{r['status']}\t{r['offer']['name']}\t{r['offer']['type']}"
            for r in sorted(records, key=lambda r: r["msisdn"]) if status in (None, r["status"])]


def test_list_gives_one_line_per_subscriber_and_the_count_on_stderr(ussd: Ussd, db: str) -> None:
    run = ussd("list", "--db", db)
    assert (run.code, run.out, run.err) == (0, "", "0 subscriber(s)\n")
    imported(ussd, db)
    run = ussd("list", "--db", db)
    assert run.code == 0 and run.out.splitlines() == demo_listing()
    assert run.err == f"{demo_count()} subscriber(s)\n"
    assert "2250709080706\tactive\tIntense Pro\tpostpaid" in run.out.splitlines()


@pytest.mark.parametrize("status", ["active", "inactive", "deactivated"])
def test_list_of_one_status(ussd: Ussd, db: str, status: str) -> None:
    imported(ussd, db)
    run = ussd("list", "--status", status, "--db", db)
    expected = demo_listing(status)
    assert expected and (run.code, run.out.splitlines(), run.err) == (0, expected, f"{len(expected)} subscriber(s)\n")


def test_list_of_an_unknown_status_is_a_usage_error(ussd: Ussd, db: str) -> None:
    run = ussd("list", "--status", "suspended", "--db", db)
    assert run.code == 2 and run.out == "" and "invalid choice: 'suspended'" in run.err


# -- --db memory: ------------------------------------------------------------------------------------

def test_memory_is_a_fresh_demo_copy_for_every_command(ussd: Ussd, tmp_path: Path) -> None:
    assert show(ussd, "memory:") == EXPECTED_ACTIVE
    run = ussd("list", "--db", "memory:")
    assert (run.code, run.out.splitlines()) == (0, demo_listing())
    run = ussd("grant", "07 01 02 03 04", "--account", "internet", "--rubrique", "weekly", "--amount", "7",
               "--expires", "2026-12-31T00:00:00", "--db", "memory:")
    assert (run.code, run.err) == (0, ""), run
    assert show(ussd, "memory:") == EXPECTED_ACTIVE  # the grant went with its copy
    run = ussd("import", str(FIXTURES / "replace.yaml"), "--db", "memory:")
    assert (run.code, run.out) == (0, "imported 1 subscriber(s)\n")
    assert (ussd("migrate", "--db", "memory:").code, ussd("show", STRANGER, "--db", "memory:").code) == (0, 1)
    assert not (tmp_path / "xdg").exists()  # the embedded file was never touched
