"""`ussd serve` as a separate process, bound over TCP on 127.0.0.1 to a centre played by the test:
a #122# dialogue PDU by PDU, and SIGTERM: running dialogues finish, the gateway unbinds, exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import terminate
from smpp_peer import SocketPeer

from gateway.smpp_session import Unbound
from ussd import gsm

HERE = Path(__file__).resolve().parent
SUBSCRIBER = "2250701020304"


def deliver_fields(op: int, text: str, sequence: int, number: int = 3, source: str = SUBSCRIBER) -> dict[str, object]:
    return dict(service_type="USSD", source_addr_ton=1, source_addr_npi=1, source_addr=source,
                destination_addr="122", short_message=gsm.encode_gsm7(text), ussd_service_op=op,
                its_session_info=(number << 8) | (sequence << 1))


@pytest.fixture
def centre() -> Iterator[tuple[socket.socket, int]]:
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener, listener.getsockname()[1]
    listener.close()


def start_serve(port: int, *extra: str, db: str = "memory:") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ussd122", "serve", "--smpp", f"smpp://gw:secret@127.0.0.1:{port}", "--db", db,
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
        raise said(serve, exc) from exc
    finally:
        if serve.poll() is None:
            serve.kill()
    out, err = serve.communicate(timeout=10)
    assert "secret" not in err and "2250701020304" not in err, err  # no password, numbers masked
    assert '"message": "bound to smpp://gw@127.0.0.1' in err


def test_a_step_waiting_on_the_store_delays_only_its_own_dialogue(centre: tuple[socket.socket, int],
                                                                   pg_url: str) -> None:
    """A purchase waits on a row lock another node holds: meanwhile the link's keep-alive is
    answered and another subscriber's dialogue gets its screens; then the purchase goes through."""
    import psycopg

    from gateway.smpp_session import Answer

    listener, port = centre
    serve = start_serve(port, db=pg_url)
    other = "2250707070707"
    with running(serve):
        peer = SocketPeer.accept(listener)
        peer.bind()
        for op, text, sequence in ((1, "#122#", 0), (18, "6", 2), (18, "1", 4)):
            peer.deliver(**deliver_fields(op, text, sequence))
            peer.screen()
        with psycopg.connect(pg_url) as holder:
            holder.execute("SELECT balance FROM subscribers WHERE msisdn = %s FOR UPDATE", (SUBSCRIBER,))
            peer.deliver(**deliver_fields(18, "1", 6))  # buy: its step waits on the lock
            peer.session.request("enquire_link")
            peer.flush()
            peer.deliver(**deliver_fields(1, "#122#", 0, number=4, source=other))
            seen: list[str] = []
            while "other's screen" not in seen:
                event = peer.next_event()
                if isinstance(event, Answer) and event.request == "enquire_link":
                    seen.append("keep-alive answered")
                elif getattr(event, "pdu", None) is not None and event.pdu.command == "submit_sm":
                    peer.session.respond(event.pdu, message_id="m")
                    peer.flush()
                    to = event.pdu.get("destination_addr").decode()
                    seen.append("other's screen" if to == other else "purchase screen")
            holder.rollback()
        assert seen[-1] == "other's screen" and "purchase screen" not in seen and "keep-alive answered" in seen
        bought = peer.screen()
        assert bought.get("destination_addr") == SUBSCRIBER.encode()
        assert "Vous avez acheté" in gsm.decode_gsm7(bought.get("short_message"))


