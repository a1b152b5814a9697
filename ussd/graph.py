"""A picture of a service (``ussd graph``): its screens and links as Graphviz DOT or Mermaid text.

Drawn from the service's own shared machine (:class:`ussd.engine.ServiceMachine`): every arrow is a
transition the engine fires, labelled from the menu model (option keys and labels, ``when``
conditions, outcomes), so the picture cannot show a link the engine would not follow. The entry is
the one link that is not a transition (it is the machine's initial state): it is drawn from the
code dialled. The engine's own screens (``_error``, ``_resume``) and the subscriber's moves that
follow no link (back, home, more) are not the menu's, and are left out.

The text is written here rather than by ``transitions``' diagrams extension: that draws a machine
it builds itself, names a condition by its callable (a lambda, here) and uses state names as
Mermaid ids (``end`` or ``home/option3`` break a flowchart). Graphviz's ``dot`` is run only to turn
DOT into SVG or PNG. The engine never imports this module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath

from .engine import ServiceMachine
from .expr import Expr, RenderEnv
from .model import (
    ActionScreen,
    ConfirmScreen,
    EndScreen,
    InfoScreen,
    InputScreen,
    MenuScreen,
    Option,
    RouteScreen,
    Screen,
    Service,
    Text,
)
from .render import visible_options

#: What ``render`` makes with ``dot``.
PICTURES = ("svg", "png")
#: The format a file's name asks for (``-o 122.svg``); any other name gets Mermaid text.
SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}
#: The longest option label and condition written on an arrow (longer ones end in "…").
LABEL_CHARS, CONDITION_CHARS = 24, 48
#: Seconds ``dot`` may take (the #122# picture takes a fraction of one).
DOT_TIMEOUT = 60.0


class GraphError(Exception):
    """A picture could not be made (``dot`` missing, failing or too slow): one line, for the user."""


@dataclass(frozen=True)
class Style:
    """How one kind of screen looks: Graphviz shape, Mermaid brackets, colours."""

    shape: str
    brackets: tuple[str, str]
    fill: str
    stroke: str


#: Screen kinds, told apart by shape and colour (the legend lists those a service uses).
STYLES: dict[str, Style] = {
    "menu": Style("box", ("[", "]"), "#dbeafe", "#1d4ed8"),
    "info": Style("note", ("(", ")"), "#f1f5f9", "#475569"),
    "input": Style("parallelogram", ("[/", "/]"), "#dcfce7", "#15803d"),
    "confirm": Style("hexagon", ("{{", "}}"), "#fef9c3", "#a16207"),
    "route": Style("diamond", ("{", "}"), "#ede9fe", "#6d28d9"),
    "action": Style("component", ("[[", "]]"), "#ffedd5", "#c2410c"),
    "end": Style("doubleoctagon", ("([", "])"), "#fee2e2", "#b91c1c"),
}

KINDS: dict[type[Screen], str] = {
    MenuScreen: "menu", InfoScreen: "info", InputScreen: "input", ConfirmScreen: "confirm",
    RouteScreen: "route", ActionScreen: "action", EndScreen: "end",
}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    label: str


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    label: str


@dataclass(frozen=True)
class Drawing:
    """What both notations draw: the code dialled, its entry, the screens and the links."""

    code: str
    entry: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]

    @property
    def kinds(self) -> list[str]:
        """The kinds of screen drawn, in the legend's order."""
        used = {node.kind for node in self.nodes}
        return [kind for kind in STYLES if kind in used]


def format_for(output: str | None) -> str:
    """The format written when none is given: what ``-o FILE``'s name asks for, else Mermaid."""
    return SUFFIXES.get(PurePath(output).suffix.lower(), "mermaid") if output else "mermaid"


def drawing(service: Service) -> Drawing:
    """The service's screens, and its links as its machine's transitions, labelled."""
    machine = ServiceMachine(service).machine
    nodes: list[Node] = []
    links: list[Link] = []
    lang = service.default_language
    for sid, screen in service.screens.items():
        label = f"{sid}\n{screen.action}()" if isinstance(screen, ActionScreen) and screen.action != sid else sid
        nodes.append(Node(sid, KINDS[type(screen)], label))
        keys = option_keys(service, screen) if isinstance(screen, MenuScreen) else {}
        for event, fired in machine.events.items():
            for n, transition in enumerate(fired.transitions.get(sid, ())):
                links.append(Link(sid, transition.dest or sid, _link_label(screen, event, n, keys, lang)))
    return Drawing(service.code, service.entry, tuple(nodes), tuple(links))


