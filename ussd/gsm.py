"""GSM 03.38 awareness: what a USSD page can hold, and how to make text fit the 7-bit alphabet.

A USSD page carries 182 septets of the GSM default alphabet, but a single character outside it
switches the whole page to UCS-2 and cuts it to 80 UTF-16 units. French text is full of such
characters (ê, ç, typographic quotes), so menus either transliterate them or accept the smaller
page; everything here exists so that the engine can decide that before the network does.

These functions run on every screen, so the alphabet is compiled once into regular expressions
and translation tables at import: the per-call work happens in C, not in a Python loop per char.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from functools import lru_cache
from typing import Final, Literal, NamedTuple

__all__ = [
    "BASIC_CHARS",
    "DEFAULT_ALPHABET",
    "EXTENSION_CHARS",
    "EXTENSION_TABLE",
    "TextCodingError",
    "decode_gsm7",
    "encode_gsm7",
    "GSM7_CHARS",
    "MAX_SEPTETS",
    "MAX_UCS2_UNITS",
    "Charset",
    "Measure",
    "fits",
    "is_gsm7",
    "measure",
    "prepare",
    "printable",
    "unprintable_at",
    "septets",
    "transliterate",
    "ucs2_units",
]

#: Septets in one USSD page when the page is coded in the GSM 7-bit default alphabet.
MAX_SEPTETS: Final[int] = 182
#: UTF-16 code units in one USSD page when the page is coded in UCS-2.
MAX_UCS2_UNITS: Final[int] = 80

#: The default alphabet in code order (0x00-0x7F); 0x1B is the escape to the extension table.
DEFAULT_ALPHABET: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE: Final[int] = 0x1B
#: The extension table (sent as escape + code), by code.
EXTENSION_TABLE: Final[dict[int, str]] = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
#: The default alphabet's basic set, one septet each. The escape code is left out: it is the
#: prefix of the extension table, never a character a menu can show.
BASIC_CHARS: Final[frozenset[str]] = frozenset(DEFAULT_ALPHABET) - {"\x1b"}
#: The extension table: two septets each, because each is sent as escape + code.
EXTENSION_CHARS: Final[frozenset[str]] = frozenset(EXTENSION_TABLE.values())
#: Every character a GSM 7-bit page can carry.
GSM7_CHARS: Final[frozenset[str]] = BASIC_CHARS | EXTENSION_CHARS


def _char_class(chars: frozenset[str]) -> str:
    """A regex character class body; \\u escapes keep ], ^, \\ and - from meaning anything."""
    return "".join(f"\\u{ord(c):04x}" for c in sorted(chars))


# `[...]*` run by fullmatch/match stays in SRE's tight counting loop: ~3x faster than a search
# for the first offending char, which matters because most screens are pure GSM-7.
_GSM7_RUN: Final = re.compile(f"[{_char_class(GSM7_CHARS)}]*")
_BASIC_RUN: Final = re.compile(f"[{_char_class(BASIC_CHARS)}]*")
_NOT_GSM7: Final = re.compile(f"[^{_char_class(GSM7_CHARS)}]")


class Charset(enum.StrEnum):
    """What a service wants done with text the GSM 7-bit alphabet cannot carry."""

    #: Replace such characters so that pages stay 7-bit (182 septets).
    TRANSLITERATE = "transliterate"
    #: Keep the text as written and accept UCS-2 pages (80 units) when needed.
    UCS2 = "ucs2"


def _extension_count(text: str) -> int:
    """Extension chars in text, or ``~index`` (negative) of its first char outside GSM-7.

    One call counts and validates: each basic run is skipped in C, and Python only steps over
    the (rare) extension chars.
    """
    match = _BASIC_RUN.match
    end = len(text)
    pos = 0
    count = -1
    while True:
        run = match(text, pos)
        assert run is not None  # a `*` pattern always matches, if only the empty string
        pos = run.end()
        if pos == end:
            return count + 1
        if text[pos] not in EXTENSION_CHARS:
            return ~pos
        count += 1
        pos += 1


def is_gsm7(text: str) -> bool:
    """Whether every char of text is in the GSM 03.38 basic set or its extension table."""
    return _GSM7_RUN.fullmatch(text) is not None


def septets(text: str) -> int:
    """Septets needed to send text in the GSM 7-bit alphabet (extension chars cost two).

    Raises ValueError naming the first char the alphabet lacks: a cost for such text would be
    meaningless, since one such char turns the whole page into UCS-2.
    """
    count = _extension_count(text)
    if count < 0:
        index = ~count
        char = text[index]
        raise ValueError(
            f"{char!r} (U+{ord(char):04X}) at index {index} is not in the GSM 03.38 alphabet"
        )
    return len(text) + count


def ucs2_units(text: str) -> int:
    """UTF-16 code units of text: a char outside the BMP takes a surrogate pair, so two units."""
    if text.isascii():  # O(1) in CPython: the string knows it
        return len(text)
    # surrogatepass: a lone surrogate in the str is still one unit, not an error.
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


class Measure(NamedTuple):
    """How a text would be sent: its coding, its size in that coding, and the page limit (a named
    tuple: one is made for every page sent, and a frozen dataclass costs several times more)."""

    coding: Literal["gsm7", "ucs2"]
    #: Septets for gsm7, UTF-16 code units for ucs2.
    units: int
    #: MAX_SEPTETS for gsm7, MAX_UCS2_UNITS for ucs2.
    limit: int

    @property
    def fits(self) -> bool:
        """Whether the text fits in one USSD page."""
        return self.units <= self.limit


def measure(text: str) -> Measure:
    """Measure text as the network would send it: GSM 7-bit if it can, otherwise UCS-2."""
    count = _extension_count(text)
    if count >= 0:
        return Measure("gsm7", len(text) + count, MAX_SEPTETS)
    return Measure("ucs2", ucs2_units(text), MAX_UCS2_UNITS)


def fits(text: str) -> bool:
    """Whether text fits in one USSD page; same answer as ``measure(text).fits``, sooner.

    Length alone decides most cases: no page holds more than 182 chars, and up to 91 chars any
    GSM-7 text fits however many extension chars it has.
    """
    length = len(text)
    if length > MAX_SEPTETS:
        return False
    if length <= MAX_SEPTETS // 2:
        if _GSM7_RUN.fullmatch(text) is not None:
            return True
    else:
        count = _extension_count(text)
        if count >= 0:
            return length + count <= MAX_SEPTETS
    return length <= MAX_UCS2_UNITS and ucs2_units(text) <= MAX_UCS2_UNITS


# Nearest GSM-7 spelling of what French and word processors produce but the alphabet lacks.
# Accented letters that GSM-7 has (é è à ù Ç ...) are deliberately absent: they stay as written.
_TRANSLITERATIONS: Final[dict[str, str]] = {
    # French letters
    "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u", "ç": "c",
    "ë": "e", "ï": "i", "ÿ": "y", "œ": "oe", "Œ": "OE",
    "À": "A", "Â": "A", "Ê": "E", "È": "E", "Ë": "E", "Î": "I", "Ï": "I",
    "Ô": "O", "Û": "U", "Ù": "U", "Ì": "I", "Ò": "O", "Ÿ": "Y",
    # quotes and apostrophes
    "’": "'", "‘": "'", "‚": "'", "‹": "'", "›": "'", "´": "'", "`": "'",
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    # dashes
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    # spacing
    "…": "...", "\u00a0": " ", "\u202f": " ", "\t": " ",
    # invisible formatting (soft hyphen, zero-width chars, BOM): a '?' would show up, so drop
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
}  # fmt: skip
_TRANSLITERATION_TABLE: Final = str.maketrans(_TRANSLITERATIONS)


@lru_cache(maxsize=4096)
def _fallback(char: str) -> str:
    """GSM-7 stand-in for a char missing from the table: its compatibility decomposition
    without accents (á -> a, ﬁ -> fi, full-width Ａ -> A) when that is GSM-7, else '?'."""
    base = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    # A spacing accent (¨, ¸) decomposes to a bare space: that is no stand-in, unlike for a space.
    if (base.strip() or char.isspace()) and _GSM7_RUN.fullmatch(base) is not None:
        return base
    return "?"


def transliterate(text: str) -> str:
    """Rewrite text so that it is pure GSM-7 (and keeps 182-septet pages).

    GSM-7 text comes back unchanged (the common case costs one regex match). Otherwise text is
    first composed (NFC), so that a decomposed "e" + U+0301 becomes the GSM-7 "é" rather than
    "e?", then French and typographic chars take their nearest GSM-7 spelling, and whatever is
    left becomes its unaccented base letter if that is GSM-7, or '?'.
    """
    if _GSM7_RUN.fullmatch(text) is not None:
        return text
    text = unicodedata.normalize("NFC", text).translate(_TRANSLITERATION_TABLE)
    return _NOT_GSM7.sub(lambda m: _fallback(m.group()), text)


def prepare(text: str, charset: Charset) -> str:
    """Text as it should be sent under the service's charset policy."""
    if charset == Charset.TRANSLITERATE:
        return transliterate(text)
    if charset == Charset.UCS2:
        return text
    raise ValueError(f"unknown charset {charset!r}")


