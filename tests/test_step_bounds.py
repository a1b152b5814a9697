"""A step's rendering is bounded as a whole, not only per template: a menu listing a provider's
100,000 items, or a hundred lines of 4,000 characters each, ends that dialogue on the error screen
(logged as the operator's mistake) instead of taking a worker's time and memory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import AT, FakeClock

from ussd.engine import ERROR_SCREEN, Engine
from ussd.errors import StepTooLarge
from ussd.loader import load_menus_or_raise
from ussd.registry import Registry
from ussd.render import EVALUATION_COST, MAX_STEP_TEXT, StepBudget, _spend
from ussd.sessions import MemorySessionStore

MSISDN = "2250701020304"


def engine_listing(tmp_path: Path, clock: FakeClock, items: list[str], screen: str) -> Engine:
    registry = Registry()
    registry.provider("big", lambda call: items)
    (tmp_path / "m.yaml").write_text(
        'service: {code: "*558#", entry: home, languages: [fr]}\n'
        "screens:\n"
        "  home:\n"
        '    text: "Choisir"\n'
        '    options: [{label: "Voir", goto: listed}]\n'
        f"  listed:\n{screen}", encoding="utf-8")
    return Engine(load_menus_or_raise([str(tmp_path)], registry), registry, MemorySessionStore(clock),
                  clock=lambda: AT)


AS_OPTIONS = ('    text: "Liste"\n'
              '    options: [{each: big, as: i, label: "{{ i }}", goto: home}]\n')
AS_LINES = ('    type: end\n'
            '    lines: [{each: big, as: i, line: "{{ i }}"}]\n')


@pytest.mark.parametrize("screen, items, what", [
    (AS_OPTIONS, ["x"] * (MAX_STEP_TEXT // EVALUATION_COST), "listed"),  # many short labels
    (AS_LINES, ["x" * 4000] * (MAX_STEP_TEXT // 4000 + 1), "listed"),  # a few long lines
])
def test_a_step_past_its_bounds_ends_on_the_error_screen(tmp_path: Path, clock: FakeClock,
                                                         caplog: pytest.LogCaptureFixture, screen: str,
                                                         items: list[str], what: str) -> None:
    engine = engine_listing(tmp_path, clock, items, screen)
    home = engine.begin(MSISDN, "*558#", AT)
    with caplog.at_level(logging.ERROR, logger="ussd.engine"):
        shown = engine.reply(home.session, "1", AT)
    assert (shown.end, shown.screen) == (True, ERROR_SCREEN) and "indisponible" in shown.text
    assert "more than" in caplog.text and what in caplog.text and "listed" in caplog.text
    assert len(engine.sessions) == 0


@pytest.mark.parametrize("screen", [AS_OPTIONS, AS_LINES])
def test_a_long_list_within_the_bounds_is_paged(tmp_path: Path, clock: FakeClock, screen: str) -> None:
    engine = engine_listing(tmp_path, clock, [f"article {n}" for n in range(1000)], screen)
    home = engine.begin(MSISDN, "*558#", AT)
    shown = engine.reply(home.session, "1", AT)
    assert shown.screen == "listed" and shown.pages > 50


class Scoped(dict):  # type: ignore[type-arg]
    """A scope carrying a budget, as a step's does."""

    def __init__(self, budget: StepBudget) -> None:
        super().__init__()
        self.budget = budget


def test_the_budget_counts_characters_and_evaluations() -> None:
    scope = Scoped(StepBudget(limit=2 * EVALUATION_COST + 10))
    _spend(scope, 4, "a")
    _spend(scope, 6, "b")  # all of it spent: still within
    assert scope.budget.left == 0
    with pytest.raises(StepTooLarge, match=f"more than {2 * EVALUATION_COST + 10} characters .* at c"):
        _spend(scope, 0, "c")
    _spend({}, 10**9, "d")  # a scope without a budget (the engine's own words) is not charged