def option_keys(service: Service, screen: MenuScreen) -> dict[int, str]:
    """Option index -> the key it is chosen with (when it is shown), where that is known before
    any subscriber is seen: a fixed key, or the number of an unkeyed option that no option that
    may be hidden or repeated precedes, numbered by the engine's own rule (the others' numbers
    depend on the subscriber)."""
    leading: list[Option] = []
    for option in (o for o in screen.options if o.key is None):
        if option.each is not None:
            break
        leading.append(replace(option, when=None))
        if option.when is not None:  # its own number is known (when it is shown), not the next ones'
            break
    keyed = [replace(option, when=None) for option in screen.options if option.key is not None]
    known = replace(screen, options=(*leading, *keyed))
    return {option.index: key for key, option, _ in visible_options(service, known, {}, RenderEnv())}


def _link_label(screen: Screen, event: str, n: int, keys: Mapping[int, str], lang: str) -> str:
    """What an arrow says: the ``n``-th transition of ``event`` from ``screen`` (the engine's
    events: ``option<index>``, ``submit``, ``yes``, ``no``, ``route``, ``outcome:<name>``)."""
    if isinstance(screen, MenuScreen):
        option = next(o for o in screen.options if f"option{o.index}" == event)
        return _option_label(option, keys.get(option.index), lang)
    if isinstance(screen, RouteScreen):
        when = screen.routes[n].when
        if when is not None:
            return _condition(when)
        return "else" if len(screen.routes) > 1 else ""
    if isinstance(screen, InputScreen):
        return f"{screen.rules.kind} → input.{screen.save}"
    if isinstance(screen, ActionScreen):
        return event.removeprefix("outcome:")
    return event  # a confirmation's yes or no


def _option_label(option: Option, key: str | None, lang: str) -> str:
    if option.each is not None:
        said = f"each {option.alias} in {_short(option.each.source, CONDITION_CHARS)}"
    else:
        said = _short(_source(option.label, lang), LABEL_CHARS)
        if key is not None:
            said = f"{key} {said}"
    return f"{said} {_condition(option.when)}" if option.when is not None else said


def _source(text: Text, lang: str) -> str:
    return text.template(lang, lang).source


def _condition(when: Expr) -> str:
    return f"[{_short(when.source, CONDITION_CHARS)}]"


