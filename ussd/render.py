"""Screens to handset pages: templates rendered, options numbered, text made GSM-safe and paged.

Everything here is a pure function of the compiled screen and a data scope, so the engine and the
benchmark's baseline share it and the checker can render fixed text the same way the handset sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import tzinfo
from typing import Any

from . import gsm
from .errors import StepTooLarge
from .expr import EvalError, Expr, RenderEnv
from .model import ConfirmScreen, EachLine, EndScreen, MenuScreen, Option, Screen, Service, Text, TextLine
from .pager import paginate

log = logging.getLogger("ussd.render")

#: What one step may render: characters of text, each template, list and condition evaluated
#: counting as ``EVALUATION_COST`` more. A handset shows 182 characters a page and a dialogue a few
#: pages a step; the bound is far above any screen (a menu listing 1,000 items stays well within
#: it) and far below what hurts a worker (each template is capped too: ``expr.MAX_TEXT_LEN``).
MAX_STEP_TEXT = 262_144
EVALUATION_COST = 16


class StepBudget:
    """What is left of one step's bound, spent by every template, list and condition it
    evaluates; going past it raises :class:`StepTooLarge`. One counter and one comparison: it is
    charged on the hot path."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int = MAX_STEP_TEXT) -> None:
        self.left = self.limit = limit

    def exceeded(self, where: object) -> None:
        raise StepTooLarge(f"one step rendered more than {self.limit:,} characters (each template, list and "
                           f"condition counting as {EVALUATION_COST}) at {where}")


def _spend(scope: Mapping[str, Any], characters: int, where: object) -> None:
    """Charge the step's budget, if the scope carries one (a step's scope does)."""
    budget = getattr(scope, "budget", None)
    if budget is not None:
        budget.left -= characters + EVALUATION_COST
        if budget.left < 0:
            budget.exceeded(where)


