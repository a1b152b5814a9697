"""QA transcripts: replaying YAML dialogues, reporting mismatches, rejecting bad files, recording walks."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from console import ROOT, ussd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.export import subscriber_record
from accounts.policy import load_policy
from simulator.demo import demo_store
from simulator.transcript import SCHEMA_FILE, TranscriptError, load_transcript, run_transcript

CASES = Path(__file__).resolve().parent / "transcript_cases"
AT = "2026-11-25T10:00:00"
ACTIVE = "2250701020304"




def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


QA_MENUS = CASES / "_menus"  # a small service (#124#) of these tests, unlike the shipped menus

#: The shipped menu: only what the brief calls stable (home title and option 1, Bonus Crédit total).
BONUS_WALK = f"""\
name: bonus walk
subscriber: "{ACTIVE}"
at: "{AT}"
steps:
  - expect:
      lines: ["#122# Orange", "1. Bonus Crédit"]
      screen: home
  - reply: "1"
    expect:
      lines: ["Bonus Crédit: 1 050 F (+1 000 F utilisable le week-end)"]
      screen: bonus_credit
      end: false
"""

#: The test service, as a subscriber of one's own whose 300 F bucket expires at 10:00:20.
EXPIRING = f"""\
subscriber: "2250711111111"
at: "2026-11-25T10:00:00"
code: "#124#"
menus: {QA_MENUS}
subscribers:
  - msisdn: "2250711111111"
    status: active
    offer: {{name: "Mix Découverte", type: prepaid}}
    main: {{balance: 100, expires: "2027-01-31T23:59:59"}}
    buckets:
      - {{account: credit, rubrique: monthly, scope: all, amount: 300, expires: "2026-11-25T10:00:20"}}
      - {{account: credit, rubrique: omoney, scope: all, amount: 200, expires: "2026-12-05T23:59:59"}}
steps:
  - expect: {{screen: home}}
  - reply: "2"
    expect: {{lines: ["Bonus Crédit: 500 F"]}}
  - reply: "0"
    AT_LINE
    expect: {{screen: home}}
  - reply: "2"
    expect: {{lines: ["Bonus Crédit: 200 F"], absent: ["500 F"]}}
"""

#: The test service, as the one subscriber of a small accounts file (1 200 F, no bonus).
BUYER = "2250722222222"
TERMS_HEAD = f"""\
subscriber: "{BUYER}"
accounts: {CASES / "_accounts" / "buyer.yaml"}
at: "{AT}"
code: "#124#"
menus: {QA_MENUS}
"""


# -- passing and failing -------------------------------------------------------------------------


def test_the_shipped_cases_pass_and_the_summary_counts_them() -> None:
    run = ussd("transcript", str(CASES))
    assert run.code == 0, run.out + run.err
    assert "PASS Bonus Crédit, active subscriber, fr" in run.lines
    assert run.lines[-1] == "4 passed, 0 failed"  # _accounts/ and _menus/ hold fixtures, not transcripts


def test_a_walk_of_the_shipped_menu_passes_in_process(tmp_path: Path) -> None:
    result = run_transcript(load_transcript(write(tmp_path, "walk.yaml", BONUS_WALK)))
    assert result.passed, result.report()
    assert [o.response.screen for o in result.outcomes] == ["home", "bonus_credit"]
    assert result.outcomes[1].response.text.startswith("Bonus Crédit: 1 050 F (+1 000 F")


def test_paging_is_replayed_and_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "terms.yaml", TERMS_HEAD + """\
steps:
  - expect: {screen: home}
  - reply: "4"
    expect: {screen: terms, page: 1, pages: 2, lines: ["98. Suite"]}
  - reply: "98"
    expect: {screen: terms, page: 2, absent: ["98. Suite"], contains: ["dimanche."]}
  - reply: "98"
    expect: {page: 2, lines: ["Choix invalide."]}
  - reply: 00
    expect: {screen: home}
""")
    t = load_transcript(path)
    assert [s.reply for s in t.steps] == [None, "4", "98", "98", "00"]  # replies are read as written
    result = run_transcript(t)
    assert result.passed, result.report()
    assert [o.response.page for o in result.outcomes] == [1, 1, 2, 2, 1]


def test_a_wrong_expected_text_fails_with_a_diff(tmp_path: Path) -> None:
    path = write(tmp_path, "wrong.yaml", "name: wrong page 2\n" + TERMS_HEAD + """\
