"""`ussd serve` as a separate process, bound over TCP on 127.0.0.1 to a centre played by the test:
a #122# dialogue PDU by PDU, and SIGTERM: running dialogues finish, the gateway unbinds, exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from gateway.smpp_session import Unbound
from smpp_peer import SocketPeer
from ussd import gsm

HERE = Path(__file__).resolve().parent
SUBSCRIBER = "2250701020304"


def deliver_fields(op: int, text: str, sequence: int, number: int = 3) -> dict[str, object]:
    return dict(service_type="USSD", source_addr_ton=1, source_addr_npi=1, source_addr=SUBSCRIBER,
                destination_addr="122", short_message=gsm.encode_gsm7(text), ussd_service_op=op,
                its_session_info=(number << 8) | (sequence << 1))


@pytest.fixture
def centre() -> Iterator[tuple[socket.socket, int]]:
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener, listener.getsockname()[1]
    listener.close()


def start_serve(port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ussd.cli", "serve", "--smpp", f"smpp://gw:secret@127.0.0.1:{port}", "--db", "memory:",
         "--demo", "--at", "2026-11-25T10:00", *extra],
        cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_122_dialogue_through_ussd_serve_and_a_clean_stop(centre: tuple[socket.socket, int]) -> None:
    listener, port = centre
    serve = start_serve(port)
    try:
        peer = SocketPeer.accept(listener)
        bind = peer.bind()
        assert (bind.get("system_id"), bind.get("password")) == (b"gw", b"secret")
        peer.deliver(**deliver_fields(1, "#122#", 0))
        home = peer.screen()
        assert home.get("ussd_service_op") == 2 and home.get("its_session_info") == 0x0302
        assert home.get("destination_addr") == SUBSCRIBER.encode()
        assert "Mon offre" in gsm.decode_gsm7(home.get("short_message"))
        peer.deliver(**deliver_fields(18, "6", 2))  # Options et pass
        passes = peer.screen()
        assert passes.get("its_session_info") == 0x0306 and "500" in gsm.decode_gsm7(passes.get("short_message"))
        peer.deliver(**deliver_fields(18, "1", 4))
        confirm = gsm.decode_gsm7(peer.screen().get("short_message"))
        assert confirm.startswith("Acheter")
        peer.deliver(**deliver_fields(18, "1", 6))
        bought = peer.screen()
        assert bought.get("ussd_service_op") == 17 and bought.get("its_session_info") & 1
        assert "Vous avez acheté" in gsm.decode_gsm7(bought.get("short_message"))
        serve.send_signal(signal.SIGTERM)
        assert isinstance(peer.next_event(), Unbound)  # the gateway unbinds (the session answers it)
        assert serve.wait(30) == 0
    except Exception as exc:
        serve.kill()
        raise AssertionError(f"{exc}; ussd serve said:\n{serve.communicate(timeout=10)[1]}") from exc
    finally:
        if serve.poll() is None:
            serve.kill()
    out, err = serve.communicate(timeout=10)
    assert "secret" not in err and "2250701020304" not in err, err  # no password, numbers masked
    assert '"message": "bound to smpp://gw@127.0.0.1' in err
