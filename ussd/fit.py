"""Checks that fixed text fits the handset, in every language, as the renderer will send it.

Dynamic screens are paged at run time; what the checker can judge ahead is text that is written
out in full in the menu: a screen that must be read at once (an end screen, a prompt, a yes/no
question) or a single option line must fit one page, and the engine's own lines must leave room.
"""

from __future__ import annotations

from collections.abc import Callable

from . import gsm
from .diagnostics import Diagnostic, Where
from .expr import RenderEnv
from .model import ConfirmScreen, EndScreen, InputScreen, MenuScreen, Service, Text, TextLine
from .render import content_lines, option_line, shows_nav


def _cost(text: str) -> str:
    m = gsm.measure(text)
    if m.coding == "gsm7":
        return f"{m.units} septets, a page holds {m.limit}"
    odd = next((c for c in text if not gsm.is_gsm7(c)), "?")
    return (
        f"{m.units} UCS-2 characters, a page holds {m.limit} "
        f"({odd!r} is not in GSM 7-bit and forces UCS-2; use charset: transliterate or avoid it)"
    )


def _static(text: Text) -> bool:
    return text.is_static


def check_fit(service: Service) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    reported: set[tuple[Where, str]] = set()  # a text written once for all languages is said once

    def report(where: Where, text: str, message: str) -> None:
        if (where, text) not in reported:
            reported.add((where, text))
            problems.append(Diagnostic(where, message))

    for lang in service.languages:
        _check_language(service, lang, report)
    return problems


def _check_language(service: Service, lang: str, report: Callable[[Where, str, str], None]) -> None:
    """Every fixed text of the service as it is sent in ``lang``."""
    charset = service.charset
    env = RenderEnv(lang)
    suffix = f" [{lang}]" if len(service.languages) > 1 else ""

    def text_of(text: Text) -> str:
        return gsm.prepare(text.template(lang, service.default_language).static_text(), charset)

    def fixed(name: str) -> str:
        """A message's text when it is fixed; a templated one cannot be judged ahead."""
        message = service.message(name)
        return text_of(message) if _static(message) else ""

    nav = fixed("nav")
    more_label = fixed("more")
    more = gsm.prepare(option_line(service, service.keys.more, more_label), charset) if more_label else ""
    chrome = "\n".join(x for x in (fixed("invalid_choice"), more, nav) if x)
    if not gsm.fits(chrome + "\nX"):
        report(service.where, chrome,
               f"the error, more and navigation lines leave no room for content{suffix}: {_cost(chrome)}")
    for screen in service.screens.values():
        options = screen.options if isinstance(screen, MenuScreen) else ()
        for option in options:
            if _static(option.label):
                label = gsm.prepare(option_line(service, option.key or "9", text_of(option.label)), charset)
                page = "\n".join(x for x in (label, more, nav) if x)
                if not gsm.fits(page):
                    report(option.where, page, f"option label cannot fit a page{suffix}: {_cost(page)}")
        single = isinstance(screen, (EndScreen, InputScreen, ConfirmScreen))
        all_fixed = all(isinstance(line, TextLine) and line.when is None and _static(line.text)
                        for line in screen.lines)
        if single and all_fixed and screen.lines:
            lines = content_lines(service, screen, {}, env)
            page = gsm.prepare("\n".join(lines + ([nav] if nav and shows_nav(service, screen) else [])), charset)
            if not gsm.fits(page):
                kind = type(screen).__name__.removesuffix("Screen").lower()
                report(screen.where, page,
                       f"fixed text of this {kind} screen cannot fit one page{suffix}: {_cost(page)}")
        for line in screen.lines:
            if isinstance(line, TextLine) and _static(line.text):
                for word in text_of(line.text).split():
                    if not gsm.fits(word + "\n" + more):
                        report(line.text.where, word, f"a word cannot fit a page{suffix}: {_cost(word)}")