steps:
  - expect: {screen: home}
  - reply: "4"
  - reply: "98"
    expect:
      text: |
        Les pass achetés sont débités du compte principal. Les bonus du week-end sont utilisables tous les jours.
        0 Retour 00 Accueil
""")
    run = ussd("transcript", str(path))
    assert run.code == 1 and run.no_traceback()
    assert run.lines[0] == "FAIL wrong page 2"
    assert f"  {path}: step 3 (reply '98'): the text differs" in run.lines
    diff = run.lines[run.lines.index("    --- expected"):-1]
    assert diff == [
        "    --- expected",
        "    +++ actual (terms, page 2/2, CON)",
        "    @@ -1,2 +1,3 @@",
        "    -Les pass achetés sont débités du compte principal. Les bonus du week-end sont utilisables tous les "
        "jours.",
        "    +ni utilisable. Les pass achetés sont débités du compte principal. Les bonus du week-end ne sont "
        "utilisables que le samedi et le",
        "    +dimanche.",
        "     0 Retour 00 Accueil",
    ]
    assert run.lines[-1] == "0 passed, 1 failed"


def test_missing_lines_and_present_absent_text_are_named_with_the_actual_screen(tmp_path: Path) -> None:
    path = write(tmp_path, "lines.yaml", TERMS_HEAD + """\
steps:
  - expect: {screen: home}
  - reply: "1"
    expect:
      lines: ["Solde: 1 200"]
      contains: ["Solde : 1 200 F"]
      absent: ["Solde"]
      screen: balance
      end: true
""")
    run = ussd("transcript", str(path))
    assert run.code == 1 and run.no_traceback()
    head = f"  {path}: step 2 (reply '1'): "
    assert run.lines == [
        "FAIL lines.yaml",
        head + "missing line 'Solde: 1 200'",
        head + "missing text 'Solde : 1 200 F'",
        head + "text present that must be absent: 'Solde'",
        head + "the dialogue goes on, expected it to end here",
        "    actual screen (balance, page 1/1, CON):",
        "    | Solde: 1 200 F",
        "    | 0 Retour 00 Accueil",
        "0 passed, 1 failed",
    ]


def test_a_reply_after_an_unexpected_end_fails_the_step(tmp_path: Path) -> None:
    stranger = TERMS_HEAD.replace(BUYER, "2250799999999")
    path = write(tmp_path, "ended.yaml", stranger + """\
steps:
  - expect: {contains: ["inconnu"]}
  - reply: "1"
  - reply: "2"
