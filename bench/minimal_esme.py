"""The SMPP benchmark's baseline: a minimal ESME on the same transport as the gateway (Twisted, the
same SMPP session and USSD mapping) that answers each deliver_sm with a fixed screen and no engine,
no store, no thread hop: the transport's own limit here.

    python bench/minimal_esme.py HOST PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

# the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from twisted.internet import protocol, reactor  # noqa: E402

from gateway.smpp_session import Request, SmppSession  # noqa: E402
from gateway.tcp import no_delay  # noqa: E402
from gateway.ussd_smpp import Begin, Reply, UssdSmpp  # noqa: E402
from ussd import gsm  # noqa: E402
from ussd.engine import Response  # noqa: E402

MENU = "#122# Orange\n1. Bonus Crédit\n2. Bonus Minutes\n3. Internet\n4. Mon offre\n5. Suivi conso\n6. Options et pass"


class MinimalEsme(protocol.Protocol):
    def __init__(self) -> None:
        self.session = SmppSession("esme", window=100)
        self.mapping = UssdSmpp()
        self.coding = gsm.measure(MENU).coding

    def connectionMade(self) -> None:
        no_delay(self.transport)
        self.session.bind("transceiver", "baseline", "pw")
        self.transport.write(self.session.data_to_send())

    def dataReceived(self, data: bytes) -> None:
        for event in self.session.receive(data):
            if isinstance(event, Request) and event.pdu.command == "deliver_sm":
                self.session.respond(event.pdu)
                unit = self.mapping.receive(event.pdu)
                if isinstance(unit, (Begin, Reply)):
                    screen = Response(unit.unit.session, MENU, False, coding=self.coding)
                    self.session.request("submit_sm", **self.mapping.submit(screen, unit.unit))
        self.transport.write(self.session.data_to_send())


class Factory(protocol.ReconnectingClientFactory):
    initialDelay = 0.2

    def buildProtocol(self, addr: object) -> MinimalEsme:
        self.resetDelay()
        return MinimalEsme()


if __name__ == "__main__":
    reactor.connectTCP(sys.argv[1], int(sys.argv[2]), Factory())
    reactor.run()