def _short(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


# -- DOT ---------------------------------------------------------------------------------------------

_UNPRINTABLE = re.compile(r"[^\S\n ]|[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _printable(text: str) -> str:
    """``text`` with line breaks as ``\\n`` and what no picture can show (control characters,
    lone surrogates, tabs and other odd spaces) as a plain space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNPRINTABLE.sub(" ", text)


def dot_quote(text: str) -> str:
    """``text`` as a DOT quoted string that shows it as written: ``\\`` and ``"`` escaped, line
    breaks as ``\\n`` (centred lines); ``<``, ``|`` and braces mean nothing in a quoted label."""
    escaped = _printable(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _dot_style(style: Style) -> str:
    return f"shape={style.shape}, fillcolor={dot_quote(style.fill)}, color={dot_quote(style.stroke)}"


def _dot_lines(d: Drawing, title: str) -> Iterator[str]:
    yield f"digraph {dot_quote(d.code)} {{"
    yield (f"  graph [rankdir=LR, label={dot_quote(title)}, labelloc=t, fontname=Helvetica, "
           "nodesep=0.2, ranksep=0.5];")
    yield "  node [fontname=Helvetica, fontsize=11, style=filled, penwidth=1.2];"
    yield '  edge [fontname=Helvetica, fontsize=9, color="#475569", arrowsize=0.7];'
    yield '  subgraph cluster_kinds { label="screen kinds"; fontsize=10; color="#cbd5e1";'
    for kind in d.kinds:
        yield f"    {dot_quote('kind:' + kind)} [label={dot_quote(kind)}, {_dot_style(STYLES[kind])}];"
    yield "  }"
    yield '  "dial:" [label=' + dot_quote(d.code) + ', shape=circle, fillcolor="#111827", fontcolor=white];'
    yield f'  "dial:" -> {dot_quote(d.entry)} [penwidth=2];'
    for node in d.nodes:
        yield f"  {dot_quote(node.id)} [label={dot_quote(node.label)}, {_dot_style(STYLES[node.kind])}];"
    for link in d.links:
        label = f" [label={dot_quote(link.label)}]" if link.label else ""
        yield f"  {dot_quote(link.source)} -> {dot_quote(link.target)}{label};"
    yield "}"


def dot_text(service: Service) -> str:
    """The service as Graphviz DOT: ``dot -Tsvg`` draws it (see :func:`render`)."""
    return "\n".join(_dot_lines(drawing(service), service.name)) + "\n"


# -- Mermaid -----------------------------------------------------------------------------------------

#: Characters written as Mermaid entity codes (``#quot;``, ``#35;``): those that would end or
#: bend a quoted label (quotes, ``|`` in an edge label, HTML, markdown's backquote), ``#`` and
#: ``;`` that make entities, and ``:`` that Mermaid's style clean-up looks for.
_MERMAID_ENTITIES = {char: f"#{ord(char)};" for char in '"#;:|<>&`'}
_MERMAID_ESCAPE = re.compile("|".join(map(re.escape, _MERMAID_ENTITIES)))
#: The pairs Mermaid uses to stand for entity codes, and reads as "&" and ";" again in the finished
#: picture wherever they are: a zero-width space between them shows them as written.
_MERMAID_MARKS = {"ﬂ°": "ﬂ\u200b°", "¶ß": "¶\u200bß"}


def mermaid_quote(text: str) -> str:
    """``text`` as a Mermaid quoted label that shows it as written: the characters that mean
    something to Mermaid as decimal entity codes, line breaks as ``<br>``."""
    escaped = _MERMAID_ESCAPE.sub(lambda m: _MERMAID_ENTITIES[m.group()], _printable(text))
    for mark, kept in _MERMAID_MARKS.items():
        escaped = escaped.replace(mark, kept)
    return '"' + escaped.replace("\n", "<br>") + '"'


def mermaid_ids(screens: Iterable[str]) -> dict[str, str]:
    """A Mermaid id for each screen id: ``s_`` and its letters, digits and ``_`` (so never a
    keyword such as ``end``), numbered on where two would meet (``a.b`` and ``a_b``)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for sid in screens:
        base = "s_" + re.sub(r"\W", "_", sid, flags=re.ASCII)
        mid, n = base, 1
        while mid in taken:
            n += 1
            mid = f"{base}_{n}"
        ids[sid] = mid
        taken.add(mid)
    return ids


def _mermaid_node(mid: str, label: str, kind: str) -> str:
    opening, closing = STYLES[kind].brackets
    return f"  {mid}{opening}{mermaid_quote(label)}{closing}:::{kind}Screen"


def _mermaid_lines(d: Drawing) -> Iterator[str]:
    ids = mermaid_ids([node.id for node in d.nodes])
    yield "flowchart LR"
    for kind in d.kinds:
        style = STYLES[kind]
        yield f"  classDef {kind}Screen fill:{style.fill},stroke:{style.stroke},color:#111827"
    yield '  subgraph kinds ["screen kinds"]'
    for kind in d.kinds:
        yield "  " + _mermaid_node(f"k_{kind}", kind, kind)
    yield "  end"
    yield f"  dial(({mermaid_quote(d.code)})) ==> {ids[d.entry]}"
    for node in d.nodes:
        yield _mermaid_node(ids[node.id], node.label, node.kind)
    for link in d.links:
        label = f"|{mermaid_quote(link.label)}|" if link.label else ""
        yield f"  {ids[link.source]} -->{label} {ids[link.target]}"


def mermaid_text(service: Service) -> str:
    """The service as a Mermaid flowchart (GitHub draws a ```` ```mermaid ```` block in a README)."""
    return "\n".join(_mermaid_lines(drawing(service))) + "\n"


# -- pictures ----------------------------------------------------------------------------------------

def render(dot: str, fmt: str, *, program: str = "dot", timeout: float = DOT_TIMEOUT) -> bytes:
    """DOT text as an SVG or PNG picture, made by Graphviz's ``dot`` (Debian's ``graphviz``)."""
    if fmt not in PICTURES:
        raise ValueError(f"dot makes {', '.join(PICTURES)}, not {fmt!r}")
    found = shutil.which(program)
    if found is None:
        raise GraphError(f"{program!r} (Graphviz) is not installed: install it (Debian: apt-get install graphviz) "
                         "or choose --format mermaid or dot")
    try:
        done = subprocess.run([found, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphError(f"{program} took more than {timeout:g} s: no picture") from None
    except OSError as exc:
        raise GraphError(f"cannot run {found}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphError(f"{program} failed (status {done.returncode}): {said[0] if said else 'no output'}")
    return done.stdout
