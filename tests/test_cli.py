"""The ``ussd`` console script, run for real: exit statuses, what goes where, never a traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from console import USSD, Run, ussd

AT = "2026-11-25T10:00:00"
ACTIVE = "2250701020304"
INACTIVE = "2250700000001"
STRANGER = "2250799999999"
PROBLEM = re.compile(r"^[^\s:][^:]*\.ya?ml:\d+:\d+: \S.*$")




def dial(msisdn: str, *replies: str, extra: tuple[str, ...] = ()) -> Run:
    stdin = "".join(f"{r}\n" for r in replies)
    return ussd("dial", "#122#", "--msisdn", msisdn, "--at", AT, *extra, stdin=stdin)


@dataclass
class Screen:
    status: str  # CON or END
    rows: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.rows)


def screens(out: str) -> list[Screen]:
    """The framed screens printed by the handset: rows between the box edges, then a status line."""
    found: list[Screen] = []
    rows: list[str] = []
    for line in out.splitlines():
        if line.startswith(("│ ", "| ")):
            rows.append(line[2:-2].rstrip())
        elif line.startswith((" CON ", " END ")):
            found.append(Screen(line.split()[0], rows))
            rows = []
    return found


def status_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith((" CON ", " END "))]


def test_console_script_is_installed() -> None:
    assert Path(USSD).is_file()


# -- ussd check ------------------------------------------------------------------------------------

def test_check_shipped_menus_is_ok() -> None:
    run = ussd("check")
    assert run.code == 0, run.err
    assert len(run.lines) == 1 and run.lines[0].startswith("ok:")
    assert re.match(r"^ok: 1 service\(s\) \(#122#\), 46 screens, 7 file\(s\); 1 policy file\(s\); "
                    r"1 catalogue file\(s\); 1 subscribers file\(s\); 1 config file\(s\)$", run.lines[0])
    assert run.err == ""


def test_check_broken_menus_lists_every_problem() -> None:
    run = ussd("check", "tests/menus/broken")
    assert run.code == 1
    assert len(run.lines) == 25
    for line in run.lines:
        assert PROBLEM.match(line), line
        assert line.startswith(("tests/menus/broken/main.yaml:", "tests/menus/broken/extra.yaml:"))
    assert "tests/menus/broken/main.yaml:16:15: no screen 'balanse'" in run.lines
    assert run.err.strip() == "25 problem(s) in 2 file(s)"
    assert run.no_traceback()


def test_check_a_missing_folder() -> None:
    run = ussd("check", "nonexistent/")
    assert run.code == 1
    assert run.lines == ["nonexistent:1:1: no such file or folder"]
    assert run.no_traceback()


def test_check_a_path_too_long_for_the_file_system() -> None:
    run = ussd("check", "x" * 300)  # longer than NAME_MAX: stat() fails with ENAMETOOLONG
    assert run.no_traceback(), run.err[-300:]
    assert run.code == 1
    assert len(run.lines) == 1 and run.lines[0].startswith("x" * 300 + ":1:1: ")


def test_check_a_good_and_a_bad_case_file_together() -> None:
    run = ussd("check", "tests/menus/cases/undefined_var.yaml", "tests/menus/cases/ucs2_long.yaml")
    assert run.code == 1 and len(run.lines) == 2
    assert all(PROBLEM.match(line) for line in run.lines)


@pytest.mark.parametrize("case", ["complex_key.yaml", "dynamic_more.yaml", "include_nul.yaml"])
def test_check_never_shows_a_traceback(case: str) -> None:
    # The CLI promises one clear message per problem and an exit status, never a traceback.
    run = ussd("check", f"tests/menus/cases/{case}")
    assert run.no_traceback(), run.err[-400:]
    assert run.code in (0, 1)
    assert all(PROBLEM.match(line) or line.startswith("ok:") for line in run.lines)


# -- ussd dial -------------------------------------------------------------------------------------

def test_dial_one_reply_shows_two_screens() -> None:
    run = dial(ACTIVE, "1")
    assert run.code == 0, run.err
    assert len(status_lines(run.out)) == 2
    first, second = screens(run.out)
    assert first.status == "CON" and "Bonus Crédit" in first.text
    assert "1. Bonus Crédit" in first.rows
    assert second.rows[0].startswith("Bonus Crédit:")
    assert "> 1" in run.lines  # the piped reply is echoed
    assert "(hung up: no more replies)" in run.out
    assert run.no_traceback()


@pytest.mark.parametrize("replies", [(), ("1",), ("1", "2", "00"), ("abc", "98", "0")])
def test_inactive_subscriber_gets_one_end_screen_whatever_is_piped(replies: tuple[str, ...]) -> None:
    run = dial(INACTIVE, *replies)
    assert run.code == 0, run.err
    shown = screens(run.out)
    assert len(shown) == 1 and shown[0].status == "END"
    assert shown[0].rows[0].startswith("Compte principal")
    assert "(hung up" not in run.out and "> " not in run.out  # no reply was read
    assert run.no_traceback()


def test_lang_en_gives_english() -> None:
    run = dial(ACTIVE, "1", extra=("--lang", "en"))
    assert run.code == 0, run.err
    first, second = screens(run.out)
    assert "1. Credit bonus" in first.rows and "Bonus Crédit" not in run.out
    assert second.rows[0].startswith("Credit bonus:")
    inactive = screens(dial(INACTIVE, extra=("--lang", "en")).out)
    assert len(inactive) == 1 and inactive[0].rows[0].startswith("Main account")


def test_dial_lang_outside_the_choices_is_misuse() -> None:
    run = dial(ACTIVE, extra=("--lang", "de"))
    assert run.code == 2 and "--lang" in run.err and run.no_traceback()
    assert status_lines(run.out) == []


def test_at_that_is_not_an_instant() -> None:
    run = ussd("dial", "#122#", "--msisdn", ACTIVE, "--at", "notatime")
    assert run.code == 2
    assert "not an ISO 8601 instant: 'notatime'" in run.err
    assert run.out == "" and run.no_traceback()


@pytest.mark.parametrize("at", ["9999-12-26T00:00", "0001-06-01T00:00", "1969-12-31T23:59"])
def test_at_outside_the_years_dates_can_be_counted_in(at: str) -> None:
    run = ussd("dial", "#122#", "--msisdn", ACTIVE, "--at", at, "--db", "memory:", stdin="8\n")
    assert run.code == 2 and "outside the years 1970 to 9998" in run.err
    assert run.out == "" and run.no_traceback()


def test_unknown_msisdn_gets_the_polite_end_screen() -> None:
    run = dial(STRANGER, "1")
    assert run.code == 0, run.err
    shown = screens(run.out)
    assert len(shown) == 1 and shown[0].status == "END"
    assert "Ce service est réservé aux clients Orange." in shown[0].text
    assert "Merci de votre visite." in shown[0].text
    assert run.no_traceback()


def test_dial_with_broken_menus_refuses() -> None:
    run = ussd("dial", "#122#", "--msisdn", ACTIVE, "--menus", "tests/menus/broken", stdin="1\n")
    assert run.code == 1
    assert status_lines(run.out) == []
    assert "tests/menus/broken/main.yaml:16:15: no screen 'balanse'" in run.err.splitlines()
    assert "the menus have problems" in run.err
    assert run.no_traceback()


def test_empty_stdin_shows_the_first_screen_then_hangs_up() -> None:
    run = dial(ACTIVE)
    assert run.code == 0, run.err
    shown = screens(run.out)
    assert len(shown) == 1 and shown[0].status == "CON" and shown[0].rows[0] == "#122# Orange"
    assert run.lines[-1].startswith("(hung up")
    assert run.no_traceback()


def test_dial_a_code_nobody_serves() -> None:
    run = ussd("dial", "#999#", "--msisdn", ACTIVE, "--at", AT, stdin="1\n")
    assert run.code == 0, run.err
    shown = screens(run.out)
    assert len(shown) == 1 and shown[0].status == "END" and "pas disponible" in shown[0].text


def screen_ids(out: str) -> list[str | None]:
    """The engine's screen id at the end of each status line (None where the screen has none)."""
    return [line.split(" · ")[2] if line.count(" · ") == 2 else None for line in status_lines(out)]