""")
    result = run_transcript(load_transcript(path))
    assert not result.passed and len(result.outcomes) == 2
    assert result.outcomes[-1].problems == ["the dialogue ended at step 1: this reply cannot be sent"]
    assert result.outcomes[-1].response.text == "Numéro inconnu."
    assert result.report().splitlines()[-1] == f"  {path}: step 3 not played"


# -- invalid transcript files --------------------------------------------------------------------

GOOD_HEAD = f'subscriber: "{ACTIVE}"\nat: "{AT}"\n'


STEP_AT_FORMS = ("+90s, +5m, +2h, +1d, +1h30m or an ISO 8601 instant like 2026-11-28T00:00 "
                 "(years 1970 to 9998)")
INSTANT_FORM = "an ISO 8601 instant like 2026-11-25T10:30:00 (years 1970 to 9998)"


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD_HEAD + 'steps:\n  - expect: {screen: home}\n  - reply: "1"\n  - reply: "0"\n    expct: {screen: home}\n',
         "t.yaml:7:5: step 3: unknown key 'expct' (did you mean 'expect'?); expected one of: reply, at, expect"),
        ('subscriber: "2250700000001"\nat: "2026-11-25T10:00:00"\nsteps:\n'
         '  - expect: {end: true}\n  - reply: "1"\n',
         "t.yaml:5:5: step 2: a reply after the dialogue ended (step 1 expects end: true)"),
        (f'subscriber: "{ACTIVE}"\nat: "25/11/2026 10:00"\nsteps:\n  - expect: {{screen: home}}\n',
         f"t.yaml:2:5: at: expected {INSTANT_FORM}, not '25/11/2026 10:00'"),
        (GOOD_HEAD + 'steps:\n  - expect: {screen: home}\n  - reply: "1"\n    at: "tomorrow"\n',
         f"t.yaml:6:9: step 2 at: expected {STEP_AT_FORMS}, not 'tomorrow'"),
        (f'at: "{AT}"\nsteps:\n  - expect: {{screen: home}}\n',
         "t.yaml:1:1: file: missing 'subscriber' (the number that dials, e.g. \"2250701020304\", in any form the "
         "network delivers: +225…, 00225…, 225… or the national 10 digits)"),
        (GOOD_HEAD + "steps:\n  - expect: {screen: home}\n  - reply: \"1\"\n    expect: [\n",
         "t.yaml:7:1: YAML syntax: expected the node content, but found '<stream end>'"),
        (GOOD_HEAD + "steps:\n  - reply: \"1\"\n",
         "t.yaml:4:5: step 1: the first step is the screen after dialling: it takes no 'reply'"),
        (GOOD_HEAD + "steps:\n  - expect: {screen: home}\n  - expect: {screen: home}\n",
         "t.yaml:5:5: step 2: missing 'reply' (what the subscriber types: every step after the first one, the dial, "
         "sends one)"),
        (GOOD_HEAD + "steps:\n  - expect: {page: first}\n",
         "t.yaml:4:20: step 1 expect page: expected a page number (1, 2...), found 'first'"),
        (GOOD_HEAD + "subscribers:\n  - {msisdn: \"2250711111111\", status: activ}\nsteps:\n  - expect: {}\n",
         "t.yaml:4:39: subscribers[0] 2250711111111: unknown status 'activ' (did you mean 'active'?); expected one "
         "of: active, inactive, deactivated"),
        (GOOD_HEAD + "accounts: nowhere.yaml\nsteps:\n  - expect: {}\n",
         "t.yaml:3:11: accounts: no such file or folder: nowhere.yaml (looked for nowhere.yaml)"),
        (GOOD_HEAD + 'steps:\n  - expect: {screen: home}\n  - reply: "1"\n    at: "+1m1h"\n',
         f"t.yaml:6:9: step 2 at: expected {STEP_AT_FORMS}, not '+1m1h'"),
        (f'subscriber: "{ACTIVE}"\nat: "+90s"\nsteps:\n  - expect: {{screen: home}}\n',
         f"t.yaml:2:5: at: expected {INSTANT_FORM}, not '+90s'"),  # nothing to move from
        (GOOD_HEAD + "idle_timeout: 0\nsteps:\n  - expect: {}\n",
         "t.yaml:3:15: idle_timeout: expected a number of seconds above 0, not 0"),
        (GOOD_HEAD + "max_duration: soon\nsteps:\n  - expect: {}\n",
         "t.yaml:3:15: max_duration: expected a number of seconds above 0, found 'soon'"),
        ('subscriber: "12345"\n' + f'at: "{AT}"\nsteps:\n  - expect: {{}}\n',
         "t.yaml:1:13: subscriber: not a phone number: '12345' (expected +225…, 00225…, 225… "
         "or the 10-digit national number)"),
        (GOOD_HEAD + 'steps:\n  - expect: {screen: home}\n  - reply: "1"\n    at: "2026-02-30T10:00"\n',
         "t.yaml:6:9: step 2 at: no such instant: '2026-02-30T10:00' (a real date and time, years 1970 to 9998)"),
        (GOOD_HEAD + "code: #122#\nsteps:\n  - expect: {}\n",
         "t.yaml:3:6: code: expected a short code like \"#122#\" or \"*122*1#\" (in quotes: # starts a YAML comment), "
         "found nothing (null)"),
        (GOOD_HEAD + "accounts: demo.yaml\nsubscribers: []\nsteps:\n  - expect: {}\n",
         "t.yaml:1:1: file: give either 'accounts' (a file) or 'subscribers' (inline records), not both"),
        (GOOD_HEAD + "idle_timeout: .inf\nsteps:\n  - expect: {}\n",
         "t.yaml:3:15: idle_timeout: expected a number of seconds above 0, found '.inf'"),
        (GOOD_HEAD + "menus: [nowhere]\nsteps:\n  - expect: {}\n",
         "t.yaml:3:9: menus item 1: no such file or folder: nowhere (looked for nowhere)"),
        ("", "t.yaml:1:1: empty file: expected a transcript (subscriber, at, steps)"),
    ],
    ids=["unknown-key", "reply-after-end", "bad-at", "bad-step-at", "no-subscriber", "yaml-syntax",
         "reply-on-dial", "no-reply", "bad-page", "bad-inline-record", "missing-accounts", "bad-move",
         "move-at-the-top", "zero-idle-timeout", "bad-max-duration", "bad-subscriber", "no-such-day",
         "unquoted-code", "two-fixtures", "infinite-timeout", "missing-menus", "empty"],
)
def test_invalid_files_get_one_clear_line_per_mistake(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake on its own line, where it is (file:line:column), as every kind of file reports them."""
    write(tmp_path, "t.yaml", text)
    run = ussd("transcript", "t.yaml", cwd=tmp_path)
    assert run.code == 1 and run.no_traceback(), run.out + run.err
    assert run.lines[-1] == "0 passed, 1 failed"
    errors = run.lines[:-1]
    assert errors and all(re.match(r"t\.yaml:[1-9][0-9]*:[1-9][0-9]*: ", line) for line in errors), errors
    assert message in errors
    assert f"{len(errors)} problem(s) in t.yaml" in run.err.splitlines()


