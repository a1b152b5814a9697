"""`ussd transcript --via ... --qa ...`: every QA transcript played through the whole SMPP path
(handset -> `ussd centre` -> SMPP -> `ussd serve` -> engine, and back) as separate processes on
127.0.0.1, with the gateway's QA control taking each transcript's accounts, menus and clock; and
the QA control itself, refusing what it cannot do."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import terminate

from gateway.qa import parse_qa_address

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = ROOT / "tests" / "transcripts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ussd(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@contextmanager
def path_with_qa(*centre_args: str) -> Iterator[tuple[int, int, list[str]]]:
    """A centre, and `ussd serve --qa` bound to it (on an empty store): (centre port, QA port, the
    gateway's log lines once stopped)."""
    centre = ussd("centre", "--port", "0", *centre_args)
    serve = None
    log: list[str] = []
    try:
        line = centre.stdout.readline()
        match = re.search(r"listening on [\d.]+:(\d+)", line)
        assert match, f"the centre said {line!r}"
        port, qa = int(match.group(1)), free_port()
        serve = ussd("serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}", "--db", "memory:", "--qa", f"127.0.0.1:{qa}")
        for _ in range(300):  # until both the QA control listens and the gateway is bound (bounded)
            line = serve.stderr.readline()
            log.append(line)
            if "bound to" in line or serve.poll() is not None:
                break
        assert any("QA CONTROL OPEN" in line for line in log), log
        yield port, qa, log
    finally:
        if serve is not None:
            terminate(serve)
            log.extend(serve.communicate(timeout=10)[1].splitlines())
        terminate(centre)
        centre.communicate(timeout=10)


def transcript_via(port: int, qa: int, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ussd122", "transcript", *paths, "--via", f"smpp://127.0.0.1:{port}",
                           "--qa", f"127.0.0.1:{qa}"], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_every_transcript_passes_through_the_smpp_path_as_on_a_local_engine() -> None:
    direct = subprocess.run([sys.executable, "-m", "ussd122", "transcript", str(TRANSCRIPTS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert direct.returncode == 0, direct.stdout
    # one transcript types a 190-character reply (the engine must refuse it well): a handset
    # cannot send it, so this centre is told to carry replies that long (in message_payload)
    with path_with_qa("--reply-limit", "400") as (port, qa, log):
        through = transcript_via(port, qa, str(TRANSCRIPTS))
    assert through.returncode == 0, through.stdout + through.stderr
    verdicts = sorted(line for line in through.stdout.splitlines() if line.startswith(("PASS", "FAIL")))
    assert verdicts == sorted(line for line in direct.stdout.splitlines() if line.startswith(("PASS", "FAIL")))
    total = direct.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed, 0 failed", total) and through.stdout.strip().splitlines()[-1] == total
    assert sum(1 for line in log if "QA: a new service loaded" in line) == int(total.split()[0])
    assert not any("Traceback" in line for line in log)


def test_a_reply_no_handset_can_send_is_refused_by_a_strict_centre_and_said_so() -> None:
    with path_with_qa() as (port, qa, _):
        run = transcript_via(port, qa, str(TRANSCRIPTS / "favourites_forms_fr.yaml"),
                             str(TRANSCRIPTS / "offer_fr.yaml"))
    assert run.returncode == 1
    assert "FAIL" in run.stdout and "reply of 190 gsm7 units: a USSD string holds 182" in run.stdout
    assert "PASS offer_fr" in run.stdout and run.stdout.strip().endswith("1 passed, 1 failed")


def test_via_needs_the_qa_control_and_a_missing_path_is_one_line(tmp_path: Path) -> None:
    alone = subprocess.run([sys.executable, "-m", "ussd122", "transcript", str(TRANSCRIPTS), "--via",
                            "smpp://127.0.0.1:9"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert alone.returncode == 2 and "--via and --qa go together" in alone.stderr
    nobody = transcript_via(free_port(), free_port(), str(TRANSCRIPTS / "offer_fr.yaml"))
    assert nobody.returncode == 1 and "Traceback" not in nobody.stdout + nobody.stderr
    assert re.search(r"FAIL .*offer_fr.yaml: cannot reach the USSD centre at 127.0.0.1:\d+", nobody.stdout)


@pytest.mark.parametrize("address", ["10.0.0.1:4000", "0.0.0.0:4000", "example.org:4000", "[2001:db8::1]:4000"])
def test_the_qa_control_never_listens_beyond_loopback(address: str) -> None:
    with pytest.raises(ValueError, match="loopback address only"):
        parse_qa_address(address)
    refused = subprocess.run([sys.executable, "-m", "ussd122", "serve", "--qa", address], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "loopback address only" in refused.stderr


def test_qa_addresses_that_are_read() -> None:
    assert parse_qa_address("4000") == ("127.0.0.1", 4000)
    assert parse_qa_address("127.0.0.2:4000") == ("127.0.0.2", 4000)
    assert parse_qa_address("[::1]:4000") == ("::1", 4000)
    assert parse_qa_address("localhost:4000") == ("localhost", 4000)
    for bad in ("", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x"):
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            parse_qa_address(bad)


def test_the_qa_control_answers_every_bad_command_with_a_reason_and_stays_up() -> None:
    with path_with_qa() as (_, qa, log):
        with socket.create_connection(("127.0.0.1", qa), timeout=30) as s:
            reader = s.makefile("rb")

            def say(raw: bytes) -> dict[str, object]:
                s.sendall(raw + b"\n")
                return json.loads(reader.readline())

            assert "load a service first" in str(say(b'{"at": "2026-11-25T10:00:00+00:00"}')["error"])
            assert "not a JSON object" in str(say(b"{nope")["error"])
            assert "expected one command" in str(say(b'{"at": 1, "shown": 2}')["error"])
            assert "unknown command 'dial'" in str(say(b'{"dial": "#122#"}')["error"])
            assert "unknown key 'subscriber'" in str(say(b'{"load": {"subscriber": []}}')["error"])
            assert "with its offset" in str(say(b'{"load": {"at": "2026-11-25T10:00"}}')["error"])
            negative = b'{"load": {"at": "2026-11-25T10:00:00+00:00", "idle_timeout": -1}}'
            assert "idle_timeout" in str(say(negative)["error"])
            bad_record = json.dumps({"load": {"at": "2026-11-25T10:00:00+00:00", "subscribers": [{"msisdn": "x"}]}})
            assert "msisdn" in str(say(bad_record.encode())["error"])
            bad_menus = json.dumps({"load": {"at": "2026-11-25T10:00:00+00:00", "menus": ["/nonexistent/menus"]}})
            assert "error" in say(bad_menus.encode())
            assert say(b'{"load": {"at": "2026-11-25T10:00:00+00:00"}}') == {"ok": True}
            assert say(b'{"at": "2026-11-25T10:01:00+00:00"}') == {"ok": True}
            assert "nothing was sent" in str(say(b'{"shown": "0701020304"}')["error"])
    assert not any("Traceback" in line for line in log)
