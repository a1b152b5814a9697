"""``ussd graph``: the picture of a service has every screen and every link the checker knows,
screen kinds told apart, conditions on the arrows, and labels escaped for DOT and Mermaid."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import GOOD_MENUS, SHIPPED_MENUS, shop_population, shop_registry
from console import USSD, console_env, ussd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.demo import demo_registry
from ussd import graph
from ussd.expr import Expr
from ussd.loader import load_menus_or_raise
from ussd.model import MenuScreen, RouteScreen, Service

DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed (Debian: graphviz)")
FUZZ = settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def shipped() -> Service:
    return load_menus_or_raise([SHIPPED_MENUS], demo_registry()).services["122"]


def good() -> list[Service]:
    return list(load_menus_or_raise([GOOD_MENUS], shop_registry(shop_population())).services.values())


SERVICES: list[Callable[[], list[Service]]] = [lambda: [shipped()], good]


# -- reading the drawings back ----------------------------------------------------------------------

@dataclass
class Read:
    """What a drawing shows: screen -> its kind's look, the links, and where the dialled code leads."""

    looks: dict[str, str]
    links: list[tuple[str, str, str]]  # (source, target, label as shown)
    entry: str


def dot_unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def mermaid_unquote(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text.replace("<br>", "\n"))


DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def read_dot(text: str) -> Read:
    looks: dict[str, str] = {}
    links: list[tuple[str, str, str]] = []
    entry = ""
    for line in text.splitlines():
        if line.startswith('  "dial:" ['):  # the code dialled, not a screen
            continue
        if m := re.fullmatch(rf"  {DOT_STRING} \[label={DOT_STRING}, shape=(\w+), .*\];", line):
            looks[dot_unquote(m.group(1))] = m.group(3)
        elif m := re.fullmatch(rf'  "dial:" -> {DOT_STRING} .*;', line):
            entry = dot_unquote(m.group(1))
        elif m := re.fullmatch(rf"  {DOT_STRING} -> {DOT_STRING}(?: \[label={DOT_STRING}\])?;", line):
            links.append((dot_unquote(m.group(1)), dot_unquote(m.group(2)), dot_unquote(m.group(3) or "")))
    return Read(looks, links, entry)


def read_mermaid(text: str) -> Read:
    names: dict[str, str] = {}
    looks: dict[str, str] = {}
    raw_links: list[tuple[str, str, str]] = []
    entry = ""
    for line in text.splitlines():
        if m := re.fullmatch(r'  (s_\w+)([^"\w]+)"([^"]*)"([^"]+):::(\w+)', line):
            sid = mermaid_unquote(m.group(3)).split("\n")[0]
            names[m.group(1)] = sid
            looks[sid] = m.group(2) + m.group(4) + m.group(5)
        elif m := re.fullmatch(r'  dial\(\("[^"]*"\)\) ==> (s_\w+)', line):
            entry = m.group(1)
        elif m := re.fullmatch(r'  (s_\w+) -->(?:\|"([^"]*)"\|)? (s_\w+)', line):
            raw_links.append((m.group(1), m.group(3), mermaid_unquote(m.group(2) or "")))
    links = [(names[a], names[b], label) for a, b, label in raw_links]
    return Read(looks, links, names[entry])


READERS = [(graph.dot_text, read_dot), (graph.mermaid_text, read_mermaid)]


# -- every screen, every link ----------------------------------------------------------------------

def checker_links(service: Service) -> Counter[tuple[str, str]]:
    """The links the checker follows, from the model (``Screen.targets``), one per link."""
    return Counter((sid, target) for sid, screen in service.screens.items() for target, _ in screen.targets())


@pytest.mark.parametrize("services", SERVICES, ids=["122", "good"])
@pytest.mark.parametrize(("draw", "read"), READERS, ids=["dot", "mermaid"])
def test_every_screen_and_link_the_checker_knows_is_drawn(
    services: Callable[[], list[Service]], draw: Callable[[Service], str], read: Callable[[str], Read]
) -> None:
    for service in services():
        shown = read(draw(service))
        assert set(shown.looks) == set(service.screens)
        assert Counter((a, b) for a, b, _ in shown.links) == checker_links(service)
        assert shown.entry == service.entry


