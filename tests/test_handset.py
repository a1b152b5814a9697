"""The terminal handset, driven in-process: frames, status lines, scripted replies, hang-ups."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from simulator.demo import demo_engine
from simulator.handset import SCREEN_WIDTH, Frame, Handset, draw, piped_replies
from ussd.engine import Response

AT = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


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
    out = io.StringIO()
    handset = Handset(demo_engine(clock=lambda: 0.0), out, AT)
    shown = handset.dial("#122#", "2250709080706", ["8", "1", "98"])  # postpaid: a 12-invoice history
    assert [r.screen for r in shown] == ["home", "invoice", "invoice_history", "invoice_history"]
    assert [r.page for r in shown] == [1, 1, 1, 2]
    text = out.getvalue()
    assert text.count(" CON page") == 4 and text.rstrip().endswith("(hung up: no more replies)")
    assert len(handset.engine.sessions) == 0


def test_dialogue_that_ends_needs_no_more_replies() -> None:
    out = io.StringIO()
    handset = Handset(demo_engine(clock=lambda: 0.0), out, AT)
    shown = handset.dial("#122#", "2250700000001", ["1", "2", "3"])
    assert len(shown) == 1 and shown[0].end and "Compte principal: 35 F" in shown[0].text
    assert "hung up" not in out.getvalue()


def test_piped_replies_are_echoed_and_keep_their_text() -> None:
    echoed: list[str] = []
    replies = list(piped_replies(io.StringIO("1\r\n 98\n\n"), echoed.append))
    assert replies == ["1", " 98", ""]
    assert echoed == ["> 1", ">  98", "> "]