def test_bad_bytes_are_placed_where_they_are(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(b'subscriber: "2250701020304"\nat: "caf\xe9"\nname: "\x01"\n')
    with pytest.raises(TranscriptError) as caught:
        load_transcript(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:2:9: not UTF-8 text (invalid continuation byte at byte 36); save the file as UTF-8"]
    path.write_bytes('subscriber: "2250701020304"\nat: "café"\nname: "\x01"\n'.encode())
    with pytest.raises(TranscriptError) as caught:
        load_transcript(path)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{path}:3:8: YAML syntax: special characters are not allowed"]


def test_load_transcript_raises_every_mistake_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "subscribr: x\nat: later\nlang: FR\nsteps: []\n")
    with pytest.raises(TranscriptError) as caught:
        load_transcript(path)
    assert [str(d) for d in caught.value.diagnostics] == [f"{path}:{line}" for line in [
        "1:1: file: missing 'subscriber' (the number that dials, e.g. \"2250701020304\", in any form the network "
        "delivers: +225…, 00225…, 225… or the national 10 digits)",
        "1:1: file: unknown key 'subscribr' (did you mean 'subscriber'?); expected one of: name, subscriber, "
        "accounts, subscribers, at, code, lang, menus, idle_timeout, max_duration, steps",
        f"2:5: at: expected {INSTANT_FORM}, not 'later'",
        "3:7: lang: expected a language code like fr or en, not 'FR'",
        "4:8: steps: expected at least 1 item",
    ]]


# -- any YAML at all -----------------------------------------------------------------------------

#: Scalars of every YAML type, and texts close to the ones a transcript holds (instants, moves, paths).
TEXTS = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | TEXTS
           | st.sampled_from([AT, "+90s", "+1m1h", "2026-02-30T10:00", "9999-12-31T23:59", "+99999999d", "#122#",
                              "*124*1#", ACTIVE, "fr", "FR", "", " ", ".", "~nobody-at-all/x", "nowhere.yaml",
                              "../transcript_cases/_menus", "a" * 300, "end", "00"]))
KEYS = st.sampled_from(["name", "subscriber", "accounts", "subscribers", "at", "code", "lang", "menus", "idle_timeout",
                        "max_duration", "steps", "reply", "expect", "text", "lines", "contains", "absent", "screen",
                        "page", "pages", "end", "msisdn", "status", "offer", "main", "buckets", "expct"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=5), max_leaves=16)
EXPECTS = st.fixed_dictionaries({}, optional={
    "end": st.booleans() | SCALARS, "page": st.integers(0, 3) | SCALARS, "lines": st.lists(TEXTS) | VALUES,
    "screen": TEXTS | VALUES, "scren": SCALARS})
STEP = st.fixed_dictionaries({"reply": st.just("1") | SCALARS}, optional={
    "expect": EXPECTS | VALUES, "at": st.sampled_from(["+90s", "2026-11-25T09:00"]) | SCALARS, "expct": SCALARS})