@pytest.mark.parametrize("services", SERVICES, ids=["122", "good"])
@pytest.mark.parametrize(("draw", "read"), READERS, ids=["dot", "mermaid"])
def test_screen_kinds_are_told_apart(
    services: Callable[[], list[Service]], draw: Callable[[Service], str], read: Callable[[str], Read]
) -> None:
    for service in services():
        looks = read(draw(service)).looks
        by_kind: dict[type, set[str]] = {}
        for sid, screen in service.screens.items():
            by_kind.setdefault(type(screen), set()).add(looks[sid])
        assert all(len(seen) == 1 for seen in by_kind.values()), by_kind  # one look per kind
        assert len({next(iter(seen)) for seen in by_kind.values()}) == len(by_kind)  # a look of its own


def conditions(service: Service) -> list[tuple[str, str, Expr]]:
    found: list[tuple[str, str, Expr]] = []
    for sid, screen in service.screens.items():
        if isinstance(screen, MenuScreen):
            found += [(sid, o.target, o.when) for o in screen.options if o.when is not None]
        elif isinstance(screen, RouteScreen):
            found += [(sid, r.target, r.when) for r in screen.routes if r.when is not None]
    return found


@pytest.mark.parametrize("services", SERVICES, ids=["122", "good"])
@pytest.mark.parametrize(("draw", "read"), READERS, ids=["dot", "mermaid"])
def test_conditions_are_written_on_their_arrows(
    services: Callable[[], list[Service]], draw: Callable[[Service], str], read: Callable[[str], Read]
) -> None:
    checked = 0
    for service in services():
        links = read(draw(service)).links
        for source, target, when in conditions(service):
            said = [label for a, b, label in links if (a, b) == (source, target)]
            assert any(f"[{when.source[:graph.CONDITION_CHARS - 1]}" in label for label in said), (source, said)
            checked += 1
    assert checked >= 3


def labels_from(service: Service, source: str) -> list[str]:
    return [label for a, _, label in read_dot(graph.dot_text(service)).links if a == source]


def test_option_keys_on_the_arrows_where_they_are_known() -> None:
    home = labels_from(shipped(), "home")
    assert home[:7] == ["1 Bonus Crédit", "2 Bonus Minutes", "3 Internet", "4 Mon offre", "5 Suivi conso",
                        "6 Options et pass", "7 Numéros préférés"]
    assert home[7] == "8 Ma facture [subscriber.postpaid]"  # 8 when shown
    assert home[8] == "internet+ [subscriber.postpaid and internet_plus.enabled]"  # 8 or 9: not said
    shop = next(s for s in good() if s.code == "*555#")
    assert labels_from(shop, "home") == [
        "1 Solde", '2 Réservé postpayé [subscriber.offer == "postpaid"]', "Acheter", "Liste",
        "Ajouter un numéro", "Choisir une ligne", "9 Quitter"]
    assert labels_from(shop, "pick") == ["each l in subscriber.lines[:3] [l.amount >= 200]", "Aucune"]
    assert labels_from(shop, "start") == ["[subscriber == None]", '[subscriber.status != "active"]', "else"]
    assert labels_from(shop, "do_buy") == ["success", "insufficient_funds"]
    assert labels_from(shop, "confirm_buy") == ["yes", "no"]
    assert labels_from(shop, "amount") == ["amount → input.amount"]


# -- operators' words, escaped ---------------------------------------------------------------------

NASTY = 'Crédit "50%" <b>|{x}</b>\n#122# ; a:b `c` & d\\'


def nasty_service(tmp_path: Path) -> Service:
    """A service whose words and ids hold what DOT and Mermaid read as syntax (JSON is YAML)."""
    when = json.dumps('"<|>" != "#"')
    (tmp_path / "nasty.yaml").write_text(
        f"service: {{code: '#321#', name: {json.dumps(NASTY)}, entry: end}}\n"
        "screens:\n"
        "  end:\n"
        "    text: hi\n"
        "    options:\n"
        f"      - {{label: {json.dumps(NASTY)}, goto: a.b, when: {when}}}\n"
        "      - {label: x, goto: a_b}\n"
        "  a.b: {type: end, text: bye}\n"
        "  a_b: {type: end, text: bye}\n", encoding="utf-8")
    return load_menus_or_raise([tmp_path], demo_registry()).services["321"]


