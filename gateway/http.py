"""The gateway's HTTP side on Twisted web: ``POST /ussd`` (the aggregators' form convention),
``POST /ussd/json``, and ``POST /ussd/notify`` (the end-of-session notice some aggregators send).

A thin shell around :mod:`gateway.ussd_http`: the request is bounded (body, fields) and checked
(the shared secret, the allowed networks) before anything reaches a subscriber's data; the step
runs on the same worker threads as SMPP's (one dialogue's steps in order), never on the reactor.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from ussd.engine import Engine, Response

from . import openapi
from .esme import new_stats
from .logs import AccessLog, error_name
from .metrics import CONTENT_TYPE_LATEST, Metrics, Serving, health
from .reactor import Clock, twisted_clock
from .service import Reloaded, ReloadRunning, Service
from .ussd_http import (
    MAX_SESSION_ID,
    Bad,
    Begin,
    Continue,
    Event,
    HttpUssd,
    Repeat,
    form_body,
    form_step,
    json_body,
    parse_form,
    session_key,
)

log = logging.getLogger("ussd.http")


class Owner(Serving, Protocol):
    """What the endpoints use of the running server (:class:`gateway.server.Server`, which builds
    them and is not imported here): its figures, its reactor and its reload."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def reactor(self) -> Clock: ...

    def reload(self, why: str) -> defer.Deferred[Reloaded]: ...


#: The largest request body read; past it, 413 before the rest is read.
MAX_BODY: Final = 16 * 1024
#: The environment variable holding the shared secret (``--http`` requests must carry it).
SECRET_ENV: Final = "USSD_HTTP_SECRET"
#: The environment variable holding the admin secret (``POST /admin/reload`` must carry it).
ADMIN_SECRET_ENV: Final = "USSD_ADMIN_SECRET"


def finish(request: http.Request, body: bytes) -> None:
    """Answer a request left waiting (NOT_DONE_YET) with its whole body: its length said, so the
    answer goes in one piece rather than in chunks."""
    set_header(request, b"content-length", str(len(body)).encode("ascii"))
    request.write(body)  # type: ignore[no-untyped-call]  # twisted.web's Request is unannotated
    request.finish()  # type: ignore[no-untyped-call]  # (the same)


def set_header(request: http.Request, name: bytes, value: bytes) -> None:
    """``request.setHeader``, which twisted.web leaves unannotated: what it does."""
    request.responseHeaders.setRawHeaders(name, [value])


def client_host(request: http.Request) -> str:
    """The client's IP address ("" where it has none)."""
    client = request.getClientAddress()  # type: ignore[no-untyped-call]  # twisted.web's is unannotated
    host = getattr(client, "host", "")
    return host if isinstance(host, str) else ""


class BoundedRequest(server.Request):
    """A request whose body stops being kept past :data:`MAX_BODY` octets (then answered 413),
    and whose answer's status is counted (``ussd_http_responses_total``)."""

    too_large = False
    _received = 0

    def finish(self) -> None:
        metrics = getattr(getattr(self, "site", None), "metrics", None)
        if metrics is not None and not self.finished:
            metrics.http_answered(self.code)
        super().finish()  # type: ignore[no-untyped-call]  # twisted.web's Request is unannotated

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > MAX_BODY:
            self.too_large = True
        super().gotLength(None if self.too_large else length)  # type: ignore[no-untyped-call]  # (the same)

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > MAX_BODY:
            self.too_large = True
        if not self.too_large:
            super().handleContentChunk(data)  # type: ignore[no-untyped-call]  # (the same)


@dataclass(frozen=True)
class HttpAccess:
    """Who may ask: the shared secret (None: anyone with the network's leave) and the networks
    requests may come from (none given: any)."""

    secret: str | None = None
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def refusal(self, request: server.Request) -> str | None:
        """Why ``request`` may not reach a subscriber's data, or None."""
        refused = self.network_refusal(request)
        if refused is not None:
            return refused
        if self.secret is not None:
            given = request.requestHeaders.getRawHeaders(b"x-ussd-secret", [None])[0]
            if given is None:
                values = request.args.get(b"secret") if request.args else None
                given = values[0] if values else None
            if not same_secret(given, self.secret):
                return "no valid secret (header X-Ussd-Secret or query secret)"
        return None

    def network_refusal(self, request: server.Request) -> str | None:
        """Why ``request`` comes from where nothing may be asked (outside the allowed networks), or None."""
        host = client_host(request)
        if self.allow:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return "the client's address is not an IP address"
            if not any(address in network for network in self.allow):
                return f"{host} is outside the allowed networks"
        return None


