"""GSM 03.38 measuring and transliteration: known values, then properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ussd import gsm
from ussd.gsm import (
    BASIC_CHARS,
    EXTENSION_CHARS,
    GSM7_CHARS,
    MAX_SEPTETS,
    MAX_UCS2_UNITS,
    Charset,
    Measure,
    fits,
    is_gsm7,
    measure,
    prepare,
    septets,
    transliterate,
    ucs2_units,
)

# Characters French text and word processors produce that GSM-7 lacks.
NOT_GSM7 = "êâîôûçëïÿœŒÀÊÎÔÛÂÈÙÌÒËÏ’‘“”«»–—…\u00a0\u202f`\t\x1b"
EXTENSION = "^{}\\[~]|€\f"
EMOJI = "😀"

# Text strategies: pure GSM-7, and anything with a bias toward the interesting chars.
gsm_text = st.text(alphabet=sorted(GSM7_CHARS), max_size=250)
tricky_chars = st.sampled_from(sorted(set(NOT_GSM7 + EXTENSION + "éèàùÇ") | {EMOJI, "e\u0301"}))
any_char = st.one_of(st.characters(), st.sampled_from(sorted(GSM7_CHARS)), tricky_chars)
any_text = st.lists(any_char, max_size=120).map("".join)


# --- the alphabet --------------------------------------------------------------------------


def test_limits() -> None:
    assert MAX_SEPTETS == 182
    assert MAX_UCS2_UNITS == 80


def test_alphabet_tables() -> None:
    # 128 codes in the basic set, minus the escape code that introduces the extension table.
    assert len(BASIC_CHARS) == 127
    assert EXTENSION_CHARS == frozenset(EXTENSION)
    assert not BASIC_CHARS & EXTENSION_CHARS
    assert GSM7_CHARS == BASIC_CHARS | EXTENSION_CHARS
    assert set("\n\r @£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà") <= BASIC_CHARS
    assert set("azAZ09!\"#%&'()*+,-./:;<=>?") <= BASIC_CHARS


@pytest.mark.parametrize("char", list(NOT_GSM7))
def test_not_in_gsm7(char: str) -> None:
    assert is_gsm7(char) is False
    assert is_gsm7(f"abc{char}def") is False


@pytest.mark.parametrize("char", sorted(GSM7_CHARS))
def test_every_gsm7_char_is_gsm7(char: str) -> None:
    assert is_gsm7(char) is True


def test_is_gsm7_known_values() -> None:
    assert is_gsm7("") is True
    assert is_gsm7("Ç") is True  # upper-case Ç is in the basic set, lower-case ç is not
    assert is_gsm7("ç") is False
    assert is_gsm7("Crédit épuisé, à bientôt") is False  # ô
    assert is_gsm7("Crédit épuisé, à bientot") is True
    assert is_gsm7(EMOJI) is False


# --- septets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("é", 1),
        ("€", 2),
        ("\f", 2),
        ("[1]", 5),
        ("1. Solde\n2. Bonus", 17),
        ("Prix: 100€ {promo}", 18 + 3),
        (EXTENSION, 20),
    ],
)
def test_septets_known_values(text: str, expected: int) -> None:
    assert septets(text) == expected


def test_septets_names_first_non_gsm_char_and_index() -> None:
    with pytest.raises(ValueError, match=r"'ê'.*index 3"):
        septets("abcêô")
    with pytest.raises(ValueError, match=r"index 0"):
        septets(EMOJI)


# --- UCS-2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("abc", 3), ("ê", 1), (EMOJI, 2), ("é" + EMOJI + "a", 4), ("\ud83d", 1)],
)
def test_ucs2_units_known_values(text: str, expected: int) -> None:
    assert ucs2_units(text) == expected


# --- measure / fits ------------------------------------------------------------------------


def test_measure_gsm7_boundary() -> None:
    assert measure("a" * 182) == Measure("gsm7", 182, 182)
    assert measure("a" * 182).fits is True
    assert measure("a" * 183) == Measure("gsm7", 183, 182)
    assert measure("a" * 183).fits is False
    assert measure("€" * 91).fits is True
    assert measure("€" * 91 + "a").fits is False
    assert fits("a" * 182) and not fits("a" * 183)
    assert fits("€" * 91) and not fits("€" * 91 + "a")


def test_measure_ucs2_boundary() -> None:
    assert measure("ê" * 80) == Measure("ucs2", 80, 80)
    assert measure("ê" * 80).fits is True
    assert measure("ê" * 81).fits is False
    assert fits("ê" * 80) and not fits("ê" * 81)


def test_emoji_costs_two_units() -> None:
    assert measure(EMOJI) == Measure("ucs2", 2, 80)
    assert fits(EMOJI * 40) and not fits(EMOJI * 40 + "a")


def test_one_non_gsm_char_switches_the_whole_page_to_ucs2() -> None:
    text = "a" * 100
    assert fits(text)
    assert measure(text + "ê") == Measure("ucs2", 101, 80)
    assert not fits(text + "ê")


def test_measure_is_a_frozen_value() -> None:
    m = measure("abc")
    with pytest.raises(AttributeError):
        m.units = 0  # type: ignore[misc]
    assert m == measure("abc") and hash(m) == hash(measure("abc"))


# --- transliterate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Crédit déjà reçu, fenêtre où l'on côtoie",
            "Crédit déjà recu, fenetre où l'on cotoie",
        ),
        ("« Noël » – l’été… c’est ça", "\" Noel \" - l'été... c'est ca"),
        ("À BIENTÔT, ÇA VA ? ÊTRE", "A BIENTOT, ÇA VA ? ETRE"),
        ("Œuvre, cœur, naïf, maïs, L’Haÿ", "OEuvre, coeur, naif, mais, L'Hay"),
        ("“Forfait” — 100\u00a0F\u202fCFA", '"Forfait" - 100 F CFA'),
        ("Âge Êta Île Ôter Ûlm Ùn Ëlle Ïle Èvre", "Age Eta Ile Oter Ulm Un Elle Ile Evre"),
        ("prix\tTTC `net`", "prix TTC 'net'"),
        ("ê â î ô û ç ë ï ÿ", "e a i o u c e i y"),
        ("é è à ù Ç ñ ß", "é è à ù Ç ñ ß"),  # already GSM-7: untouched
        ("Bonus 🎁 offert", "Bonus ? offert"),
        ("日本", "??"),
        ("\x1b", "?"),
        ("\ud83d", "?"),  # a lone surrogate
    ],
)
def test_transliterate_examples(text: str, expected: str) -> None:
    assert transliterate(text) == expected
    assert is_gsm7(transliterate(text))


def test_transliterate_composes_decomposed_accents() -> None:
    # "e" + combining acute is the GSM-7 "é" once composed, not "e?".
    assert transliterate("cafe\u0301") == "café"
    assert transliterate("fe\u0302te") == "fete"


def test_transliterate_falls_back_to_the_base_letter() -> None:
    assert transliterate("José Ángel Łódź") == "José Angel ?odz"
    assert transliterate("ﬁn Ａ") == "fin A"
    assert transliterate("a\u2003b\u3000c") == "a b c"  # other spaces are spaces
    assert transliterate("¨¸") == "??"  # a lone spacing accent is no letter


def test_transliterate_drops_invisible_formatting() -> None:
    assert transliterate("ré\u00adsi\u200bdent\ufeff") == "résident"


def test_transliterate_table_targets_are_gsm7() -> None:
    assert all(is_gsm7(v) for v in gsm._TRANSLITERATIONS.values())
    assert not any(is_gsm7(k) for k in gsm._TRANSLITERATIONS)


# --- prepare / Charset ---------------------------------------------------------------------


def test_charset_values() -> None:
    assert Charset("transliterate") is Charset.TRANSLITERATE
    assert Charset("ucs2") is Charset.UCS2
    assert isinstance(Charset.UCS2, str) and Charset.UCS2.value == "ucs2"


def test_prepare() -> None:
    text = "Fenêtre “ouverte”"
    assert prepare(text, Charset.TRANSLITERATE) == 'Fenetre "ouverte"'
    assert prepare(text, Charset.UCS2) == text
    assert prepare(text, "ucs2") == text  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="charset"):
        prepare(text, "latin1")  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------


@given(any_text)
def test_is_gsm7_matches_the_alphabet(text: str) -> None:
    assert is_gsm7(text) == all(c in GSM7_CHARS for c in text)


@given(any_text)
def test_transliterate_is_always_gsm7(text: str) -> None:
    assert is_gsm7(transliterate(text))


@given(any_text)
def test_transliterate_is_idempotent(text: str) -> None:
    once = transliterate(text)
    assert transliterate(once) == once


@given(gsm_text)
def test_transliterate_is_identity_on_gsm7(text: str) -> None:
    assert transliterate(text) == text
    assert prepare(text, Charset.TRANSLITERATE) == text


no_marks = st.characters(exclude_categories=["Mn", "Mc", "Me"])
no_marks_text = st.lists(
    st.one_of(st.sampled_from(sorted(GSM7_CHARS)), tricky_chars, no_marks), max_size=80
).map("".join)


@given(no_marks_text)
def test_transliterate_keeps_gsm7_chars_in_order(text: str) -> None:
    # Without combining marks nothing composes, so every GSM-7 char survives, in order.
    text = text.replace("\u0301", "")
    out = iter(transliterate(text))
    assert all(c in out for c in text if c in GSM7_CHARS)


@given(gsm_text)
def test_septets_counts_extension_chars_twice(text: str) -> None:
    assert septets(text) == len(text) + sum(c in EXTENSION_CHARS for c in text)


@given(gsm_text, gsm_text)
def test_septets_is_additive(a: str, b: str) -> None:
    assert septets(a + b) == septets(a) + septets(b)


@given(any_text)
def test_septets_raises_exactly_for_non_gsm7(text: str) -> None:
    bad = [i for i, c in enumerate(text) if c not in GSM7_CHARS]
    if not bad:
        assert septets(text) >= len(text)
    else:
        with pytest.raises(ValueError, match=rf"at index {bad[0]} "):
            septets(text)


@given(any_text)
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    assert ucs2_units(text) == len(text.encode("utf-16-le", "surrogatepass")) // 2


# Lengths around both limits, with extension and non-GSM chars sprinkled in.
boundary_text = st.builds(
    lambda body, extra: body + extra,
    st.text(alphabet="ab \n", min_size=70, max_size=185),
    st.lists(st.sampled_from(["", "€", "[", "ê", EMOJI, "é"]), max_size=12).map("".join),
)


@given(st.one_of(any_text, gsm_text, boundary_text))
def test_measure_agrees_with_is_gsm7_and_fits(text: str) -> None:
    m = measure(text)
    if is_gsm7(text):
        assert m == Measure("gsm7", septets(text), MAX_SEPTETS)
    else:
        assert m == Measure("ucs2", ucs2_units(text), MAX_UCS2_UNITS)
    assert m.fits == (m.units <= m.limit)
    assert fits(text) == m.fits


@given(st.text())
def test_printable_keeps_every_char_but_the_unprintable_ones(text: str) -> None:
    import unicodedata

    cleaned = gsm.printable(text)
    assert gsm.unprintable_at(cleaned) == -1
    assert cleaned == "".join(c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))


def test_unprintable_at_finds_escapes_bidi_overrides_and_surrogates() -> None:
    assert gsm.unprintable_at("Solde\x1b[31m") == 5
    assert gsm.unprintable_at("abc\u202eabc") == 3 and gsm.unprintable_at("\ud800") == 0
    assert gsm.unprintable_at("ligne 1\nligne 2 é ç €") == -1


# -- the default alphabet as octets ----------------------------------------------------------

GSM7_TEXT = st.text(alphabet=sorted(gsm.GSM7_CHARS), max_size=200)


@given(GSM7_TEXT)
def test_gsm7_octets_round_trip_one_octet_a_septet(text: str) -> None:
    coded = gsm.encode_gsm7(text)
    assert gsm.decode_gsm7(coded) == text
    assert len(coded) == gsm.septets(text) and max(coded, default=0) < 0x80


@given(st.binary(max_size=300))
def test_any_octets_decode_to_printable_gsm7_text(data: bytes) -> None:
    text = gsm.decode_gsm7(data)
    assert set(text) <= gsm.GSM7_CHARS | {"?"}
    assert len(text) <= len(data)


def test_gsm7_octets_follow_the_03_38_table() -> None:
    assert gsm.encode_gsm7("@£$\n_ÉA¡¿à") == bytes([0x00, 0x01, 0x02, 0x0A, 0x11, 0x1F, 0x41, 0x40, 0x60, 0x7F])
    assert gsm.encode_gsm7("€[]{}") == bytes([0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x3E, 0x1B, 0x28, 0x1B, 0x29])
    assert gsm.decode_gsm7(bytes([0x1B, 0x41])) == "A"  # an unknown extension code reads as its basic character
    assert gsm.decode_gsm7(b"#122#\x1b") == "#122#"  # a trailing escape reads as nothing


@pytest.mark.parametrize("text, char", [("prêt", "ê"), ("a`b", "`"), ("\tx", "\t"), ("日", "日")])
def test_a_character_outside_the_alphabet_is_named(text: str, char: str) -> None:
    with pytest.raises(gsm.TextCodingError, match=repr(char).replace("\\", "\\\\")):
        gsm.encode_gsm7(text)