def serve_with_file(tmp_path: Path, port: int, **link: object) -> subprocess.Popen[str]:
    fields = ", ".join(f"{k}: {v}" for k, v in {"url": f"'smpp://gw:secret@127.0.0.1:{port}'", **link}.items())
    config = tmp_path / "serve.yaml"
    config.write_text(f"db: 'memory:'\ndemo: true\nat: 2026-11-25T10:00\nsmpp:\n  - {{{fields}}}\n", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--config", str(config)], cwd=HERE.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def said(serve: subprocess.Popen[str], exc: Exception) -> AssertionError:
    serve.kill()
    return AssertionError(f"{exc}; ussd serve said:\n{serve.communicate(timeout=10)[1]}")


@contextmanager
def running(serve: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """A test's body with ``ussd serve`` running: on failure its log is shown; it is stopped after."""
    try:
        yield serve
    except Exception as exc:
        raise said(serve, exc) from exc
    finally:
        terminate(serve)


def test_garbage_from_the_centre_is_answered_and_the_link_goes_on(centre: tuple[socket.socket, int]) -> None:
    import struct

    from gateway import pdu
    from gateway.smpp_session import Faulty

    listener, port = centre
    serve = start_serve(port)
    with running(serve):
        peer = SocketPeer.accept(listener)
        peer.bind()
        peer.sock.sendall(struct.pack(">LLLL", 16, 0x00000007, 0, 901))  # replace_sm: not on this link
        bad = pdu.encode("deliver_sm", 902, **deliver_fields(1, "#122#", 0))
        bad = bad[:-5] + b"\x05\x01\x00\x02\x01\x00"  # ussd_service_op of 2 octets
        peer.sock.sendall(struct.pack(">L", len(bad)) + bad[4:])
        answers = [peer.next_event(), peer.next_event()]
        assert all(isinstance(a, Faulty) for a in answers)  # our session names the two answers...
        statuses = sorted((a.error.sequence, a.error.status) for a in answers)
        assert statuses == [(901, pdu.RINVCMDID), (902, pdu.RINVPARLEN)], statuses
        peer.deliver(**deliver_fields(1, "#122#", 0))  # ...and the link carries on
        assert "Mon offre" in gsm.decode_gsm7(peer.screen().get("short_message"))


def test_a_dialogue_survives_the_link_dropping_and_the_gateway_reconnects(centre: tuple[socket.socket, int]) -> None:
    listener, port = centre
    serve = start_serve(port)
    with running(serve):
        peer = SocketPeer.accept(listener)
        peer.bind()
        peer.deliver(**deliver_fields(1, "#122#", 0))
        peer.screen()
        peer.close()  # the link drops mid-dialogue
        again = SocketPeer.accept(listener)  # the gateway comes back by itself
        again.bind()
        again.deliver(**deliver_fields(18, "6", 2))
        assert "Options et pass" in gsm.decode_gsm7(again.screen().get("short_message"))


def test_a_throttled_screen_is_sent_again(centre: tuple[socket.socket, int]) -> None:
    from gateway import pdu

    listener, port = centre
    serve = start_serve(port)
    with running(serve):
        peer = SocketPeer.accept(listener)
        peer.bind()
        peer.deliver(**deliver_fields(1, "#122#", 0))
        first = peer.expect_request("submit_sm")
        peer.session.respond(first, pdu.RTHROTTLED)
        peer.flush()
        second = peer.screen()
        assert second.sequence != first.sequence and second.get("short_message") == first.get("short_message")


def test_a_centre_that_stops_answering_is_dropped_and_bound_again(centre: tuple[socket.socket, int],
                                                                  tmp_path: Path) -> None:
    listener, port = centre
    serve = serve_with_file(tmp_path, port, enquire_interval=0.5, response_timeout=1)
    with running(serve):
        silent = SocketPeer.accept(listener)
        silent.bind()
        # From now on this end reads nothing and answers nothing: the gateway's enquire_link goes
        # unanswered, and it drops the link and binds again.
        again = SocketPeer.accept(listener, timeout=30)
        again.bind()
        again.deliver(**deliver_fields(1, "#122#", 0))
        assert "Mon offre" in gsm.decode_gsm7(again.screen().get("short_message"))
        silent.close()


def test_a_transmitter_and_receiver_pair_carries_a_dialogue(centre: tuple[socket.socket, int], tmp_path: Path) -> None:
    listener, port = centre
    serve = serve_with_file(tmp_path, port, bind="pair")
    with running(serve):
        peers = [SocketPeer.accept(listener), SocketPeer.accept(listener)]
        binds = {peer.bind("transmitter", "receiver").command: peer for peer in peers}
        assert sorted(binds) == ["bind_receiver", "bind_transmitter"]
        receiver, transmitter = binds["bind_receiver"], binds["bind_transmitter"]
        receiver.deliver(**deliver_fields(1, "#122#", 0))  # the centre delivers to the receiver...
        home = transmitter.screen()  # ...and the screen comes back on the transmitter
        assert "Mon offre" in gsm.decode_gsm7(home.get("short_message"))
