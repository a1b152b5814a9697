"""The terminal handset: dial a code, see each screen as a phone shows it, type replies.

Replies come from the keyboard on a terminal and from standard input otherwise (``printf '1\\n2\\n' |
ussd dial '#122#' ...``), so QA can script a walk. Each screen is framed with its page number, its cost
in septets (or UCS-2 characters) and the page limit, which is what a menu author tunes against.

A line starting with ``@`` is not a reply but a clock line: ``@+90s`` moves time on, ``@2026-11-28T00:00``
sets it (see :mod:`simulator.clock`), so one walk can run into a timeout or over a weekend.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from ussd.engine import Engine, Response
from ussd.gsm import printable
from ussd.inputs import normalise_phone
from ussd.loader import split_short_code
from ussd.model import PhoneRule

from .clock import CLOCK_FORMS, HandsetClock, read_instant

SCREEN_WIDTH = 30
CLOCK_MARK = "@"


@dataclass(frozen=True, slots=True)
class Frame:
    top: str
    bottom: str
    side: str

    @classmethod
    def for_stream(cls, stream: TextIO) -> Frame:
        encoding = (getattr(stream, "encoding", None) or "ascii").lower().replace("-", "")
        if encoding in ("utf8", "utf16", "utf32"):
            return cls("┌┐", "└┘", "│")
        return cls("++", "++", "|")


def draw(response: Response, frame: Frame, width: int = SCREEN_WIDTH) -> str:
    """A response as a boxed phone screen, wrapped to the handset's width, with its status line."""
    rows: list[str] = []
    for line in response.text.split("\n"):
        rows.extend(textwrap.wrap(line, width, break_long_words=True, replace_whitespace=False) or [""])
    edge = "─" if frame.side == "│" else "-"
    out = [frame.top[0] + edge * (width + 2) + frame.top[1]]
    out.extend(f"{frame.side} {row.ljust(width)} {frame.side}" for row in rows)
    out.append(frame.bottom[0] + edge * (width + 2) + frame.bottom[1])
    unit = "septets" if response.coding == "gsm7" else "UCS-2 chars"
    limit = 182 if response.coding == "gsm7" else 80
    state = "END" if response.end else "CON"
    out.append(f" {state} page {response.page}/{response.pages} · {response.units}/{limit} {unit}"
               + (f" · {response.screen}" if response.screen else ""))
    return "\n".join(out)


def keyboard_replies(prompt: str = "> ") -> Iterator[str]:
    """Lines typed at the terminal until end of input (Ctrl-D)."""
    while True:
        try:
            yield input(prompt)
        except EOFError:
            return


def piped_replies(stream: TextIO, echo: Callable[[str], None]) -> Iterator[str]:
    """Lines from a pipe, echoed so the printed walk reads like a session."""
    for line in stream:
        reply = line.rstrip("\r\n")
        echo(f"> {printable(reply)}")  # an ESC in a pipe never drives the terminal
        yield reply


def read_msisdn(engine: Engine, code: str, text: str) -> str:
    """The dialling number as E.164 digits, read by the dialled service's phone rule (the network
    may deliver ``+225…``, ``00225…``, ``225…`` or the national form); raises ValueError saying
    which forms are read."""
    parsed = split_short_code(code)
    service = engine.menus.services.get(parsed[0]) if parsed else None
    phone = service.phone if service is not None else PhoneRule()
    msisdn = normalise_phone(text, phone)
    if msisdn is None:
        cc = phone.country_code
        raise ValueError(f"not a phone number: {text!r} (expected +{cc}…, 00{cc}…, {cc}… "
                         f"or the {phone.national_digits}-digit national number)")
    return msisdn


@dataclass
class Handset:
    engine: Engine
    out: TextIO
    #: The walk's time; the engine's clock and its session store must read the same object
    #: (``demo_engine(clock=...)``), so a clock line moves the screens and the timers together.
    clock: HandsetClock
    #: Told of every screen: the reply that led to it (None for the dial), the instant the engine
    #: was given, the response. ``ussd dial --record`` writes a transcript from these.
    on_screen: Callable[[str | None, datetime, Response], None] | None = None

    def dial(self, code: str, msisdn: str, replies: Iterable[str], lang: str | None = None) -> list[Response]:
        """Run one dialogue to its end (or until replies run out, which hangs up); returns every screen."""
        frame = Frame.for_stream(self.out)
        at = self.clock()
        response = self.engine.begin(msisdn, code, at, lang=lang)
        shown = [response]
        self._show(response, frame, None, at)
        iterator = iter(replies)
        while not response.end:
            reply = next(iterator, None)
            if reply is None:
                self.engine.abort(response.session)
                print("(hung up: no more replies)", file=self.out)
                break
            if reply.startswith(CLOCK_MARK):
                print(self.move_clock(reply[len(CLOCK_MARK):]), file=self.out, flush=True)
                continue
            at = self.clock()
            response = self.engine.reply(response.session, reply, at)
            shown.append(response)
            self._show(response, frame, reply, at)
        return shown

    def move_clock(self, text: str) -> str:
        """Apply a clock line (without its ``@``); returns the line saying the new instant, or why
        the clock did not move."""
        tz = self.engine.tz
        now = self.clock()
        target = read_instant(text, tz, now)
        if target is None:
            return (f"(clock line {CLOCK_MARK}{text.strip()} not understood: after {CLOCK_MARK} give "
                    f"{CLOCK_FORMS}; nothing sent)")
        if target < now:
            return (f"(clock not moved: {target.astimezone(tz).isoformat()} is before "
                    f"{now.astimezone(tz).isoformat()}: time only moves on; nothing sent)")
        self.clock.set(target)
        return f"(clock: {self.clock().astimezone(tz).isoformat()})"

    def _show(self, response: Response, frame: Frame, reply: str | None, at: datetime) -> None:
        print(draw(response, frame), file=self.out, flush=True)
        if self.on_screen is not None:
            self.on_screen(reply, at, response)