STEPS = st.tuples(st.fixed_dictionaries({}, optional={"expect": EXPECTS, "reply": SCALARS}),
                  st.lists(STEP, max_size=3)).map(lambda steps: [steps[0], *steps[1]])
#: Transcripts that are right, or nearly: each key may hold anything, or be left out.
TOPS = st.fixed_dictionaries({"subscriber": st.just(ACTIVE) | VALUES, "at": st.just(AT) | VALUES,
                              "steps": STEPS | VALUES},
                             optional={"code": st.just("#122#") | SCALARS, "lang": st.just("en") | SCALARS,
                                       "subscribers": st.just([]) | VALUES, "idle_timeout": st.just(60) | SCALARS,
                                       "menus": VALUES, "expct": VALUES})


@settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES | TOPS)
def test_any_yaml_value_gives_a_transcript_or_problems_placed_in_the_file(value: Any) -> None:
    """Whatever the file holds, the reader never raises anything but TranscriptError, and each of
    its problems is in the file (a line and column of it), never a traceback."""
    text = yaml.safe_dump(value, allow_unicode=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_transcript(path)
        except TranscriptError as exc:
            assert exc.diagnostics
            lines = re.split("\r\n|[\n\r\x85\u2028\u2029]", text)  # YAML's line breaks
            for d in exc.diagnostics:
                assert d.where.path == str(path), d
                assert 1 <= d.where.line <= len(lines) and 1 <= d.where.column <= len(lines[d.where.line - 1]) + 1, d


def test_a_folder_with_a_valid_and_an_invalid_file_counts_both(tmp_path: Path) -> None:
    write(tmp_path, "a_good.yaml", BONUS_WALK)
    write(tmp_path, "b_bad.yaml", GOOD_HEAD + "steps:\n  - expect: {scren: home}\n")
    (tmp_path / "_fixtures").mkdir()
    write(tmp_path / "_fixtures", "accounts.yaml", "subscribers: []\n")  # skipped: starts with "_"
    run = ussd("transcript", str(tmp_path))
    assert run.code == 1 and run.no_traceback()
    assert run.lines == [
        "PASS bonus walk",
        f"{tmp_path / 'b_bad.yaml'}:4:14: step 1 expect: unknown key 'scren' (did you mean 'screen'?); expected one "
        "of: text, lines, contains, absent, screen, page, pages, end",
        "1 passed, 1 failed",
    ]


# -- fixtures and time ---------------------------------------------------------------------------


def test_an_inline_fixture_replaces_the_demo_accounts(tmp_path: Path) -> None:
    t = load_transcript(write(tmp_path, "inline.yaml", EXPIRING.replace("AT_LINE", 'at: "2026-11-25T10:00:40"')))
    assert t.accounts == "inline" and [s.msisdn for s in t.subscribers] == ["2250711111111"]
    assert run_transcript(t).passed
    # The demo subscriber is not in that fixture: dialling as them reaches the "unknown number" end.
    stranger = EXPIRING.replace('subscriber: "2250711111111"', f'subscriber: "{ACTIVE}"', 1)
    stranger = stranger.split("steps:")[0] + "steps:\n  - expect: {text: Numéro inconnu., end: true}\n"
    assert run_transcript(load_transcript(write(tmp_path, "stranger.yaml", stranger))).passed


def test_a_step_instant_moves_time_on_for_that_step_and_later_ones(tmp_path: Path) -> None:
    moved = run_transcript(load_transcript(
        write(tmp_path, "moved.yaml", EXPIRING.replace("AT_LINE", 'at: "2026-11-25T10:00:40"'))))
    assert moved.passed, moved.report()
    assert "Bonus Crédit: 200 F" in moved.outcomes[3].response.text.split("\n")
    still_text = EXPIRING.replace("AT_LINE", "at: \"2026-11-25T10:00:10\"")
    still = run_transcript(load_transcript(write(tmp_path, "still.yaml", still_text)))
    assert not still.passed
    assert [o.step.number for o in still.failures] == [4]
    assert still.failures[0].problems[0] == "missing line 'Bonus Crédit: 200 F'"
    assert "Bonus Crédit: 500 F" in still.failures[0].response.text


def test_a_gap_longer_than_the_idle_timeout_ends_the_dialogue(tmp_path: Path) -> None:
    """The session store's clock follows the transcript's instants: five minutes of silence
    is more than the 60 s idle timeout, so the reply finds the session expired."""
    late = EXPIRING.split("steps:")[0] + """steps:
  - expect: {screen: home}
  - reply: "1"
    at: "2026-11-25T10:05:00"
    expect: {end: true, absent: ["Bonus Crédit"]}
"""
    result = run_transcript(load_transcript(write(tmp_path, "late.yaml", late)))
    assert result.passed, result.report()
    assert result.outcomes[-1].response.screen is None  # the expired message, no menu screen


def test_time_cannot_go_back(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError) as caught:
        load_transcript(write(tmp_path, "back.yaml", EXPIRING.replace("AT_LINE", 'at: "2026-11-25T09:00:00"')))
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{tmp_path / 'back.yaml'}:18:9: step 3 at: 2026-11-25T09:00:00+00:00 is before the previous instant "
        "2026-11-25T10:00:00+00:00: time only moves on"]


