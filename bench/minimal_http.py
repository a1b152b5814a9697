"""The HTTP benchmark's baseline: a bare Twisted web resource answering every POST with a fixed
CON screen, no engine, no store, no thread hop: the transport's own limit here.

    python bench/minimal_http.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

# the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from twisted.internet import reactor  # noqa: E402
from twisted.web import resource, server  # noqa: E402

SCREEN = ("CON #122# Orange\n1. Bonus Crédit\n2. Bonus Minutes\n3. Internet\n4. Mon offre\n5. Suivi conso\n"
          "6. Options et pass").encode()


class Fixed(resource.Resource):
    isLeaf = True

    def render_POST(self, request: server.Request) -> bytes:
        request.content.read()
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return SCREEN


if __name__ == "__main__":
    reactor.listenTCP(int(sys.argv[1]), server.Site(Fixed()), interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
