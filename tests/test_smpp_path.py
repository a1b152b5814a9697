"""The whole SMPP path with separate processes on 127.0.0.1: `ussd centre`, `ussd serve` bound to
it, and `ussd dial --via` as the handset, in every dialect; the screens are those of a direct dial."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import terminate

from gateway.ussd_smpp import DIALECTS
from simulator.load import WALKS

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-25T10:00"
SUBSCRIBER = "0701020304"


def ussd(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def stop(process: subprocess.Popen[str]) -> str:
    """Stop it; what it said on stderr."""
    terminate(process)
    return process.communicate(timeout=10)[1]


@contextmanager
def smpp_path(dialect: str) -> Iterator[int]:
    """A centre and a gateway bound to it; yields the centre's port."""
    centre = ussd("centre", "--port", "0", "--dialect", dialect)
    serve = None
    try:
        line = centre.stdout.readline()
        match = re.search(r"listening on [\d.]+:(\d+)", line)
        assert match, f"the centre said {line!r}; {centre.stderr.read() if centre.poll() is not None else ''}"
        port = int(match.group(1))
        serve = ussd("serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}", "--dialect", dialect, "--db", "memory:",
                     "--demo", "--at", AT)
        yield port
    finally:
        said = stop(serve) if serve is not None else ""
        stop(centre)
        assert "Traceback" not in said, said


def dial(*args: str, replies: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ussd122", "dial", "#122#", "--msisdn", SUBSCRIBER, *args],
                          cwd=ROOT, input=replies, capture_output=True, text=True, timeout=120)


def dial_via(port: int, replies: str) -> subprocess.CompletedProcess[str]:
    for _ in range(100):  # until the gateway has bound (bounded)
        run = dial("--via", f"smpp://127.0.0.1:{port}", replies=replies)
        if "no gateway bound" not in run.stderr:
            return run
        time.sleep(0.2)
    raise AssertionError("the gateway never bound to the centre")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_dial_through_the_centre_and_the_gateway_shows_what_a_direct_dial_shows(dialect: str,
                                                                                  tmp_path: Path) -> None:
    replies = "1\n0\n6\n1\n1\n"
    direct = dial("--at", AT, "--db", "memory:", replies=replies)
    assert direct.returncode == 0, direct.stderr
    with smpp_path(dialect) as port:
        through = dial_via(port, replies)
    assert through.returncode == 0, through.stderr
    assert "Vous avez acheté" in through.stdout
    # The same screens, word for word; only the screen ids the handset shows a local engine's
    # dialogue with do not travel over SMPP.
    assert through.stdout == re.sub(r" · [a-z_0-9]+$", "", direct.stdout, flags=re.M)


def test_the_load_generator_walks_many_subscribers_through_the_whole_path() -> None:
    with smpp_path("default") as port:
        for _ in range(100):  # until the gateway has bound (bounded)
            run = subprocess.run([sys.executable, "-m", "ussd122", "load", "--via", f"smpp://127.0.0.1:{port}",
                                  "--dialogues", "60", "--concurrency", "12"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=120)
            if "no_gateway_bound" not in run.stdout:
                break
            time.sleep(0.2)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = dict(field.split("=") for field in run.stdout.split())
    assert (summary["dialogues"], summary["completed"], summary["lost"], summary["aborted"]) == ("60", "60", "0", "0")
    assert int(summary["steps"]) == sum(1 + len(walk) for walk in (list(WALKS) * 10))


def test_the_load_generator_refuses_a_bad_option() -> None:
    run = subprocess.run([sys.executable, "-m", "ussd122", "load", "--via", "http://x", "--dialogues", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "expected smpp://HOST:PORT" in run.stderr


def test_dial_via_refuses_what_only_a_local_dial_has() -> None:
    run = dial("--via", "smpp://127.0.0.1:1", "--lang", "en", replies="")
    assert run.returncode == 2 and "--lang are for a local dial" in run.stderr
    run = dial("--via", "smpp://127.0.0.1:1", replies="")  # nobody listening: one line, no traceback
    assert run.returncode == 1 and run.stderr.startswith("--via smpp://127.0.0.1:1:") and "Traceback" not in run.stderr