def test_a_relative_step_instant_moves_on_from_the_previous_one(tmp_path: Path) -> None:
    moved = load_transcript(write(tmp_path, "moved.yaml", EXPIRING.replace("AT_LINE", 'at: "+40s"')))
    assert [s.at for s in moved.steps] == [None, None, moved.at + timedelta(seconds=40), None]
    assert run_transcript(moved).passed  # the same as at: "2026-11-25T10:00:40"
    still = run_transcript(load_transcript(write(tmp_path, "still.yaml", EXPIRING.replace("AT_LINE", 'at: "+10s"'))))
    assert [o.step.number for o in still.failures] == [4]
    chained = EXPIRING.replace("AT_LINE", 'at: "+5s"').replace(
        '  - reply: "2"\n    expect: {lines: ["Bonus Crédit: 200 F"]', '  - reply: "2"\n    at: "+1h30m"\n'
        '    expect: {lines: ["Bonus Crédit: 200 F"]')
    t = load_transcript(write(tmp_path, "chained.yaml", chained))
    assert [s.at for s in t.steps][2:] == [t.at + timedelta(seconds=5),
                                           t.at + timedelta(hours=1, minutes=30, seconds=5)]


LATE = EXPIRING.split("steps:")[0] + """steps:
  - expect: {screen: home}
  - reply: "2"
    at: "+5m"
"""


@pytest.mark.parametrize("limits, expired", [("", True), ("idle_timeout: 600\nmax_duration: 900\n", False),
                                             ("idle_timeout: 600\nmax_duration: 240.5\n", True)])
def test_a_transcript_sets_the_session_limits(tmp_path: Path, limits: str, expired: bool) -> None:
    t = load_transcript(write(tmp_path, "late.yaml", limits + LATE))
    result = run_transcript(t)
    last = result.outcomes[-1].response
    assert (last.screen is None, last.end) == ((True, True) if expired else (False, False))
    assert last.screen in (None, "bonus")


def test_the_subscriber_may_be_written_as_the_network_delivers_it(tmp_path: Path) -> None:
    for written in ("+225 07 11 11 11 11", "002250711111111", "07 11 11 11 11"):
        text = EXPIRING.replace('subscriber: "2250711111111"', f'subscriber: "{written}"', 1)
        result = run_transcript(load_transcript(write(tmp_path, "forms.yaml", text.replace("AT_LINE", 'at: "+40s"'))))
        assert result.passed, (written, result.report())


def test_purchases_never_leak_from_one_transcript_into_another() -> None:
    purchase = str(CASES / "purchase.yaml")
    run = ussd("transcript", purchase, purchase)
    assert run.code == 0, run.out
    assert run.lines == ["PASS Pass Internet 500 Mo bought from 1 200 F"] * 2 + ["2 passed, 0 failed"]


# -- record and replay ---------------------------------------------------------------------------