#: What never goes to a handset or a terminal, by Unicode category: control characters (ESC,
#: BEL...; a screen's line breaks excepted), format characters (bidi overrides, zero-width
#: joiners) and lone surrogates.
_UNPRINTABLE_CATEGORIES = frozenset(("Cc", "Cf", "Cs"))


def _unprintable(char: str) -> bool:
    return char != "\n" and unicodedata.category(char) in _UNPRINTABLE_CATEGORIES


def unprintable_at(text: str) -> int:
    """The index of the first character that must not be shown, or -1."""
    if text.isprintable():  # C-level: most texts stop here
        return -1
    return next((i for i, char in enumerate(text) if _unprintable(char)), -1)


def printable(text: str) -> str:
    """``text`` without what must not be shown: a reply is cleaned before it is read or echoed."""
    if text.isprintable():
        return text
    return "".join(char for char in text if not _unprintable(char))


# -- the GSM 03.38 default alphabet as octets (unpacked: one septet an octet, as SMPP carries it) --

_OUTSIDE = "\ufffd"  # what an ASCII character the alphabet lacks (` \t ...) becomes while encoding
_ENCODE: Final[dict[int, str]] = {
    **{code: _OUTSIDE for code in range(0x80)},
    **{ord(char): chr(code) for code, char in enumerate(DEFAULT_ALPHABET) if code != ESCAPE},
    **{ord(char): chr(ESCAPE) + chr(code) for code, char in EXTENSION_TABLE.items()},
}
#: Octets to characters; the escape stays, to be read with the octet after it.
_DECODE: Final[dict[int, str]] = {
    **{code: char for code, char in enumerate(DEFAULT_ALPHABET) if code != ESCAPE},
    **{code: "?" for code in range(0x80, 0x100)},
}
#: An escape and the basic character its code reads as -> the extension character.
_EXTENDED: Final[dict[str, str]] = {DEFAULT_ALPHABET[code]: char for code, char in EXTENSION_TABLE.items()}
_ESCAPED = re.compile("\x1b(.?)", re.DOTALL)


class TextCodingError(ValueError):
    """A text cannot be coded as asked (a character outside the GSM 7-bit alphabet)."""


def encode_gsm7(text: str) -> bytes:
    """``text`` as unpacked GSM 7-bit septets (extension characters as escape + code)."""
    coded = text.translate(_ENCODE)
    if not coded.isascii():
        char = next(c for c in text if not c.translate(_ENCODE).isascii())
        raise TextCodingError(f"{char!r} (U+{ord(char):04X}) is not in the GSM 7-bit alphabet")
    return coded.encode("ascii")


def _unescape(match: re.Match[str]) -> str:
    read = match.group(1)
    # A code the extension table lacks reads as the basic table's character (GSM 03.38 6.2.1.1);
    # an escape at the end, or before another escape, has nothing to read.
    return _EXTENDED.get(read, "" if read in ("", "\x1b") else read)


def decode_gsm7(data: bytes) -> str:
    """Unpacked GSM 7-bit septets as text. Never fails: an octet above 0x7F (not a septet) reads
    as ``?``, what a handset shows for a character it cannot draw."""
    text = data.decode("latin-1").translate(_DECODE)
    return _ESCAPED.sub(_unescape, text) if "\x1b" in text else text
