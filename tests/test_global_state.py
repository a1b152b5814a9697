"""What importing the engine does not do, and where the operator's time zone is written (issue 16):
no logging levels changed at import, one default zone for the whole tree."""

from __future__ import annotations

import ast
import io
import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ussd", "accounts", "gateway", "simulator")


def test_importing_the_engine_leaves_logging_as_it_was() -> None:
    probe = ("import logging; before = {n: logging.getLogger(n).level for n in ('transitions', '')}; "
             "import ussd.engine, gateway.server; "
             "print(before == {n: logging.getLogger(n).level for n in ('transitions', '')})")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


def test_the_server_log_keeps_transitions_to_warnings() -> None:
    from gateway.logs import log_to

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        log_to(io.StringIO(), logging.INFO)
        assert logging.getLogger("transitions").getEffectiveLevel() == logging.WARNING
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("transitions").setLevel(logging.NOTSET)


def test_the_operators_time_zone_is_written_in_one_place() -> None:
    from ussd.timezone import DEFAULT_TIMEZONE

    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value == DEFAULT_TIMEZONE:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == ["ussd/timezone.py:10"], found


def test_a_policys_words_are_its_own_and_made_once() -> None:
    """Kept by the policy, not in a cache of the module's keyed by policies (which kept 64 of them
    alive, reloaded or not)."""
    import accounts.providers
    from accounts.policy import load_policy

    assert not any(callable(getattr(value, "cache_info", None)) for value in vars(accounts.providers).values())

    one, two = load_policy(), load_policy()
    assert one.words("credit") is one.words("credit")
    assert one.words("credit") == two.words("credit") and one.words("credit") is not two.words("credit")
