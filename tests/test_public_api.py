"""The engine's public API (``ussd/__init__.py``): every name it lists is the one its submodule
defines, and ``import ussd`` alone loads none of them (each comes on first use)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import ussd

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_is_its_submodules_own() -> None:
    assert sorted(ussd.__all__) == sorted(ussd._HOME)
    for name in ussd.__all__:
        home = importlib.import_module(f"ussd.{ussd._HOME[name]}")
        assert getattr(ussd, name) is getattr(home, name), name
    assert set(ussd.__all__) <= set(dir(ussd))


def test_importing_the_package_loads_no_submodule() -> None:
    probe = "import sys, ussd; print(sorted(m for m in sys.modules if m.startswith('ussd.')))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_name_loads_only_what_defines_it() -> None:
    probe = ("import sys; from ussd import PhoneRule; "
             "print('ussd.engine' in sys.modules, 'ussd.loader' in sys.modules, 'ussd.model' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False", "True"], done.stderr


def test_submodules_are_still_imported_by_name() -> None:
    from ussd import gsm

    assert gsm is importlib.import_module("ussd.gsm")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Enigne'"):
        ussd.Enigne  # noqa: B018
