"""Paging a screen: explicit examples, then properties over generated screens."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ussd import gsm
from ussd.pager import PagerError, paginate

EMOJI = "😀"
MORE = ">99 Suite"

# --- helpers -------------------------------------------------------------------------------


def page_of(
    header: Sequence[str], content: Sequence[str], footer: Sequence[str], more: str | None
) -> str:
    """The page text the spec defines for these parts."""
    return "\n".join([*header, *content, *([more] if more is not None else []), *footer])


def content_of(
    pages: list[str], header: Sequence[str], footer: Sequence[str], more: str
) -> list[list[str]]:
    """Check the frame of every page and return each page's content lines."""
    result = []
    for number, page in enumerate(pages):
        lines = page.split("\n")
        assert lines[: len(header)] == list(header)
        assert lines[len(lines) - len(footer) :] == list(footer)
        body = lines[len(header) : len(lines) - len(footer)]
        if number < len(pages) - 1:
            assert body[-1] == more
            body = body[:-1]
        assert more not in body
        result.append(body)
    return result


def fits_alone(line: str, header: Sequence[str], footer: Sequence[str], more: str) -> bool:
    return gsm.fits(page_of(header, [line], footer, more))


# --- examples ------------------------------------------------------------------------------

MENU = ["1. Solde", "2. Forfaits internet", "3. Bonus", "4. Transfert d'argent", "5. Mon compte"]


def test_five_option_menu_fits_one_page() -> None:
    pages = paginate(MENU, more=MORE, header=["Orange #122#"], footer=["0 Retour 00 Accueil"])
    assert pages == ["\n".join(["Orange #122#", *MENU, "0 Retour 00 Accueil"])]


def test_thirty_bonus_lines_paginate_into_several_pages() -> None:
    lines = [f"{i}. Bonus {i * 100}F valable {i % 7 + 1} jours" for i in range(1, 31)]
    header, footer = ["Vos bonus:"], ["0 Retour"]
    pages = paginate(lines, more=MORE, header=header, footer=footer)
    assert len(pages) > 3
    assert all(gsm.fits(p) for p in pages)
    contents = content_of(pages, header, footer, MORE)
    assert [line for body in contents for line in body] == lines
    assert all(body for body in contents)
    # Greedy: the first line of each next page would not have fit on the page before it.
    for body, nxt in pairwise(contents):
        assert not gsm.fits(page_of(header, [*body, nxt[0]], footer, MORE))


def test_ucs2_line_forces_the_80_unit_limit_on_its_page_only() -> None:
    lines = [f"{i}. Pass internet {i} Go valable 30 jours" for i in range(1, 13)]
    lines[6] = "7. Fenêtre spéciale"  # ê is not GSM-7
    pages = paginate(lines, more=MORE)
    measures = [gsm.measure(p) for p in pages]
    assert all(m.fits for m in measures)
    ucs2_pages = [p for p, m in zip(pages, measures, strict=True) if m.coding == "ucs2"]
    assert len(ucs2_pages) == 1 and "7. Fenêtre spéciale" in ucs2_pages[0]
    assert gsm.ucs2_units(ucs2_pages[0]) <= 80
    # The other pages still use (and need) the 182-septet limit.
    assert any(m.coding == "gsm7" and m.units > 80 for m in measures)
    contents = content_of(pages, (), (), MORE)
    assert [line for body in contents for line in body] == lines


def test_empty_lines_give_one_page_of_header_and_footer() -> None:
    assert paginate([], more=MORE, header=["H"], footer=["F"]) == ["H\nF"]
    assert paginate([], more=MORE) == [""]
    assert paginate([""], more=MORE, header=["H"]) == ["H\n"]


def test_embedded_newlines_are_line_breaks() -> None:
    lines = ["a" * 100 + "\n" + "b" * 100]
    pages = paginate(lines, more=MORE)
    assert pages == ["a" * 100 + "\n" + MORE, "b" * 100]


def test_long_line_is_wrapped_at_spaces() -> None:
    sentence = " ".join(f"mot{i}" for i in range(80))  # ~470 chars
    pages = paginate(["Intro", sentence], more=MORE)
    contents = content_of(pages, (), (), MORE)
    assert contents[0] == ["Intro"]  # the long line does not fit beside it, even wrapped
    pieces = [line for body in contents[1:] for line in body]
    assert len(pieces) > 1
    assert " ".join(pieces) == sentence
    assert all(p == p.strip() and p for p in pieces)
    assert all(gsm.fits(p) for p in pages)


def test_spaces_at_a_cut_are_dropped() -> None:
    sentence = "   ".join(["mot"] * 100)
    pages = paginate([sentence], more=MORE)
    pieces = [line for body in content_of(pages, (), (), MORE) for line in body]
    assert len(pieces) > 1
    assert all(p == p.strip(" ") for p in pieces)
    assert sum(p.count("mot") for p in pieces) == 100