def same_secret(given: bytes | None, secret: str) -> bool:
    """Whether the secret a request gave is ``secret`` (compared in constant time)."""
    return given is not None and hmac.compare_digest(given, secret.encode("utf-8"))


def access_from(allow: Sequence[str], secret: str | None = None, env: dict[str, str] | None = None) -> HttpAccess:
    """The access rules: the secret given (the configuration's), else the environment's; the
    networks as CIDRs (ValueError)."""
    networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allow)
    return HttpAccess(_secret(secret, SECRET_ENV, env), networks)


def admin_secret_from(secret: str | None = None, env: dict[str, str] | None = None) -> str | None:
    """The admin secret: the configuration's, else the environment's; None: the admin endpoints are off."""
    return _secret(secret, ADMIN_SECRET_ENV, env)


def _secret(given: str | None, name: str, env: dict[str, str] | None) -> str | None:
    return given or (os.environ if env is None else env).get(name) or None


class _Endpoints(resource.Resource):
    """A resource that is its own paths' business (a leaf): it answers GET, HEAD and POST, other
    methods :meth:`not_allowed`."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web's Resource is unannotated

    def render(self, request: server.Request) -> bytes | int:
        if request.method not in (b"GET", b"HEAD", b"POST"):
            return self.not_allowed(request)
        answer: bytes | int = super().render(request)  # type: ignore[no-untyped-call]  # (the same)
        return answer

    def not_allowed(self, request: server.Request) -> bytes:
        """The 405 answer, with the methods allowed."""
        raise NotImplementedError


class UssdResource(_Endpoints):
    """The three endpoints, on one running server."""

    def __init__(self, owner: Owner, access: HttpAccess, mapping: HttpUssd, ops: OpsResource | None = None) -> None:
        super().__init__()
        self.owner = owner
        self.access = access
        self.mapping = mapping
        #: /metrics and /healthz here too, when they have no port of their own.
        self.ops = ops
        self.stats = new_stats()
        #: Requests waiting for the answer of a step already asked (an aggregator's retry).
        self._waiting: dict[str, list[tuple[server.Request, Callable[[Response], bytes]]]] = {}

    @property
    def engine(self) -> Engine:
        return self.owner.service.engine

    def not_allowed(self, request: server.Request) -> bytes:
        set_header(request, b"allow", b"POST")
        method = request.method.decode("ascii", "replace")[:10]
        return self._plain(request, 405, f"method {method} not allowed: use POST")

    def render_GET(self, request: server.Request) -> bytes | int:
        path = request.path.rstrip(b"/")
        if path == b"/openapi.json":
            set_header(request, b"content-type", b"application/json")
            return openapi.document()
        if self.ops is not None and path in OpsResource.PATHS:
            return self.ops.render_GET(request)
        return self.not_allowed(request)

    def render_POST(self, request: server.Request) -> bytes | int:
        try:
            return self._post(request)
        except Exception as exc:  # a bug here costs one request's answer, never a traceback page
            log.error("HTTP request failed: %s: %s", type(exc).__name__, exc)
            return self._plain(request, 500, f"internal error: {type(exc).__name__}")

    def _post(self, request: server.Request) -> bytes | int:
        path = request.path.rstrip(b"/")
        if self.ops is not None and path in OpsResource.POST_PATHS:  # on the public port: its networks too
            refused = self.access.network_refusal(request)
            return self._plain(request, 403, refused) if refused is not None else self.ops.render_POST(request)
        if path not in (b"/ussd", b"/ussd/json", b"/ussd/notify"):
            return self._plain(request, 404, "no such endpoint: POST /ussd, /ussd/json or /ussd/notify")
        if getattr(request, "too_large", False):
            return self._plain(request, 413, f"body larger than {MAX_BODY} octets")
        refused = self.access.refusal(request)
        if refused is not None:
            log.warning("HTTP request refused: %s", refused)
            return self._plain(request, 403, refused)
        body = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if path == b"/ussd/json":
            return self._step(request, self.mapping.receive_json(body), json_body, "application/json")
        fields = parse_form(body)
        if isinstance(fields, Bad):
            return self._plain(request, fields.status, fields.reason)
        if path == b"/ussd/notify":
            return self._notified(request, fields)
        return self._step(request, self.mapping.receive_form(fields), form_body, "text/plain; charset=utf-8")

    # -- a step --------------------------------------------------------------------------------

    def _step(self, request: server.Request, event: Event, body: Callable[[Response], bytes], kind: str) -> bytes | int:
        if isinstance(event, Bad):
            return self._plain(request, event.status, event.reason)
        set_header(request, b"content-type", kind.encode("ascii"))
        if isinstance(event, Repeat):
            answer = self.mapping.last_answer(event.session)
            if answer is not None:
                return body(answer)
            self._waiting.setdefault(event.session, []).append((request, body))
            return server.NOT_DONE_YET
        gateway = self.owner.gateway
        dials = isinstance(event, Begin) or (isinstance(event, Continue) and not event.text)
        refusal = gateway.refusal(dials)
        if refusal is not None:
            self.mapping.retract(event.session)
            self.stats["refused"] += 1
            return self._plain(request, 503, refusal)
        if isinstance(event, Begin):
            done = gateway.run_step(event.session, self.stats, (event.msisdn, event.code))
        elif isinstance(event, Continue):
            done = gateway.run_step(event.session, self.stats, work=lambda engine, lang: form_step(engine, event, lang),
                                    dials=dials, work_dial=(event.msisdn, event.code))
        else:
            done = gateway.run_step(event.session, self.stats, text=event.text)
        done.addCallback(self._answered, event.session, request, body, time.monotonic())
        return server.NOT_DONE_YET

    def _answered(self, response: Response | Bad, key: str, request: server.Request,
                  body: Callable[[Response], bytes], arrived: float) -> None:
        if isinstance(response, Bad):  # a shared session's form that does not continue it
            if not request.finished and not getattr(request, "_disconnected", False):
                finish(request, self._plain(request, response.status, response.reason))
            return
        self.mapping.answered(key, response)
        if response.end:
            self.stats["ended"] += 1
        self.owner.metrics.observe_step["http"](time.monotonic() - arrived)
        for waiting, waiting_body in [(request, body), *self._waiting.pop(key, [])]:
            if not waiting.finished and not getattr(waiting, "_disconnected", False):
                finish(waiting, waiting_body(response))

    def _notified(self, request: server.Request, fields: dict[str, str]) -> bytes:
        """An aggregator's notice that a session ended: logged; the dialogue, if open, forgotten."""
        session = fields.get("sessionId", "")
        if not session.strip() or len(session) > MAX_SESSION_ID:
            return self._plain(request, 400, f"sessionId: expected 1 to {MAX_SESSION_ID} characters")
        key = session_key(session)
        known = self.mapping.forget(key) or self.mapping.shared  # shared: the record may be on another node
        if known:
            self.stats["aborts"] += 1
            self.owner.gateway.abort(key)
        log.info("session %s ended at the aggregator: %s", session, fields.get("status", "")[:40],
                 extra={"fields": {"known": known, "error": fields.get("errorMessage", "")[:80]}})
        return self._plain(request, 200, "OK")

    @staticmethod
    def _plain(request: server.Request, status: int, text: str) -> bytes:
        request.setResponseCode(status)
        set_header(request, b"content-type", b"text/plain; charset=utf-8")
        return (text + "\n").encode("utf-8")


