"""The #122# QA transcripts (tests/transcripts/): every menu path, status and language, and the
edges of time (a second before and at expiry, weekend and night windows, the 25th/26th billing
boundary). Each runs in its own engine on a private copy of the demo accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.transcript import SCHEMA_FILE, load_transcript, run_transcript, transcript_schema
from ussd.shape import check_document, read_document

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.yaml"))
#: Every transcript shipped in the tests: these and the runner's own cases.
SHIPPED = TRANSCRIPTS + sorted((Path(__file__).parent / "transcript_cases").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema="


def test_there_is_a_transcript_for_every_part_of_the_menu() -> None:
    names = {path.stem for path in TRANSCRIPTS}
    for part in ("home", "bonus_credit", "bonus_minutes", "bonus_internet", "offer", "usage", "pass",
                 "favourites", "invoice", "internet_plus", "inactive", "deactivated", "unknown",
                 "expiry", "weekend", "night", "billing_boundary"):
        assert any(name.startswith(part) for name in names), part
    assert any(name.endswith("_fr") for name in names) and any(name.endswith("_en") for name in names)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path) -> None:
    result = run_transcript(load_transcript(path))
    assert result.passed, result.report()


@pytest.mark.parametrize("path", SHIPPED, ids=[f"{p.parent.name}/{p.stem}" for p in SHIPPED])
def test_every_shipped_transcript_fits_the_schema_its_first_line_names(path: Path) -> None:
    """Editors read the first line (yaml-language-server) and check the file as it is typed: the
    schema must take every shipped transcript without a problem."""
    text = path.read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    assert first == f"{SCHEMA_LINE}../../simulator/schemas/transcript.schema.json"
    assert (path.parent / first.removeprefix(SCHEMA_LINE)).resolve() == SCHEMA_FILE
    assert check_document(read_document(yaml.compose(text, Loader=yaml.SafeLoader), str(path)),
                          transcript_schema()) == []