def test_word_longer_than_a_page_is_hard_split() -> None:
    word = "x" * 400
    pages = paginate([word], more=MORE)
    pieces = [line for body in content_of(pages, (), (), MORE) for line in body]
    assert "".join(pieces) == word
    assert all(gsm.fits(p) for p in pages)
    assert len(pages) == 3  # 172 + 172 + 56: each cut as late as the page allows
    assert [len(p) for p in pieces] == [182 - len(MORE) - 1] * 2 + [400 - 2 * 172]


def test_hard_split_of_ucs2_word_keeps_whole_chars() -> None:
    word = EMOJI * 60 + "ê" * 30  # 150 UTF-16 units, never a fit in 80
    pages = paginate([word], more=MORE)
    pieces = [line for body in content_of(pages, (), (), MORE) for line in body]
    assert "".join(pieces) == word
    assert all(gsm.measure(p).fits for p in pages)


def test_extension_chars_count_double_when_splitting() -> None:
    word = "€" * 200
    pages = paginate([word], more=MORE)
    pieces = [line for body in content_of(pages, (), (), MORE) for line in body]
    assert "".join(pieces) == word
    assert gsm.septets(pages[0]) <= 182
    assert len(pieces[0]) == (182 - len(MORE) - 1) // 2


def test_frame_degrades_footer_first_then_header() -> None:
    lines = ["a" * 150, "b" * 150]
    header, footer = ["H" * 60], ["F" * 60]
    more = "M" * 60
    # header + more + footer fill the page: the footer goes, the header stays.
    pages = paginate(lines, more=more, header=header, footer=footer)
    assert all(gsm.fits(p) for p in pages)
    assert all(p.startswith("H" * 60 + "\n") and "F" * 60 not in p for p in pages)
    # A header that alone leaves no room goes too.
    pages = paginate(lines, more=more, header=["H" * 121], footer=footer)
    assert all(gsm.fits(p) for p in pages)
    assert all("H" not in p and "F" not in p for p in pages)
    flat = [line for body in content_of(pages, (), (), more) for line in body]
    assert "".join(flat) == "a" * 150 + "b" * 150


def test_pager_error_when_more_leaves_no_room() -> None:
    with pytest.raises(PagerError):
        paginate(["a" * 100, "b" * 100], more="M" * 181)
    assert issubclass(PagerError, ValueError)
    # A screen that needs no "more" line is still fine.
    assert paginate(["a"], more="M" * 181) == ["a"]


def test_custom_fits_predicate() -> None:
    def short(text: str) -> bool:
        return len(text) <= 30

    lines = ["un deux trois", "quatre cinq six sept huit neuf dix onze douze", "treize"]
    pages = paginate(lines, more="9 >", fits=short)
    assert all(short(p) for p in pages)
    words = [w for body in content_of(pages, (), (), "9 >") for line in body for w in line.split()]
    assert words == " ".join(lines).split()


def test_lines_must_not_be_a_str() -> None:
    with pytest.raises(TypeError):
        paginate("1. Solde", more=MORE)


# --- generated screens ---------------------------------------------------------------------

# '>' marks the "more" line, so content never contains it. Words mix GSM-7, accented GSM-7,
# non-GSM (UCS-2), extension chars and an astral emoji.
WORD_CHARS = "abcdeXYZ0189.:'éàùÇêç’€[]" + EMOJI
# Frame chars are disjoint from content chars, so a test can tell which frame a page carries.
FRAME_CHARS = "fghFGH2345 #=ñœ{"

short_word = st.text(alphabet=WORD_CHARS, min_size=1, max_size=10)
long_word = st.text(alphabet=WORD_CHARS, min_size=40, max_size=260)