class Overlay(Mapping[str, Any]):
    """A scope with one more name bound (the ``each`` alias), without copying the base scope."""

    __slots__ = ("_base", "_name", "_value", "budget")

    def __init__(self, base: Mapping[str, Any], name: str, value: Any) -> None:
        self._base, self._name, self._value = base, name, value
        self.budget: StepBudget | None = getattr(base, "budget", None)

    def __getitem__(self, key: str) -> Any:
        if key == self._name:
            return self._value
        return self._base[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key == self._name:
            return self._value
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key == self._name or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield self._name
        yield from (k for k in self._base if k != self._name)

    def __len__(self) -> int:
        return len(self._base) + (0 if self._name in self._base else 1)


def holds(condition: Expr | None, scope: Mapping[str, Any], env: RenderEnv) -> bool:
    """A condition that cannot be evaluated (missing data, wrong type) does not hold: the
    subscriber sees less, never a crash."""
    if condition is None:
        return True
    _spend(scope, 0, condition.source)
    try:
        return bool(condition.evaluate(scope, env))
    except EvalError as exc:
        log.warning("condition %r failed: %s", condition.source, exc)
        return False


def render_text(text: Text, scope: Mapping[str, Any], env: RenderEnv, default_lang: str) -> str:
    try:
        out: str = text.template(env.lang, default_lang).render(scope, env)  # a template renders text
    except EvalError as exc:
        log.warning("template at %s failed: %s", text.where, exc)
        out = "?"
    _spend(scope, len(out), text.where)
    return out


def render_env(service: Service, lang: str, tz: tzinfo) -> RenderEnv:
    """The rendering settings of one language of a service, made once: its numbering plan, and
    its own ``no``/``yes`` words for a boolean shown in a template (the expression language
    holds none)."""
    phone = service.phone
    env = RenderEnv(lang, tz, phone.country_code, phone.national_digits)
    no, yes = (render_text(service.message(name), {}, env, service.default_language) for name in ("no", "yes"))
    return replace(env, booleans=(no, yes))


#: The item of an option that does not come from a list.
NO_ITEM = None


def _items(line_or_option: EachLine | Option, scope: Mapping[str, Any], env: RenderEnv) -> list[Any]:
    """The list an ``each`` runs over (a list as given: callers only read it); anything but a list,
    a tuple or a mapping's values is empty."""
    expr = line_or_option.items if isinstance(line_or_option, EachLine) else line_or_option.each
    assert expr is not None
    _spend(scope, 0, line_or_option.where)
    try:
        items = expr.evaluate(scope, env)
    except EvalError as exc:
        log.warning("list at %s failed: %s", line_or_option.where, exc)
        return []
    if type(items) is list:
        return items
    if isinstance(items, Mapping):
        return list(items.values())
    return list(items) if isinstance(items, (list, tuple)) else []


def option_scope(option: Option, scope: Mapping[str, Any], item: Any) -> Mapping[str, Any]:
    """What an option's label, condition and saved values see (its list item, if any)."""
    return scope if option.each is None else Overlay(scope, option.alias, item)


def _taken_keys(service: Service, screen: MenuScreen) -> frozenset[str]:
    """Keys numbering must skip on this screen: fixed option keys and the navigation keys."""
    memo = service.memo.taken
    taken = memo.get(screen.id)
    if taken is None:
        keys = service.keys
        taken = memo[screen.id] = frozenset({o.key for o in screen.options if o.key is not None}
                                            | {keys.back, keys.home, keys.more})
    return taken


def visible_options(
    service: Service, screen: MenuScreen, scope: Mapping[str, Any], env: RenderEnv
) -> list[tuple[str, Option, Any]]:
    """The options this subscriber sees, as (key, option, list item): unkeyed options (and each
    item of a list option) are numbered 1, 2, ... over the visible ones, skipping keys taken
    explicitly or by navigation."""
    return list(iter_options(service, screen, scope, env))


def iter_options(
    service: Service, screen: MenuScreen, scope: Mapping[str, Any], env: RenderEnv
) -> Iterator[tuple[str, Option, Any]]:
    taken = _taken_keys(service, screen)
    number = 0
    for option in screen.options:
        when = option.when
        if option.each is None:
            if when is not None and not holds(when, scope, env):
                continue
            items: Any = _ONE
        else:
            items = _items(option, scope, env)
        for item in items:
            if (option.each is not None and when is not None
                    and not holds(when, Overlay(scope, option.alias, item), env)):
                continue
            key = option.key
            if key is None:
                number += 1
                key = str(number)
                while key in taken:
                    number += 1
                    key = str(number)
            yield key, option, item


_ONE = (NO_ITEM,)


def option_line(service: Service, key: str, label: str) -> str:
    return service.option_format.replace("{key}", key).replace("{label}", label)


def content_lines(
    service: Service,
    screen: Screen,
    scope: Mapping[str, Any],
    env: RenderEnv,
    options: list[tuple[str, Option, Any]] | None = None,
) -> list[str]:
    """The screen's lines before paging: text, list items, then options (or yes/no)."""
    default_lang = service.default_language
    out: list[str] = []
    for line in screen.lines:
        if line.when is not None and not holds(line.when, scope, env):
            continue
        if isinstance(line, TextLine):
            out.extend(render_text(line.text, scope, env, default_lang).split("\n"))
        else:
            out.extend(_each_lines(line, scope, env, default_lang))
    if isinstance(screen, MenuScreen):
        for key, option, item in options if options is not None else visible_options(service, screen, scope, env):
            label = render_text(option.label, option_scope(option, scope, item), env, default_lang)
            out.append(option_line(service, key, label))
    elif isinstance(screen, ConfirmScreen):
        out.append(option_line(service, "1", render_text(service.message("yes"), scope, env, default_lang)))
        out.append(option_line(service, "2", render_text(service.message("no"), scope, env, default_lang)))
    return out


def _each_lines(line: EachLine, scope: Mapping[str, Any], env: RenderEnv, default_lang: str) -> list[str]:
    items = _items(line, scope, env)
    if not items:
        if line.empty is None:
            return []
        return render_text(line.empty, scope, env, default_lang).split("\n")
    out: list[str] = []
    for item in items:
        out.extend(render_text(line.line, Overlay(scope, line.alias, item), env, default_lang).split("\n"))
    return out


def is_static(service: Service, screen: Screen) -> bool:
    """Whether the screen's pages depend only on the language, the error line and which options
    are shown, so they can be computed once per combination: fixed text, no conditional lines,
    no lists, fixed option labels (options may still have conditions)."""
    if any(not isinstance(line, TextLine) or line.when is not None or not line.text.is_static
           for line in screen.lines):
        return False
    if isinstance(screen, MenuScreen) and any(o.each is not None or not o.label.is_static for o in screen.options):
        return False
    return all(service.message(name).is_static for name in ("more", "nav", "yes", "no"))


def shows_nav(service: Service, screen: Screen) -> bool:
    """The back/home reminder goes on screens below the entry that wait for the subscriber."""
    return screen.id not in service.top_screens and not isinstance(screen, EndScreen)


def paginate_lines(
    service: Service,
    lines: list[str],
    scope: Mapping[str, Any],
    env: RenderEnv,
    *,
    nav: bool,
    reserve: str | None = None,
) -> list[str]:
    """Make the lines safe for the service's charset and split them into pages that fit, each
    with room left at its top for ``reserve`` (the longest error line the screen may show): an
    error line shown above a page (:func:`with_error`) then never moves a line to another page."""
    charset = service.charset
    more, footer = _chrome(service, scope, env)
    prepare = gsm.prepare
    header = tuple(reserve.split("\n")) if reserve else ()
    pages = paginate(
        [prepare(line, charset) for line in lines],
        more=more,
        header=header,
        footer=footer if nav else (),
    )
    if not reserve:
        return pages
    return [page[len(reserve) + 1:] if page.startswith(reserve + "\n") else "" if page == reserve else page
            for page in pages]


def prepared(service: Service, text: str) -> str:
    """Text as the handset is sent it: safe for the service's charset, line by line."""
    charset = service.charset
    return "\n".join(gsm.prepare(line, charset) for line in text.split("\n"))


def longest(texts: Iterable[str]) -> str | None:
    """The text that costs the most on a page (septets, or UCS-2 units), or None."""
    return max(texts, key=lambda text: gsm.measure(text).units, default=None)


def with_error(error: str | None, page: str) -> str:
    """A page with the error line above it (the page was laid out with room for it)."""
    if not error:
        return page
    return f"{error}\n{page}" if page else error


def _chrome(service: Service, scope: Mapping[str, Any], env: RenderEnv) -> tuple[str, tuple[str, ...]]:
    """The "more" line and the navigation footer, ready for the charset; kept per service and
    language when the messages are fixed text (they nearly always are)."""
    cached = service.memo.chrome.get(env.lang)
    if cached is not None:
        return cached
    default_lang = service.default_language
    prepare, charset = gsm.prepare, service.charset
    more = option_line(service, service.keys.more, render_text(service.message("more"), scope, env, default_lang))
    nav_text = render_text(service.message("nav"), scope, env, default_lang)
    footer = tuple(prepare(line, charset) for line in nav_text.split("\n")) if nav_text else ()
    chrome = (prepare(more, charset), footer)
    if service.message("more").is_static and service.message("nav").is_static:
        service.memo.chrome[env.lang] = chrome
    return chrome