def test_nasty_words_keep_every_screen_and_link(tmp_path: Path) -> None:
    service = nasty_service(tmp_path)
    assert service.name == NASTY
    for draw, read in READERS:
        shown = read(draw(service))
        assert set(shown.looks) == {"end", "a.b", "a_b"}
        assert Counter((a, b) for a, b, _ in shown.links) == checker_links(service)
        assert shown.links[0][2] == '1 Crédit "50%" <b>|{x}</b… ["<|>" != "#"]'
    for quoted in re.findall(r'"[^"]*"', graph.mermaid_text(service)):
        assert mermaid_quoted_well(quoted), quoted


@needs_dot
def test_nasty_words_go_through_dot(tmp_path: Path) -> None:
    texts = svg_texts(graph.render(graph.dot_text(nasty_service(tmp_path)), "svg"))
    assert 'Crédit "50%" <b>|{x}</b>' in texts  # the title's first line
    assert "#122# ; a:b `c` & d\\" in texts


def mermaid_quoted_well(quoted: str) -> bool:
    """One quoted label: nothing inside that ends it, starts HTML or markdown, or bends an entity."""
    inner = quoted[1:-1]
    return (quoted[0] == quoted[-1] == '"' and not re.search(r'["|`\n\r]', inner)
            and not re.search(r"<(?!br>)", inner) and not re.search(r"#(?!\d+;)", inner)
            and ":" not in inner and "ﬂ°" not in inner and "¶ß" not in inner)


@FUZZ
@given(st.text())
def test_mermaid_quoting_is_balanced_and_says_the_text(text: str) -> None:
    quoted = graph.mermaid_quote(text)
    assert mermaid_quoted_well(quoted)
    shown = printable(text).replace("ﬂ°", "ﬂ\u200b°").replace("¶ß", "¶\u200bß")  # Mermaid's own marks, kept apart
    assert mermaid_unquote(quoted[1:-1]) == shown


