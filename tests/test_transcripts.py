"""The #122# QA transcripts (tests/transcripts/): every menu path, status and language, and the
edges of time (a second before and at expiry, weekend and night windows, the 25th/26th billing
boundary). Each runs in its own engine on a private copy of the demo accounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.transcript import load_transcript, run_transcript

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.yaml"))


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
