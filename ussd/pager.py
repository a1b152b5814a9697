"""Split a screen into USSD pages that each fit one network message.

The network truncates (or rejects) an oversized page, and a menu cut in the middle of an option is
worse than a second page. So a screen's lines are packed greedily into pages of whole lines; each
page repeats the header and footer and, unless it is the last, ends with the "more" line that
tells the subscriber how to see the rest. Only a line that cannot fit even alone is wrapped, at
spaces, and only a word that cannot fit alone is cut.

Whether a page fits is decided by a ``fits`` predicate on the real page text, because fitting is
not a length limit: one non-GSM char anywhere turns a page of 182 septets into one of 80 units.
With the default ``gsm.fits`` a page's cost is summed from per-line costs measured once, so
paging is linear in the screen size; any other predicate is asked about each joined candidate.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from . import gsm

__all__ = ["PagerError", "paginate"]

Fits = Callable[[str], bool]


class PagerError(ValueError):
    """Not even one char of content fits on a page with no header or footer, only "more"."""


class _NoRoom(Exception):
    """Some content cannot be placed with the current header and footer: try a smaller frame."""


class _Judge:
    """Decides whether candidate pages fit, for one frame (header, "more", footer).

    A page is ``head + lines + tail``, where tail is ``[more, *footer]`` on a page that
    continues and ``footer`` on the last page. This generic judge asks ``fits`` about each
    joined candidate.
    """

    def __init__(self, fits: Fits, head: Sequence[str], more: str, foot: Sequence[str]) -> None:
        self.fits = fits
        self.head = list(head)
        self.tail_more = [more, *foot]
        self.tail_last = list(foot)

    def render(self, lines: Iterable[str], last: bool) -> str:
        """The text of the page holding lines."""
        return "\n".join([*self.head, *lines, *(self.tail_last if last else self.tail_more)])

    def page_fits(self, lines: Iterable[str], last: bool) -> bool:
        """Whether lines fit as one page (the last page has no "more" line)."""
        return self.fits(self.render(lines, last))

    def alone(self, text: str) -> bool:
        """Whether text fits as the only content line of a page, whether continued or last."""
        return self.page_fits((text,), False) and self.page_fits((text,), True)

    def run(self, lines: Iterable[str], last: bool) -> int:
        """How many leading lines fit on one page, stopping at the first that does not."""
        taken: list[str] = []
        for line in lines:
            taken.append(line)
            if not self.page_fits(taken, last):
                return len(taken) - 1
        return len(taken)


# A text's cost as (1 if it needs UCS-2 else 0, septets if GSM-7 else 0, UTF-16 units).
# GSM-7 chars are all in the BMP, so a GSM-7 text's units are its length.
_Cost = tuple[int, int, int]
# Summed costs of several texts, and how many texts (the newlines joining them cost one each).
_Total = tuple[int, int, int, int]


def _cost(text: str) -> _Cost:
    # gsm's package-internal scanner: one C-level pass, and no Measure object per line.
    extension = gsm._extension_count(text)
    if extension >= 0:
        return (0, len(text) + extension, len(text))
    return (1, 0, gsm.ucs2_units(text))


def _within(total: _Total) -> bool:
    """Whether texts with these summed costs fit one page once joined by newlines."""
    ucs2, sept, units, parts = total
    newlines = parts - 1 if parts > 0 else 0
    if ucs2:
        return units + newlines <= gsm.MAX_UCS2_UNITS
    return sept + newlines <= gsm.MAX_SEPTETS


class _CostJudge(_Judge):
    """The answers of ``_Judge`` with ``gsm.fits``, from summed per-line costs.

    A joined page is GSM-7 only if every part is, and its septets/units are the parts' sums
    plus one per newline; so each line is measured once (memoised) and a page grows by O(1)
    additions instead of re-joining and re-scanning the whole candidate.
    """

    def __init__(self, fits: Fits, head: Sequence[str], more: str, foot: Sequence[str]) -> None:
        super().__init__(fits, head, more, foot)
        self.costs: dict[str, _Cost] = {}
        self.frame_last = self._add((0, 0, 0, 0), [*self.head, *self.tail_last])
        self.frame_more = self._add((0, 0, 0, 0), [*self.head, *self.tail_more])

    def _add(self, total: _Total, lines: Iterable[str]) -> _Total:
        ucs2, sept, units, parts = total
        costs = self.costs
        for line in lines:
            cost = costs.get(line)
            if cost is None:
                cost = costs[line] = _cost(line)
            ucs2 += cost[0]
            sept += cost[1]
            units += cost[2]
            parts += 1
        return (ucs2, sept, units, parts)

    def page_fits(self, lines: Iterable[str], last: bool) -> bool:
        return _within(self._add(self.frame_last if last else self.frame_more, lines))

    def alone(self, text: str) -> bool:
        # Dropping "more" only shrinks a page and never makes it UCS-2: one check is enough.
        return _within(self._add(self.frame_more, (text,)))

    def run(self, lines: Iterable[str], last: bool) -> int:
        # A page only grows as lines are appended (and once UCS-2 stays UCS-2), so the first
        # line that does not fit ends the run, exactly as with re-joined candidates.
        total = self.frame_last if last else self.frame_more
        count = 0
        for line in lines:
            total = self._add(total, (line,))
            if not _within(total):
                break
            count += 1
        return count


def _cut_point(word: str, start: int, end: int) -> int:
    """Move a cut at ``end`` back so that it does not separate a surrogate pair or put a
    combining mark at the start of the next piece (as long as the piece keeps one char)."""
    while end - 1 > start and end < len(word):
        nxt = word[end]
        if "\udc00" <= nxt <= "\udfff" and "\ud800" <= word[end - 1] <= "\udbff":
            end -= 1
        elif unicodedata.combining(nxt):
            end -= 1
        else:
            break
    return end


def _hard_split(word: str, alone: Callable[[str], bool]) -> list[str]:
    """Cut a word that cannot fit a page alone into the fewest char runs that each fit.

    Each run's length is found by doubling, then bisection (a run's cost only grows with its
    length), so a very long word costs O(log page) checks per page, not one per char. ``lo``
    is always a length verified to fit, so even an odd predicate gets no unchecked piece.
    """
    pieces: list[str] = []
    start, end = 0, len(word)
    if not word:  # an empty word that does not fit: the frame leaves no room at all
        raise _NoRoom
    while start < end:
        lo = start + 1
        if not alone(word[start:lo]):
            raise _NoRoom
        step = 1
        while True:  # doubling: find hi with word[start:hi] not fitting (or the word's end)
            hi = min(lo + step, end)
            if hi == lo or not alone(word[start:hi]):
                break
            lo, step = hi, step * 2
        while hi - lo > 1:  # bisection between a fitting lo and a failing hi
            mid = (lo + hi) // 2
            if alone(word[start:mid]):
                lo = mid
            else:
                hi = mid
        cut = _cut_point(word, start, lo)
        if cut != lo and not alone(word[start:cut]):
            cut = lo
        pieces.append(word[start:cut])
        start = cut
    return pieces


def _wrap(line: str, alone: Callable[[str], bool]) -> list[str]:
    """Split a line that cannot fit a page alone into pieces that each can.

    Pieces are cut at spaces and the spaces at a cut are dropped, so no piece gains a leading or
    trailing space; a word too long for any page is hard-split by ``_hard_split``.
    """
    if alone(line):
        return [line]
    pieces: list[str] = []
    current: list[str] = []  # words of the piece being filled
    at_cut = False
    for word in line.split(" "):
        if current:
            current.append(word)
            if alone(" ".join(current)):
                continue
            current.pop()
            piece = " ".join(current).rstrip(" ")
            if piece:
                pieces.append(piece)
            current = []
            at_cut = True
        if at_cut and not word:  # a run of spaces at the cut
            continue
        at_cut = False
        if alone(word):
            current = [word]
        else:
            *whole, rest = _hard_split(word, alone)
            pieces.extend(whole)
            current = [rest]
    if current:
        pieces.append(" ".join(current))
    return pieces or [""]  # a line of nothing but spaces still stands for a (blank) line


def _layout(lines: Sequence[str], judge: _Judge) -> list[str]:
    """Pages for lines within judge's frame; raises _NoRoom if some content cannot fit.

    Each page is the last one if all the rest fits without "more"; otherwise it takes as many
    whole lines as fit with "more". A line too long for any page is wrapped only when a page
    reaches it, and its pieces are then paged like any other lines; so a long line that ends up
    on the last page is not cut for the sake of a "more" line that page does not have.
    """
    pending = deque(lines)
    if not pending:
        if not judge.page_fits((), last=True):
            raise _NoRoom
        return [judge.render((), last=True)]
    pages: list[str] = []
    while pending:
        # Runs stop at the first line that does not fit, so each reads about one page.
        if judge.run(pending, last=True) == len(pending):
            pages.append(judge.render(pending, last=True))
            break
        taken = judge.run(pending, last=False)
        if taken < len(pending) and not judge.alone(pending[taken]):
            line = pending[taken]
            del pending[taken]
            for offset, piece in enumerate(_wrap(line, judge.alone)):
                pending.insert(taken + offset, piece)
            continue  # measure this page again, now with the pieces
        if taken == len(pending):
            # Only an odd predicate gets here (all of the rest fits with "more" but not
            # without): keep a line back for the last page.
            taken -= 1
        if taken == 0:  # again only an odd predicate; without progress, give up on this frame
            raise _NoRoom
        pages.append(judge.render([pending.popleft() for _ in range(taken)], last=False))
    return pages


def paginate(
    lines: Sequence[str],
    *,
    more: str,
    header: Sequence[str] = (),
    footer: Sequence[str] = (),
    fits: Fits = gsm.fits,
) -> list[str]:
    """Split a screen into pages, each ``"\\n".join(header + content + [more] + footer)``.

    Lines keep their order and go whole onto the first page with room for them; "more" ends
    every page but the last; header and footer are on every page. A line with embedded newlines
    counts as several lines. A screen that fits in one page is returned as its plain join.

    If the content cannot be placed with the full frame (even cut to single chars), the footer
    is dropped from every page, then the header, because a page without them is still usable
    while a page without content is not; PagerError if even that fails.
    """
    if isinstance(lines, str):  # a str is a Sequence[str] too: one char per "line"
        raise TypeError("lines must be a sequence of lines, not a str")
    content = [piece for line in lines for piece in line.split("\n")]
    # Most screens fit one page: one join and one check settle them.
    whole = "\n".join([*header, *content, *footer])
    if fits(whole):
        return [whole]
    judge_type = _CostJudge if fits is gsm.fits else _Judge
    frames: list[tuple[Sequence[str], Sequence[str]]] = [(header, footer)]
    if footer:
        frames.append((header, ()))
    if header:
        frames.append(((), ()))
    for head, foot in frames:
        try:
            return _layout(content, judge_type(fits, head, more, foot))
        except _NoRoom:
            continue
    raise PagerError(f"no content fits on a page even without header and footer (more={more!r})")