def test_a_recorded_walk_replays_and_passes(tmp_path: Path) -> None:
    record = tmp_path / "walk.yaml"
    walk = ussd("dial", "#122#", "--msisdn", ACTIVE, "--at", AT, "--db", "memory:", "--record", str(record),
                stdin="1\n0\n9\n00\n")
    assert walk.code == 0 and walk.no_traceback(), walk.err
    text = record.read_text(encoding="utf-8")
    assert "fixture is inline" in text.split("subscriber:")[0]  # the header comment
    first = text.split("\n", 1)[0]  # for editors: the schema, relative to the recording
    assert first == f"# yaml-language-server: $schema={os.path.relpath(SCHEMA_FILE, tmp_path)}"
    data = yaml.safe_load(text)
    assert data["subscriber"] == ACTIVE and data["at"] == AT and data["code"] == "#122#"
    assert "db" not in data and "lang" not in data and "menus" not in data
    assert "idle_timeout" not in data and "max_duration" not in data  # the defaults
    assert [s["msisdn"] for s in data["subscribers"]] == [ACTIVE]
    steps = data["steps"]
    assert [s.get("reply") for s in steps] == [None, "1", "0", "9", "00"]
    assert all("at" not in s for s in steps)  # --at and no clock line: one instant
    assert all(set(s["expect"]) == {"screen", "text", "end"} for s in steps)
    assert [s["expect"]["screen"] for s in steps][:3] == ["home", "bonus_credit", "home"]
    assert [s["expect"]["end"] for s in steps] == [False] * 5  # replies ran out: hung up
    total = steps[1]["expect"]["text"].split("\n")[0]  # the Bonus Crédit screen's first line

    replay = ussd("transcript", str(record))
    assert replay.code == 0, replay.out
    assert replay.lines == ["PASS walk.yaml", "1 passed, 0 failed"]

    # The replay checks what it recorded: change one screen and it fails.
    record.write_text(text.replace(f"      {total}\n", f"      {total}!\n", 1), encoding="utf-8")
    broken = ussd("transcript", str(record))
    assert broken.code == 1 and f"    +{total}" in broken.lines and f"    -{total}!" in broken.lines