def probe_stores(service: Service) -> list[str]:
    """(On a worker.) What of the service's stores does not answer: the accounts (a read) and the
    dialogues (Redis's ping; nothing to ask in memory)."""
    down = []
    probes: dict[str, Callable[[], object]] = {"account store": lambda: service.store.get("0"),
                                               "session store": service.sessions.ping}
    for name, probe in probes.items():
        try:
            probe()
        except Exception as exc:  # a store's failure of any kind is what the check reports
            down.append(f"{name}: {str(exc)[:120] or type(exc).__name__}")
    return down


def access_line(request: http.Request) -> str:
    """One access-log line: who, what, the status. Never the query string: it may carry the
    shared secret (``?secret=``), and nothing else in it is the log's business."""
    host = client_host(request) or "-"
    path = request.path.decode("ascii", "replace")[:80]
    return f'{host} "{request.method.decode("ascii", "replace")} {path}" {request.code} {request.sentLength or 0}'


class OpsResource(_Endpoints):
    """``GET /metrics`` (the Prometheus text format) and ``GET /healthz`` (200 when the store
    answers and every configured bind is bound; 503 and the reasons when not)."""

    PATHS = (b"/metrics", b"/healthz")
    POST_PATHS = (b"/admin/reload",)
    #: How long the store has to answer a health check.
    STORE_WAIT_S = 2.0

    def __init__(self, owner: Owner, admin_secret: str | None = None) -> None:
        super().__init__()
        self.owner = owner
        #: None: the admin endpoints answer 403 (nothing configured, nothing open).
        self.admin_secret = admin_secret

    def not_allowed(self, request: server.Request) -> bytes:
        set_header(request, b"allow", b"GET, POST")
        return UssdResource._plain(request, 405, "method not allowed: GET /metrics, /healthz; POST /admin/reload")

    def render_POST(self, request: server.Request) -> bytes | int:
        """``POST /admin/reload``: the menus read again (see :meth:`Server.reload`)."""
        if request.path.rstrip(b"/") not in self.POST_PATHS:
            return UssdResource._plain(request, 404, "no such endpoint: POST /admin/reload")
        if self.admin_secret is None:
            return UssdResource._plain(request, 403, f"admin endpoints are off: no admin secret configured "
                                                     f"({ADMIN_SECRET_ENV} or admin_secret)")
        if not same_secret(request.requestHeaders.getRawHeaders(b"x-ussd-admin-secret", [None])[0], self.admin_secret):
            log.warning("admin request refused: no valid admin secret")
            return UssdResource._plain(request, 403, "no valid admin secret (header X-Ussd-Admin-Secret)")
        self.owner.reload("POST /admin/reload").addCallbacks(
            lambda result: self._reloaded(request, result), lambda failure: self._reload_failed(request, failure))
        return server.NOT_DONE_YET

    def _reloaded(self, request: server.Request, result: Reloaded) -> None:
        if result.problems:
            lines = [f"refused: {len(result.problems)} problem(s); menus {result.version} keep serving",
                     *result.problems]
            status = 422
        elif result.changed:
            lines, status = [f"reloaded: menus {result.version} for new dialogues; {result.kept} older "
                             f"version(s) kept for running ones"], 200
        else:
            lines, status = [f"unchanged: menus {result.version} already serving"], 200
        self._answer(request, status, "\n".join(lines))

    def _reload_failed(self, request: server.Request, failure: Failure) -> None:
        if isinstance(failure.value, ReloadRunning):
            self._answer(request, 409, "a reload is already running: ask again when it is done")
        else:
            self._answer(request, 500, f"the reload failed: {error_name(failure)}; the menus in use keep serving")

    @staticmethod
    def _answer(request: server.Request, status: int, text: str) -> None:
        if not request.finished and not getattr(request, "_disconnected", False):
            finish(request, UssdResource._plain(request, status, text))

    def render_GET(self, request: server.Request) -> bytes | int:
        path = request.path.rstrip(b"/")
        if path == b"/metrics":
            set_header(request, b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
            return self.owner.metrics.exposition()
        if path != b"/healthz":
            return UssdResource._plain(request, 404, "no such endpoint: GET /metrics or /healthz")
        service = self.owner.service
        checked = self.owner.gateway.runner.run("_health", lambda: probe_stores(service))
        checked.addTimeout(self.STORE_WAIT_S, twisted_clock(self.owner.reactor))

        def unanswered(failure: Failure) -> list[str]:
            return [f"stores: {failure.getErrorMessage()[:120] or error_name(failure)}"]

        checked.addErrback(unanswered)
        checked.addCallback(lambda down: self._healthz(request, down))
        return server.NOT_DONE_YET

    def _healthz(self, request: server.Request, down: list[str]) -> None:
        healthy, reasons = health(self.owner, down)
        self._answer(request, 200 if healthy else 503, "ok" if healthy else "; ".join(reasons))


class GatewaySite(server.Site):
    """A site of bounded requests, their statuses counted in ``metrics``, each logged as one
    line of ``access`` (None: not logged)."""

    requestFactory = BoundedRequest
    displayTracebacks = False

    def __init__(self, resource_: resource.Resource, metrics: Metrics | None = None,
                 access: AccessLog | None = None) -> None:
        # the body is read by the adapter, once: not parsed into ``args`` by Twisted first, which
        # reads the Content-Type through the ``email`` package (a fifth of a request's time)
        super().__init__(resource_, parsePOSTFormSubmission=False)  # type: ignore[no-untyped-call]  # unannotated
        self.metrics = metrics
        self.access = access

    def log(self, request: http.Request) -> None:
        if self.access is not None:
            self.access.write(access_line(request))


def site(resource_: resource.Resource, metrics: Metrics | None = None, access: AccessLog | None = None) -> GatewaySite:
    return GatewaySite(resource_, metrics, access)
