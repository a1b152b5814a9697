"""The fake centre's Twisted shell on in-memory transports and Twisted's fake clock: the first octet
tells SMPP from a handset, timers run on callLater, outputs reach the right connection, a frozen
centre writes nothing to links, and stopping unbinds and closes."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from gateway import pdu
from gateway.smpp_session import Bound, Request, SmppSession, Unbound
from gateway.ussd_smpp import Begin, UssdSmpp
from simulator.centre import Centre, CentreConfig, CentreConnection, CentreFactory
from ussd.engine import Response

SUBSCRIBER = "2250701020304"


class Shell:
    def __init__(self, **config: Any) -> None:
        self.clock = Clock()
        self.factory = CentreFactory(Centre(CentreConfig(**config)), self.clock)

    def connect(self) -> tuple[CentreConnection, StringTransport]:
        connection = self.factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        return connection, transport


def written(transport: StringTransport) -> bytes:
    data = transport.value()
    transport.clear()
    return data


def lines(transport: StringTransport) -> list[dict[str, Any]]:
    return [json.loads(line) for line in written(transport).splitlines()]


def bind(shell: Shell) -> tuple[CentreConnection, StringTransport, SmppSession]:
    connection, transport = shell.connect()
    esme = SmppSession("esme")
    esme.bind("transceiver", "gw", "pw")
    connection.dataReceived(esme.data_to_send())
    assert esme.receive(written(transport)) == [Bound("transceiver", "ussd-centre")]
    assert connection.kind == "smpp"
    return connection, transport, esme


def test_the_first_octet_tells_smpp_from_a_handset_and_a_dialogue_runs_through() -> None:
    shell = Shell()
    link, link_transport, esme = bind(shell)
    handset, handset_transport = shell.connect()
    handset.dataReceived(b'{"dial": "#122#", "msisdn": "2250701020304"}')
    assert handset.kind == "handset" and written(handset_transport) == b""  # no newline yet
    handset.dataReceived(b"\n")
    [request] = esme.receive(written(link_transport))
    assert isinstance(request, Request)
    begin = UssdSmpp().receive(request.pdu)
    assert isinstance(begin, Begin)
    esme.respond(request.pdu)
    esme.request("submit_sm", **UssdSmpp().submit(Response("s", "Menu", False), begin.unit))
    link.dataReceived(esme.data_to_send())
    assert lines(handset_transport) == [{"session": f"centre:{SUBSCRIBER}:0", "text": "Menu", "end": False,
                                         "coding": "gsm7", "units": 4}]


def test_timers_run_on_the_reactors_clock() -> None:
    shell = Shell(step_timeout=30, enquire_interval=None)
    bind(shell)
    handset, transport = shell.connect()
    handset.dataReceived(b'{"dial": "#122#", "msisdn": "2250701020304"}\n')
    assert [call.getTime() for call in shell.clock.getDelayedCalls()] == [30.0]
    shell.clock.advance(29.0)
    assert written(transport) == b""
    shell.clock.advance(1.0)
    assert lines(transport) == [{"session": f"centre:{SUBSCRIBER}:0", "end": True, "timeout": True, "text": "",
                                 "reason": "step timeout"}]
    assert shell.clock.getDelayedCalls() == []


def test_a_lost_handset_connection_hangs_up() -> None:
    shell = Shell()
    _, link_transport, esme = bind(shell)
    handset, _ = shell.connect()
    handset.dataReceived(b'{"dial": "#122#", "msisdn": "2250701020304"}\n')
    esme.receive(written(link_transport))
    handset.connectionLost(None)
    [abort] = esme.receive(written(link_transport))
    assert isinstance(abort, Request) and abort.pdu.get("its_session_info") & 1
    assert shell.factory.centre.open_dialogues() == []


def test_a_frozen_centre_writes_nothing_to_links_until_thawed() -> None:
    shell = Shell()
    link, transport, esme = bind(shell)
    shell.factory.freeze()
    esme.request("enquire_link")
    link.dataReceived(esme.data_to_send())
    assert written(transport) == b""
    shell.factory.thaw()
    assert pdu.header(written(transport))[1] == pdu.CODES["enquire_link_resp"]


def test_stopping_unbinds_links_and_fires_when_they_are_closed() -> None:
    shell = Shell()
    link, transport, esme = bind(shell)
    handset, handset_transport = shell.connect()
    handset.dataReceived(b"{}\n")
    stopped = shell.factory.stop()
    assert not stopped.called
    events = esme.receive(written(transport))
    assert [type(e) for e in events] == [Unbound]  # the centre's unbind, answered
    link.dataReceived(esme.data_to_send())
    assert transport.disconnecting and stopped.called
    assert handset_transport.disconnecting


def test_stopping_fires_after_the_grace_even_if_a_link_never_answers() -> None:
    shell = Shell()
    _, transport, _ = bind(shell)
    stopped = shell.factory.stop()
    shell.clock.advance(shell.factory.grace)
    assert stopped.called and transport.disconnecting


def test_an_internal_error_costs_an_answer_not_the_process(monkeypatch: Any) -> None:
    shell = Shell()
    handset, transport = shell.connect()

    def broken(*args: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(shell.factory.centre, "handset_line", broken)
    handset.dataReceived(b'{"hangup": true}\n')
    assert lines(transport) == [{"error": "internal error: KeyError"}]