def elsewhere(tmp_path: Path) -> Path:
    """A working directory with nothing of the project in it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def test_a_recorded_purchase_replays_on_fresh_accounts(tmp_path: Path) -> None:
    """The walk debits the dial's store; the recording holds the subscriber as they were before
    it, and two copies replayed from another folder both pass (each transcript has its own store)."""
    record = tmp_path / "rec" / "buy.yaml"
    record.parent.mkdir()
    walk = ussd("dial", "#124#", "--msisdn", ACTIVE, "--at", AT, "--db", "memory:", "--menus", str(QA_MENUS),
                "--record", str(record), stdin="4\n98\n0\n00\n3\n1\n")
    assert walk.code == 0, walk.err
    data = yaml.safe_load(record.read_text(encoding="utf-8"))
    assert data["code"] == "#124#" and (record.parent / data["menus"][0]).resolve() == QA_MENUS.resolve()
    before = demo_store("memory:").get(ACTIVE)
    assert before is not None and data["subscribers"] == [subscriber_record(before, load_policy().tz)]
    last = data["steps"][-1]
    assert last["expect"]["end"] is True and last["expect"]["text"].startswith("Achat réussi. Nouveau solde: ")
    assert "screen" in last["expect"] and [s["expect"]["screen"] for s in data["steps"]][:2] == ["home", "terms"]
    (record.parent / "copy.yaml").write_bytes(record.read_bytes())
    replay = ussd("transcript", str(record.parent), cwd=elsewhere(tmp_path))
    assert replay.code == 0, replay.out
    assert replay.lines == ["PASS buy.yaml", "PASS copy.yaml", "2 passed, 0 failed"]


def test_a_recording_carries_the_accounts_of_its_store(tmp_path: Path) -> None:
    """A subscriber only a private database holds: the replay needs the inline fixture."""
    db = f"sqlite:///{tmp_path / 'qa.sqlite3'}"
    imported = ussd("accounts", "import", str(CASES / "_accounts" / "buyer.yaml"), "--db", db)
    assert imported.code == 0, imported.err
    record = tmp_path / "buyer.yaml"
    walk = ussd("dial", "#124#", "--msisdn", "+225 07 22 22 22 22", "--at", AT, "--db", db,
                "--menus", str(QA_MENUS), "--record", str(record), stdin="1\n0\n3\n1\n")
    assert walk.code == 0, walk.err
    data = yaml.safe_load(record.read_text(encoding="utf-8"))
    assert data["subscriber"] == BUYER and [s["msisdn"] for s in data["subscribers"]] == [BUYER]
    assert data["steps"][-1]["expect"]["end"] is True
    replay = ussd("transcript", str(record), str(record), cwd=elsewhere(tmp_path))
    assert replay.lines == ["PASS buyer.yaml", "PASS buyer.yaml", "2 passed, 0 failed"], replay.out
    stranger = tmp_path / "stranger.yaml"
    ussd("dial", "#124#", "--msisdn", "2250799999999", "--at", AT, "--db", db, "--menus", str(QA_MENUS),
         "--record", str(stranger))
    unknown = yaml.safe_load(stranger.read_text(encoding="utf-8"))
    assert unknown["subscribers"] == [] and unknown["steps"][0]["expect"]["screen"] == "unknown"
    assert ussd("transcript", str(stranger), cwd=elsewhere(tmp_path)).code == 0


def test_a_recorded_clock_line_replays_to_the_expired_screen(tmp_path: Path) -> None:
    record = tmp_path / "late.yaml"
    walk = ussd("dial", "#124#", "--msisdn", ACTIVE, "--at", AT, "--db", "memory:", "--menus", str(QA_MENUS),
                "--record", str(record), stdin="1\n0\n@+90s\n2\n")
    assert walk.code == 0, walk.err
    text = record.read_text(encoding="utf-8")
    steps = yaml.safe_load(text)["steps"]
    assert [s.get("at") for s in steps] == [None, None, None, "2026-11-25T10:01:30"]
    assert steps[-1]["reply"] == "2" and steps[-1]["expect"]["end"] is True
    assert "screen" not in steps[-1]["expect"]  # the expired screen has no id
    replay = ussd("transcript", str(record), cwd=elsewhere(tmp_path))
    assert replay.code == 0 and replay.lines[-1] == "1 passed, 0 failed", replay.out
    # The timing is what the replay checks: with a longer idle timeout the dialogue goes on.
    record.write_text(text.replace("\nsubscribers:", "\nidle_timeout: 120\nsubscribers:", 1), encoding="utf-8")
    assert "the dialogue goes on, expected it to end here" in ussd("transcript", str(record)).out


def test_a_recording_keeps_the_session_limits_it_ran_with(tmp_path: Path) -> None:
    record = tmp_path / "patient.yaml"
    walk = ussd("dial", "#124#", "--msisdn", ACTIVE, "--at", AT, "--db", "memory:", "--menus", str(QA_MENUS),
                "--idle-timeout", "120", "--max-duration", "600", "--record", str(record), stdin="1\n@+90s\n0\n")
    assert walk.code == 0, walk.err
    data = yaml.safe_load(record.read_text(encoding="utf-8"))
    assert data["idle_timeout"] == 120 and data["max_duration"] == 600
    assert data["steps"][-1]["expect"] == {"screen": "home", "text": data["steps"][0]["expect"]["text"], "end": False}
    assert ussd("transcript", str(record), cwd=elsewhere(tmp_path)).lines[-1] == "1 passed, 0 failed"


def test_a_recording_keeps_language_menus_and_the_real_start_instant(tmp_path: Path) -> None:
    record = tmp_path / "sub" / "en.yaml"
    record.parent.mkdir()
    walk = ussd("dial", "#122#", "--msisdn", ACTIVE, "--lang", "en", "--menus", "menus", "--db", "memory:",
                "--record", str(record), stdin="1\n")
    assert walk.code == 0, walk.err
    data = yaml.safe_load(record.read_text(encoding="utf-8"))
    assert data["lang"] == "en"
    assert (record.parent / data["menus"][0]).resolve() == (ROOT / "menus").resolve()
    assert datetime.fromisoformat(data["at"]).tzinfo is not None  # no --at: the real instant, with its offset
    assert data["steps"][-1]["reply"] == "1" and data["steps"][-1]["expect"]["text"].startswith("Credit bonus: ")
    replay = ussd("transcript", str(record.parent), cwd=tmp_path)
    assert replay.code == 0 and replay.lines[-1] == "1 passed, 0 failed", replay.out


def test_record_into_a_missing_folder_is_refused_before_dialling(tmp_path: Path) -> None:
    run = ussd("dial", "#122#", "--msisdn", ACTIVE, "--at", AT, "--db", "memory:",
               "--record", str(tmp_path / "no" / "such" / "t.yaml"), stdin="1\n")
    assert run.code == 1 and run.no_traceback() and "no such folder" in run.err and run.out == ""
