"""The terminal handset, driven in-process: frames, status lines, scripted replies, hang-ups, and
the walk's clock (clock lines, the move syntax, the session timers reading the same time)."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.clock import HandsetClock, parse_move, positive_seconds, read_instant
from simulator.demo import demo_engine
from simulator.handset import SCREEN_WIDTH, Frame, Handset, draw, keyboard_replies, piped_replies, read_msisdn
from ussd.engine import Response

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ACTIVE = "2250701020304"


def handset(at: datetime | None = AT, **limits: float) -> tuple[Handset, io.StringIO]:
    """A handset on the demo set-up whose engine, session store and handset share one clock."""
    out = io.StringIO()
    clock = HandsetClock(at)
    return Handset(demo_engine(clock=clock, **limits), out, clock), out


def test_draw_frames_wraps_and_reports_cost() -> None:
    response = Response("s", "Bonus Crédit: 2 050 F\n" + "x" * 45, False, "bonus", 1, 2, "gsm7", 67)
    out = draw(response, Frame("┌┐", "└┘", "│")).split("\n")
    assert out[0].startswith("┌") and out[-2].startswith("└")
    body = out[1:-2]
    assert body[0] == "│ " + "Bonus Crédit: 2 050 F".ljust(SCREEN_WIDTH) + " │"
    assert len(body) == 3 and all(len(row) == SCREEN_WIDTH + 4 for row in body)
    assert out[-1] == " CON page 1/2 · 67/182 septets · bonus"
    ucs2 = draw(Response("s", "Fenêtre", True, None, 1, 1, "ucs2", 7), Frame("++", "++", "|"))
    assert ucs2.endswith(" END page 1/1 · 7/80 UCS-2 chars") and ucs2.startswith("+--")


def test_frame_falls_back_to_ascii_when_the_terminal_cannot_draw_boxes() -> None:
    class Latin1(io.StringIO):
        encoding = "latin-1"

    assert Frame.for_stream(Latin1()).side == "|"
    assert Frame.for_stream(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")).side == "│"


def test_scripted_dialogue_shows_every_screen_and_hangs_up_when_replies_run_out() -> None:
    phone, out = handset()
    shown = phone.dial("#122#", "2250709080706", ["8", "1", "98"])  # postpaid: a 12-invoice history
    assert [r.screen for r in shown] == ["home", "invoice", "invoice_history", "invoice_history"]
    assert [r.page for r in shown] == [1, 1, 1, 2]
    text = out.getvalue()
    assert text.count(" CON page") == 4 and text.rstrip().endswith("(hung up: no more replies)")
    assert len(phone.engine.sessions) == 0


def test_dialogue_that_ends_needs_no_more_replies() -> None:
    phone, out = handset()
    shown = phone.dial("#122#", "2250700000001", ["1", "2", "3"])
    assert len(shown) == 1 and shown[0].end and "Compte principal: 35 F" in shown[0].text
    assert "hung up" not in out.getvalue()


def test_piped_replies_are_echoed_and_keep_their_text() -> None:
    echoed: list[str] = []
    replies = list(piped_replies(io.StringIO("1\r\n 98\n\n"), echoed.append))
    assert replies == ["1", " 98", ""]
    assert echoed == ["> 1", ">  98", "> "]


# -- the move syntax and instants ----------------------------------------------------------------

UNITS = ("d", "h", "m", "s")


@given(st.lists(st.one_of(st.none(), st.integers(0, 10**6)), min_size=4, max_size=4)
       .filter(lambda parts: any(n is not None for n in parts)))
def test_a_move_reads_every_unit_given_in_order(parts: list[int | None]) -> None:
    text = "+" + "".join(f"{n}{unit}" for n, unit in zip(parts, UNITS, strict=True) if n is not None)
    d, h, m, s = (n or 0 for n in parts)
    assert parse_move(text) == timedelta(days=d, hours=h, minutes=m, seconds=s)
    assert parse_move(f"  {text}\n") == parse_move(text)  # a typed line's spaces do not matter


@given(st.text())
def test_any_text_is_a_move_or_none_never_an_error(text: str) -> None:
    move = parse_move(text)
    assert move is None or (move >= timedelta(0) and text.strip().startswith("+"))
    moment = read_instant(text, UTC, AT)
    assert moment is None or (moment.tzinfo is not None and (moment >= AT or not text.strip().startswith("+")))


@pytest.mark.parametrize("text", ["90s", "+", "+s", "+1m1h", "+1h1h", "+1.5h", "+-5m", "+1h 30m", "+5M",
                                  "+٣s", "+90", "+1w", "++1s", "@+1s", "+" + "9" * 5000 + "s", "+99999999999d"])
def test_what_is_not_a_move(text: str) -> None:
    assert parse_move(text) is None


def test_instants_absolute_in_operator_time_or_moved_from_the_previous_one() -> None:
    west = timezone(timedelta(hours=-3))
    assert read_instant("2026-11-28T00:00", west) == datetime(2026, 11, 28, tzinfo=west)
    assert read_instant("2026-11-28T00:00+01:00", west) == datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert read_instant("+1h30m", west, AT) == AT + timedelta(minutes=90)
    assert read_instant("+1h30m", west) is None  # a move needs an instant to move from
    assert read_instant("+1d", west, datetime(9999, 12, 31, 12, tzinfo=UTC)) is None  # past 9999
    assert read_instant("soon", west, AT) is None


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_session_limits_are_finite_positive_seconds(value: float) -> None:
    expected = value if math.isfinite(value) and value > 0 else None
    assert positive_seconds(repr(value)) == expected


@pytest.mark.parametrize("text, expected", [("90", 90.0), (" 1.5 ", 1.5), ("0", None), ("-60", None),
                                            ("", None), ("soon", None), ("1e999", None)])
def test_session_limit_texts(text: str, expected: float | None) -> None:
    assert positive_seconds(text) == expected


# -- the clock -------------------------------------------------------------------------------------

def test_a_frozen_clock_moves_only_when_told() -> None:
    clock = HandsetClock(AT)
    assert clock() == AT and clock.seconds() == AT.timestamp()
    clock.set(AT + timedelta(seconds=90))
    assert clock() == AT + timedelta(seconds=90) and clock.seconds() == AT.timestamp() + 90


def test_a_real_clock_follows_the_wall_shifted_by_every_move() -> None:
    wall = [AT]
    clock = HandsetClock(wall=lambda: wall[0])
    assert clock() == AT
    wall[0] = AT + timedelta(seconds=5)
    assert clock() == AT + timedelta(seconds=5)
    clock.set(AT + timedelta(days=3))
    wall[0] += timedelta(seconds=10)
    assert clock() == AT + timedelta(days=3, seconds=10)


def test_the_engine_the_handset_and_the_session_store_read_one_clock() -> None:
    phone, _ = handset()
    assert phone.engine.clock is phone.clock
    assert phone.engine.sessions.now() == AT.timestamp()
    phone.clock.set(AT + timedelta(minutes=5))
    assert phone.engine.clock() == AT + timedelta(minutes=5)
    assert phone.engine.sessions.now() == AT.timestamp() + 300


# -- clock lines in a walk -------------------------------------------------------------------------

def seen_at(phone: Handset) -> list[datetime]:
    """Record the instant the engine is given for every screen."""
    instants: list[datetime] = []
    phone.on_screen = lambda reply, at, response: instants.append(at)
    return instants


def test_a_clock_line_past_the_idle_timeout_expires_the_dialogue() -> None:
    phone, out = handset()
    instants = seen_at(phone)
    shown = phone.dial("#122#", ACTIVE, ["1", "@+90s", "0"])
    assert [r.screen for r in shown] == ["home", "bonus_credit", None]  # the expired screen has no id
    assert shown[-1].end and instants == [AT, AT, AT + timedelta(seconds=90)]
    assert "(clock: 2026-11-25T10:01:30+00:00)" in out.getvalue().splitlines()


@pytest.mark.parametrize("limits", [{"idle_timeout": 120.0}, {"max_duration": 100.0, "idle_timeout": 600.0}])
def test_the_session_limits_are_the_stores(limits: dict[str, float]) -> None:
    phone, _ = handset(**limits)
    shown = phone.dial("#122#", ACTIVE, ["1", "@+90s", "0", "@+15s", "1"])
    ends = [r.end for r in shown]
    if "max_duration" in limits:  # 105 s after the dial: older than 100 s
        assert ends == [False, False, False, True] and shown[-1].screen is None
    else:  # 90 s idle, then 15 s: both under 120 s
        assert ends == [False] * 4 and shown[-1].screen == "bonus_credit"


def test_a_clock_line_can_set_the_instant_and_real_time_goes_on_from_there() -> None:
    wall = [AT]
    out = io.StringIO()
    clock = HandsetClock(wall=lambda: wall[0])
    phone = Handset(demo_engine(clock=clock), out, clock)
    instants = seen_at(phone)
    saturday = datetime(2026, 11, 28, tzinfo=UTC)

    def replies():
        yield "@2026-11-28T00:00"
        wall[0] += timedelta(seconds=7)  # the subscriber takes seven seconds to answer
        yield "1"

    phone.dial("#122#", ACTIVE, replies())
    assert instants == [AT, saturday + timedelta(seconds=7)]
    assert "(clock: 2026-11-28T00:00:00+00:00)" in out.getvalue().splitlines()


@pytest.mark.parametrize("line, said", [
    ("@soon", "(clock line @soon not understood: after @ give +90s, +5m, +2h, +1d, +1h30m or an ISO 8601 "
              "instant like 2026-11-28T00:00 (years 1970 to 9998); nothing sent)"),
    ("@+1m1h", None),
    ("@", None),
    ("@2026-11-24T00:00", "(clock not moved: 2026-11-24T00:00:00+00:00 is before 2026-11-25T10:00:00+00:00: "
                          "time only moves on; nothing sent)"),
])
def test_a_bad_or_backward_clock_line_says_why_and_is_not_sent(line: str, said: str | None) -> None:
    phone, out = handset()
    instants = seen_at(phone)
    shown = phone.dial("#122#", ACTIVE, [line, "1"])
    assert [r.screen for r in shown] == ["home", "bonus_credit"]  # the line was not a reply
    assert instants == [AT, AT] and phone.clock() == AT
    notes = [row for row in out.getvalue().splitlines() if row.startswith("(clock")]
    assert len(notes) == 1 and notes[0].endswith("nothing sent)")
    if said is not None:
        assert notes == [said]


def test_clock_lines_work_in_a_typed_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    typed = iter(["@+2m", "1"])

    def fake_input(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    phone, _ = handset()
    shown = phone.dial("#122#", ACTIVE, keyboard_replies())
    assert shown[-1].end and shown[-1].screen is None  # 2 minutes idle: expired


# -- the dialling number ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2250701020304", "+2250701020304", "002250701020304", "0701020304",
                                  "+225 07 01 02 03 04", " 07 01 02 03 04 "])
def test_the_network_may_deliver_any_form_of_the_number(text: str) -> None:
    phone, _ = handset()
    assert read_msisdn(phone.engine, "#122#", text) == ACTIVE
    assert read_msisdn(phone.engine, "#999#", text) == ACTIVE  # an unknown code: the default rule


@pytest.mark.parametrize("text", ["12345", "2260701020304", "abc", "", "+", "07O1020304"])
def test_a_number_that_cannot_be_read_says_which_forms_are(text: str) -> None:
    phone, _ = handset()
    with pytest.raises(ValueError) as caught:
        read_msisdn(phone.engine, "#122#", text)
    assert str(caught.value) == (f"not a phone number: {text!r} (expected +225…, 00225…, 225… "
                                 "or the 10-digit national number)")


def test_the_number_is_read_by_the_dialled_services_rule(tmp_path: Path) -> None:
    (tmp_path / "fr.yaml").write_text(
        'service: {code: "#125#", entry: hello, languages: [fr], phone: {country_code: "33", national_digits: 9}}\n'
        "screens:\n  hello: {type: end, text: Bonjour}\n", encoding="utf-8")
    engine = demo_engine([str(tmp_path)], clock=HandsetClock(AT))
    assert read_msisdn(engine, "*125*1#", "6 12 34 56 78") == "33612345678"
    assert read_msisdn(engine, "#125#", "+33 6 12 34 56 78") == "33612345678"
    with pytest.raises(ValueError, match=r"\+33…, 0033…, 33… or the 9-digit national number"):
        read_msisdn(engine, "#125#", "0701020304")


@pytest.mark.parametrize("text", ["9999-12-26T00:00", "0001-01-01T00:00", "+3000000d"])
def test_clock_lines_outside_the_years_dates_can_be_counted_in_are_refused(text: str) -> None:
    assert read_instant(text, UTC, datetime(2026, 11, 25, tzinfo=UTC)) is None