def line_of(word: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Empty lines, and lines of words joined by single spaces."""
    return st.one_of(st.just(""), st.lists(word, min_size=1, max_size=30).map(" ".join))


short_lines = st.lists(line_of(short_word), max_size=40)
any_lines = st.lists(
    line_of(st.one_of(short_word, short_word, long_word)).map(lambda s: s.replace("Y", "\n")),
    max_size=15,
)
# Small enough frames that even a UCS-2 page keeps room for any short word: nothing degrades.
frame_lines = st.lists(st.text(alphabet=FRAME_CHARS, max_size=8), max_size=2)
more_line = st.text(alphabet=FRAME_CHARS, max_size=8).map(lambda s: ">" + s)


@settings(deadline=None)
@given(short_lines, frame_lines, frame_lines, more_line)
def test_pages_fit_and_keep_the_frame_and_the_words(
    lines: list[str], header: list[str], footer: list[str], more: str
) -> None:
    pages = paginate(lines, more=more, header=header, footer=footer)
    if not lines:
        assert pages == [page_of(header, [], footer, None)]
        return
    assert all(gsm.fits(p) for p in pages)
    contents = content_of(pages, header, footer, more)  # header, footer, "more" placement
    flat = [line for body in contents for line in body]
    # Words, in order, are the input's: no word lost, duplicated or cut.
    assert " ".join(flat).split() == " ".join(lines).split()
    # Every line goes whole if it can fit a page alone, else as pieces cut at spaces.
    out = iter(flat)
    for line in lines:
        piece = next(out)
        if piece != line:
            assert not fits_alone(line, header, footer, more)
            words = piece.split(" ")
            while len(words) < len(line.split(" ")):
                piece = next(out)
                assert piece and piece == piece.strip(" ")
                words += piece.split(" ")
            assert words == line.split(" ")
    assert next(out, None) is None
    # Greedy: a page ends only where the next line would not fit on it, and is not the last
    # only because the rest would not fit without "more".
    for number, (body, nxt) in enumerate(pairwise(contents)):
        assert body
        assert not gsm.fits(page_of(header, [*body, nxt[0]], footer, more))
        rest = [line for later in contents[number:] for line in later]
        assert not gsm.fits(page_of(header, rest, footer, None))


@settings(deadline=None)
@given(short_lines, frame_lines, frame_lines, more_line)
def test_one_page_exactly_when_the_plain_join_fits(
    lines: list[str], header: list[str], footer: list[str], more: str
) -> None:
    lines = lines[:6]
    plain = page_of(header, lines, footer, None)
    pages = paginate(lines, more=more, header=header, footer=footer)
    if gsm.fits(plain):
        assert pages == [plain]
    else:
        assert len(pages) > 1


@settings(deadline=None)
@given(any_lines, frame_lines, frame_lines, more_line)
def test_long_words_are_cut_into_fitting_pieces(
    lines: list[str], header: list[str], footer: list[str], more: str
) -> None:
    pages = paginate(lines, more=more, header=header, footer=footer)
    assert all(gsm.fits(p) for p in pages)
    contents = content_of(pages, header, footer, more)
    flat = [line for body in contents for line in body]
    # Every non-space char survives, in order, whatever was wrapped or cut.
    assert "".join(flat).replace(" ", "") == "".join(lines).replace(" ", "").replace("\n", "")
    # Short words (those that fit alone) are never cut.
    for word in " ".join(lines).replace("\n", " ").split():
        if fits_alone(word, header, footer, more):
            assert any(word in line.split(" ") for line in flat)


@settings(deadline=None)
@given(any_lines, frame_lines, frame_lines, more_line)
def test_summed_costs_match_asking_fits_on_each_page(
    lines: list[str], header: list[str], footer: list[str], more: str
) -> None:
    # The default gsm.fits takes the summed-cost path; a wrapper forces joined candidates.
    def asking(text: str) -> bool:
        return gsm.fits(text)

    expected = paginate(lines, more=more, header=header, footer=footer, fits=asking)
    assert paginate(lines, more=more, header=header, footer=footer) == expected


big_frame = st.lists(st.text(alphabet=FRAME_CHARS, max_size=120), max_size=2)
big_more = st.text(alphabet=FRAME_CHARS, max_size=190).map(lambda s: ">" + s)


@settings(deadline=None)
@given(any_lines, big_frame, big_frame, big_more)
def test_crowded_frames_degrade_or_raise(
    lines: list[str], header: list[str], footer: list[str], more: str
) -> None:
    try:
        pages = paginate(lines, more=more, header=header, footer=footer)
    except PagerError:
        # Only when some char (or an empty line) cannot share a page with "more" alone.
        content = [piece for line in lines for piece in line.split("\n")]
        assert any(not gsm.fits(c + "\n" + more) for line in content for c in line) or any(
            not line.strip(" ") and not gsm.fits("\n" + more) for line in content
        )
        return
    assert all(gsm.fits(p) for p in pages)
    # One frame for all pages: full, without footer, or without both.
    frames = [(header, footer), (header, []), ([], [])]
    for head, foot in frames:
        try:
            contents = content_of(pages, head, foot, more)
        except AssertionError:
            continue
        flat = [line for body in contents for line in body]
        assert "".join(flat).replace(" ", "") == "".join(lines).replace(" ", "").replace("\n", "")
        break
    else:
        pytest.fail("pages do not share one of the allowed frames")


@settings(deadline=None)
@given(short_lines, st.integers(min_value=1, max_value=60))
def test_odd_predicates_still_get_fitting_pages_or_an_error(lines: list[str], limit: int) -> None:
    # Not monotonic in the page text: an odd number of newlines only fits while very short.
    def odd(text: str) -> bool:
        return len(text) <= limit and (text.count("\n") % 2 == 0 or len(text) < 10)

    try:
        pages = paginate(lines, more=">", header=["H"], fits=odd)
    except PagerError:
        return
    assert all(odd(page) for page in pages)
    assert all(page.split("\n")[0] == "H" for page in pages) or all(
        not page.startswith("H\n") for page in pages
    )