def printable(text: str) -> str:
    """What a label shows of ``text``: its lines, with control characters and odd spaces as spaces."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(" " if char != "\n" and _odd(char) else char for char in lines)


def _odd(char: str) -> bool:
    code = ord(char)
    return (char.isspace() or code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF))


def svg_texts(svg: bytes) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]


@needs_dot
@FUZZ
@given(st.text(min_size=1))
def test_dot_reads_any_label_as_written(text: str) -> None:
    label = graph.dot_quote(text)
    svg = graph.render(f'digraph {label} {{ "a" [label={label}, shape=box]; "a" -> "b" [label={label}]; }}\n',
                       "svg")
    shown = [line.strip() for line in printable(text).split("\n")]
    texts = [t.replace("\xa0", " ").strip() for t in svg_texts(svg)]  # dot keeps runs of spaces with no-break ones
    for line in shown:
        if line:
            assert texts.count(line) >= 2, (text, texts)  # the node's label and the arrow's


# -- pictures through dot ---------------------------------------------------------------------------

def svg_drawn(svg: bytes) -> tuple[set[str], Counter[tuple[str, ...]]]:
    """The screens and arrows of a picture ``dot`` made: Graphviz titles each node and edge."""
    titles: dict[str, list[str]] = {"node": [], "edge": []}
    for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("{http://www.w3.org/2000/svg}title")
        if title is not None and g.get("class") in titles:
            titles[g.get("class") or ""].append(title.text or "")
    screens = {t for t in titles["node"] if t != "dial:" and not t.startswith("kind:")}
    return screens, Counter(tuple(t.split("->")) for t in titles["edge"])


@needs_dot
def test_the_122_picture_through_dot_has_every_screen_and_link() -> None:
    service = shipped()
    screens, arrows = svg_drawn(graph.render(graph.dot_text(service), "svg"))
    assert screens == set(service.screens)
    assert arrows == checker_links(service) + Counter({("dial:", service.entry): 1})


def test_the_committed_122_picture_is_the_shipped_menus() -> None:
    """docs/img/122.svg (``ussd graph '#122#' -o docs/img/122.svg``) is drawn again when the menus change."""
    service = shipped()
    screens, arrows = svg_drawn((SHIPPED_MENUS.parent / "docs" / "img" / "122.svg").read_bytes())
    assert screens == set(service.screens)
    assert arrows == checker_links(service) + Counter({("dial:", service.entry): 1})


@needs_dot
def test_png_and_a_bad_dot_text(tmp_path: Path) -> None:
    assert graph.render(graph.dot_text(shipped()), "png").startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(graph.GraphError, match=r"^dot failed \(status 1\): .*syntax error"):
        graph.render("digraph { a -> }", "svg")


def test_no_dot_is_one_clear_error() -> None:
    with pytest.raises(graph.GraphError, match="'no-such-dot' \\(Graphviz\\) is not installed"):
        graph.render("digraph {}", "svg", program="no-such-dot")


def test_the_engine_does_not_load_the_drawing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, ussd.engine; "
         "print('ussd.graph' in sys.modules, 'transitions.extensions.diagrams' in sys.modules)"],
        capture_output=True, text=True, check=True, cwd=SHIPPED_MENUS.parent)
    assert done.stdout.split() == ["False", "False"]


# -- the command ------------------------------------------------------------------------------------

def test_graph_writes_mermaid_text_by_default() -> None:
    run = ussd("graph", "#122#")
    assert run.code == 0, run.err
    assert run.lines[0] == "flowchart LR" and run.err == ""
    shown = read_mermaid(run.out)
    service = shipped()
    assert set(shown.looks) == set(service.screens)
    assert Counter((a, b) for a, b, _ in shown.links) == checker_links(service)


def test_graph_format_dot_and_what_a_file_name_asks_for(tmp_path: Path) -> None:
    run = ussd("graph", "*122#", "--format", "dot")
    assert run.code == 0, run.err
    assert set(read_dot(run.out).looks) == set(shipped().screens)
    for name, first in (("122.dot", 'digraph "#122#" {'), ("122.mmd", "flowchart LR")):
        run = ussd("graph", "#122#", "-o", str(tmp_path / name))
        assert run.code == 0 and run.out == "" and run.err == "", run.err
        assert (tmp_path / name).read_text(encoding="utf-8").splitlines()[0] == first


@needs_dot
def test_graph_writes_svg_and_png_files(tmp_path: Path) -> None:
    run = ussd("graph", "#122#", "-o", str(tmp_path / "122.svg"))
    assert run.code == 0 and run.out == "" and run.err == "", run.err
    titles = [t.text for t in ET.parse(tmp_path / "122.svg").iter("{http://www.w3.org/2000/svg}title")]
    assert set(shipped().screens) <= set(titles)
    run = ussd("graph", "#122#", "--format", "png", "-o", str(tmp_path / "picture"))
    assert run.code == 0, run.err
    assert (tmp_path / "picture").read_bytes().startswith(b"\x89PNG")


def test_graph_of_other_menus(tmp_path: Path) -> None:
    nasty_service(tmp_path)
    run = ussd("graph", "#321#", "--menus", str(tmp_path))
    assert run.code == 0, run.err
    assert set(read_mermaid(run.out).looks) == {"end", "a.b", "a_b"}


@pytest.mark.parametrize(("args", "code", "said"), [
    (("#123#",), 1, "no service '#123#' in "),
    (("122",), 2, "no service '122' in "),
    (("#122#", "--menus", "tests/menus/broken"), 1, "the menus have 25 problem(s): fix them (see `ussd check`)"),
    (("#122#", "-o", "no/such/folder/122.mmd"), 1, "-o no/such/folder/122.mmd: cannot write: "),
    (("#122#", "--format", "jpeg"), 2, "ussd graph: argument --format: invalid choice: 'jpeg'"),
])
def test_graph_errors_are_one_line(args: tuple[str, ...], code: int, said: str) -> None:
    run = ussd("graph", *args)
    assert run.code == code
    assert run.out == "" and len(run.err.splitlines()) == 1 and run.err.startswith(said), run.err
    if "no service" in said:
        assert run.err.rstrip().endswith("(did you mean '#122#'?); served: #122#")


def test_graph_without_dot_says_so(tmp_path: Path) -> None:
    env = {**console_env(), "PATH": str(tmp_path)}  # a PATH where no dot is
    done = subprocess.run([USSD, "graph", "#122#", "-o", str(tmp_path / "122.svg")], capture_output=True,
                          text=True, env=env, cwd=SHIPPED_MENUS.parent, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "'dot' (Graphviz) is not installed: install it (Debian: apt-get install graphviz) "
        "or choose --format mermaid or dot"]
    assert not (tmp_path / "122.svg").exists()