@pytest.mark.parametrize("msisdn", ["+2250701020304", "002250701020304", "225 07 01 02 03 04", "0701020304",
                                    "07 01 02 03 04"])
def test_msisdn_in_any_form_the_network_delivers(msisdn: str) -> None:
    run = dial(msisdn, "1")
    assert run.code == 0, run.err
    assert screen_ids(run.out) == ["home", "bonus_credit"]  # the active demo subscriber, not a stranger


@pytest.mark.parametrize("msisdn", ["12345", "2260701020304", "07O1020304", "+"])
def test_msisdn_that_cannot_be_read_is_misuse(msisdn: str) -> None:
    run = dial(msisdn, "1")
    assert run.code == 2 and run.out == "" and run.no_traceback()
    assert run.err == (f"--msisdn: not a phone number: {msisdn!r} (expected +225…, 00225…, 225… "
                       "or the 10-digit national number)\n")


@pytest.mark.parametrize("option", ["--idle-timeout", "--max-duration"])
@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_session_limits_must_be_positive_seconds(option: str, value: str) -> None:
    run = dial(ACTIVE, "1", extra=(option, value))
    assert run.code == 2 and run.out == "" and run.no_traceback()
    assert len(run.err.splitlines()) == 1, run.err
    assert option in run.err and f"expected a number of seconds above 0, found {value!r}" in run.err


def test_a_clock_line_past_the_idle_timeout_gives_the_expired_screen() -> None:
    run = dial(ACTIVE, "1", "@+90s", "0")
    assert run.code == 0, run.err
    assert screen_ids(run.out) == ["home", "bonus_credit", None]
    assert status_lines(run.out)[-1].startswith(" END ")
    assert "> @+90s" in run.lines and "(clock: 2026-11-25T10:01:30+00:00)" in run.lines


def test_idle_timeout_and_max_duration_set_the_session_limits() -> None:
    longer = dial(ACTIVE, "1", "@+90s", "0", extra=("--idle-timeout", "120"))
    assert longer.code == 0, longer.err
    assert screen_ids(longer.out) == ["home", "bonus_credit", "home"]
    short = dial(ACTIVE, "1", "@+20s", "0", "@+20s", "1", extra=("--max-duration", "30"))
    assert screen_ids(short.out) == ["home", "bonus_credit", "home", None]


def test_a_clock_line_sets_the_instant_and_a_bad_one_is_not_sent() -> None:
    run = dial(ACTIVE, "@2026-11-25T10:00:30", "@tomorrow", "@2026-11-25T10:00:10", "1")
    assert run.code == 0, run.err
    assert screen_ids(run.out) == ["home", "bonus_credit"]  # 30 s on: still live; the bad lines not sent
    notes = [line for line in run.lines if line.startswith("(clock")]
    assert notes[0] == "(clock: 2026-11-25T10:00:30+00:00)"
    assert notes[1].startswith("(clock line @tomorrow not understood: after @ give +90s")
    assert notes[2].startswith("(clock not moved: 2026-11-25T10:00:10+00:00 is before 2026-11-25T10:00:30+00:00")
    assert len(notes) == 3
    later = dial(ACTIVE, "@2026-11-28T00:00", "1")  # days later: long past the idle timeout
    assert screen_ids(later.out) == ["home", None]
