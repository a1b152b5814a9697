"""``ussd web``: the handset as a web page, for QA, on 127.0.0.1 only.

The page (``simulator/handset_page/``: hand-written HTML, CSS and JS) picks a service code, a subscriber
from the store, a language and a frozen instant; then it dials and replies through the gateway's
own JSON adapter (``POST /ussd/json``, :class:`gateway.http.UssdResource` on a
:class:`gateway.server.Server` built by :func:`gateway.service.build`), so it shows exactly what an
integrator receives. Around the adapter, a *walk* keeps what the adapter has no field for: the
walk's instant (moved between steps, as a transcript step's ``at``) and language, and the
:class:`simulator.transcript.Recorder` that ``ussd dial --record`` uses, so a walk downloads (or
saves under ``--record-dir``) as the very same transcript file.

The server has one steerable clock and one dial language (``Gateway.lang``), as the QA control has:
adapter steps are therefore run one at a time, each with its walk's instant and language set just
before it runs. What comes from outside (bodies, queries) is read by the small decoders below:
bounded, and refused in one line (:class:`gateway.ussd_http.Bad`), never with a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import signal
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Final, TextIO, cast

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ServerFactory
from twisted.web import resource, server

from accounts.export import subscriber_record
from accounts.model import Subscriber
from accounts.store import Listed, StoreError
from gateway.config import ServerConfig
from gateway.http import MAX_BODY, UssdResource, access_from, finish, site
from gateway.server import Server
from gateway.ussd_http import MAX_CODE, MAX_PHONE, Bad, HttpUssd, json_fields, session_key
from ussd.clock import HandsetClock, wall_clock
from ussd.engine import Response
from ussd.gsm import measure

from .clock import CLOCK_FORMS, in_zone, read_instant
from .handset import read_msisdn
from .transcript import Recorder

log = logging.getLogger("ussd.web")

#: The only interface the page is served on: it reads and changes subscribers' accounts.
LISTEN_HOST: Final = "127.0.0.1"
#: The page's files (package data).
STATIC: Final = Path(__file__).resolve().parent / "handset_page"
FILES: Final = {b"/": ("index.html", "text/html; charset=utf-8"),
                b"/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
                b"/static/style.css": ("style.css", "text/css; charset=utf-8")}
#: Walks kept at once (the oldest forgotten past this), and the steps one walk may record.
MAX_WALKS: Final = 64
MAX_STEPS: Final = 200
#: A search's text, and how many subscribers one search answers (at most; default).
MAX_QUERY: Final = 32
MAX_MATCHES: Final = 50
DEFAULT_MATCHES: Final = 10
#: An instant or a move as written (``2026-11-25T10:00:00+00:00``, ``+1h30m``).
MAX_INSTANT: Final = 40
#: The largest body of the page's own requests.
MAX_WEB_BODY: Final = 2048
_WALK_ID = re.compile(r"[0-9a-f]{16}")
_QUERY = re.compile(r"[0-9 +.\-]*")
_LIMIT = re.compile(r"[0-9]{1,3}")
#: The walks' endpoints: path, methods, handler (a walk's id in the path's group).
_ROUTES: Final = (
    (re.compile(rb"/web/setup"), b"GET", "setup"),
    (re.compile(rb"/web/subscribers"), b"GET", "search"),
    (re.compile(rb"/web/walks"), b"POST", "new_walk"),
    (re.compile(rb"/web/walks/([^/]*)"), b"GET", "walk"),
    (re.compile(rb"/web/walks/([^/]*)/clock"), b"POST", "clock"),
    (re.compile(rb"/web/walks/([^/]*)/transcript"), b"GET, POST", "transcript"),
)


# -- what comes in: decoders (sans-IO) -------------------------------------------------------------


@dataclass(frozen=True)
class WalkAsked:
    """``POST /web/walks``: who dials what, in which language, at which instant (as written)."""

    code: str
    msisdn: str
    lang: str | None
    at: str


def _object(body: bytes, keys: Mapping[str, tuple[int, bool]]) -> dict[str, str] | Bad:
    """A JSON object of strings, as the JSON adapter reads its own (:func:`json_fields`), in a
    body of the page's size."""
    if len(body) > MAX_WEB_BODY:
        return Bad(413, f"body larger than {MAX_WEB_BODY} octets")
    return json_fields(body, keys)


def read_walk(body: bytes) -> WalkAsked | Bad:
    """``{"code", "msisdn", "lang", "at"}`` (``lang`` optional: the subscriber's own)."""
    fields = _object(body, {"code": (MAX_CODE, True), "msisdn": (MAX_PHONE, True), "lang": (8, False),
                            "at": (MAX_INSTANT, True)})
    if isinstance(fields, Bad):
        return fields
    return WalkAsked(fields["code"], fields["msisdn"], fields.get("lang") or None, fields["at"])


def read_move(body: bytes) -> str | Bad:
    """``{"at"}``: where the walk's clock goes (an instant, or a move such as ``+90s``)."""
    fields = _object(body, {"at": (MAX_INSTANT, True)})
    return fields if isinstance(fields, Bad) else fields["at"]


def read_search(args: Mapping[bytes, list[bytes]]) -> tuple[str, int] | Bad:
    """``?q=0701&limit=10`` -> (the digits to look for, how many at most)."""
    unknown = sorted(set(args) - {b"q", b"limit"})
    if unknown:
        return Bad(400, f"query: unknown parameter {unknown[0][:20].decode('utf-8', 'replace')!r} (expected q, limit)")
    try:
        text = args.get(b"q", [b""])[-1].decode("utf-8")
        limit_text = args.get(b"limit", [str(DEFAULT_MATCHES).encode()])[-1].decode("utf-8")
    except UnicodeDecodeError:
        return Bad(400, "query: not UTF-8")
    if len(text) > MAX_QUERY:
        return Bad(400, f"q: {len(text)} characters, at most {MAX_QUERY}")
    if not _QUERY.fullmatch(text):
        return Bad(400, "q: expected digits of a number (spaces, +, . and - allowed)")
    if not (_LIMIT.fullmatch(limit_text) and 1 <= int(limit_text) <= MAX_MATCHES):
        return Bad(400, f"limit: expected 1 to {MAX_MATCHES}")
    return re.sub(r"[^0-9]", "", text), int(limit_text)


@dataclass(frozen=True)
class AdapterStep:
    """What an adapter request says, read only to find its walk (the adapter itself judges the
    request): each None when the body does not say it as a string."""

    session: str | None = None
    input: str | None = None
    msisdn: str | None = None
    code: str | None = None


def adapter_step(body: bytes) -> AdapterStep:
    """What the adapter request ``body`` says (never refused here)."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return AdapterStep()
    if not isinstance(message, dict):
        return AdapterStep()
    said = {name: value if isinstance(value := message.get(name), str) else None
            for name in ("session", "input", "msisdn", "code")}
    return AdapterStep(**said)


# -- walks -------------------------------------------------------------------------------------------


@dataclass
class Walk:
    """One dialogue on the page: its instant and language, and the Recorder of its screens. Its
    id is also the adapter's ``session``."""

    id: str
    code: str
    msisdn: str  # E.164 digits
    lang: str | None
    at: datetime  # aware: the instant the next step runs at
    recorder: Recorder

    @property
    def ended(self) -> bool:
        return bool(self.recorder.steps) and self.recorder.steps[-1][2].end

    def refusal(self, step: AdapterStep) -> Bad | None:
        """Why the adapter step asked may not run in this walk (a transcript has one dialogue of
        one subscriber: a dial, then replies until the end), or None."""
        reply = step.input
        if (step.msisdn, step.code) != (self.msisdn, self.code):
            return Bad(409, f"this walk is {self.msisdn} on {self.code}: send its msisdn and code as "
                            "POST /web/walks answered them")
        if reply is None and self.recorder.steps:
            return Bad(409, "this walk has dialled already: start a new walk to dial again")
        if reply is not None and not self.recorder.steps:
            return Bad(409, "this walk has not dialled yet: dial first (a request without input)")
        if self.ended:
            return Bad(409, "this walk's dialogue has ended: start a new walk")
        if len(self.recorder.steps) >= MAX_STEPS:
            return Bad(409, f"a walk records at most {MAX_STEPS} steps: start a new walk")
        return None

    def view(self, tz: tzinfo) -> dict[str, Any]:
        steps = []
        for reply, at, response in self.recorder.steps:
            measured = measure(response.text)
            steps.append({"reply": reply, "at": at.astimezone(tz).isoformat(), "text": response.text,
                          "screen": response.screen, "page": response.page, "pages": response.pages,
                          "end": response.end, "coding": measured.coding, "units": measured.units,
                          "limit": measured.limit})
        return {"walk": self.id, "session": self.id, "code": self.code, "msisdn": self.msisdn, "lang": self.lang,
                "at": self.at.astimezone(tz).isoformat(), "ended": self.ended, "steps": steps}

    def file_name(self) -> str:
        started = self.recorder.steps[0][1] if self.recorder.steps else self.at
        return f"walk-{self.msisdn}-{started:%Y%m%dT%H%M%S}-{self.id[:6]}.yaml"


@dataclass(frozen=True)
class Prepared:
    """A walk asked for, read: the code, the number (E.164), the language, the instant, and
    whether it was written without an offset (then the transcript writes operator time)."""

    code: str
    msisdn: str
    lang: str | None
    at: datetime
    local: bool


@dataclass
class Pending:
    """The adapter step running now (one at a time): the Recorder is told its answer."""

    key: str | None
    walk: Walk | None
    reply: str | None
    at: datetime | None
    #: Fired once the step is over: the next one may run.
    done: defer.Deferred[None]


class WatchedHttpUssd(HttpUssd):
    """The JSON adapter's mapping, telling :attr:`on_answer` of every answer (a walk's screens)."""

    on_answer: Callable[[str, Response], None] | None = None

    def answered(self, key: str, response: Response) -> None:
        super().answered(key, response)
        if self.on_answer is not None:
            self.on_answer(key, response)


@dataclass
class WebHandset:
    """The walks, on one running server (no IO here: :class:`WebResource` reads the store)."""

    server: Server
    clock: HandsetClock
    tz: tzinfo
    default_at: datetime
    record_dir: Path | None = None
    walks: OrderedDict[str, Walk] = field(default_factory=OrderedDict)

    @property
    def engine(self) -> Any:
        return self.server.service.engine

    def setup(self) -> dict[str, Any]:
        services = [{"code": s.code, "name": s.name, "languages": list(s.languages),
                     "default_language": s.default_language} for s in self.engine.menus.services.values()]
        return {"services": services, "at": self.default_at.astimezone(self.tz).replace(tzinfo=None).isoformat(),
                "tz": str(self.tz), "record_dir": str(self.record_dir) if self.record_dir else None,
                "max_matches": MAX_MATCHES}

    def prepare(self, asked: WalkAsked) -> Prepared | Bad:
        """The walk asked for, read against the menus served, or why it cannot be."""
        from ussd.loader import split_short_code

        parsed = split_short_code(asked.code)
        service = self.engine.menus.services.get(parsed[0]) if parsed else None
        if service is None:
            return Bad(404, f"code: no service answers {asked.code[:20]!r}")
        try:
            msisdn = read_msisdn(self.engine, asked.code, asked.msisdn)
        except ValueError as exc:
            return Bad(400, f"msisdn: {exc}")
        if asked.lang is not None and asked.lang not in service.languages:
            return Bad(400, f"lang: {asked.lang[:8]!r} is not one of {', '.join(service.languages)}")
        at = read_instant(asked.at, self.tz)
        if at is None:
            return Bad(400, f"at: not an ISO 8601 instant: {asked.at[:40]!r} (e.g. 2026-11-25T10:00:00)")
        local = datetime.fromisoformat(asked.at.strip()).tzinfo is None
        return Prepared(asked.code.strip(), msisdn, asked.lang, at, local)

    def open(self, asked: Prepared, before: Subscriber | None) -> Walk:
        """A new walk; ``before``: the subscriber as the store holds them before the dial (the
        transcript's fixture)."""
        config = self.server.service.config
        fixture = [subscriber_record(before, self.tz)] if before is not None else []
        recorder = Recorder(asked.msisdn, asked.code, fixture, lang=asked.lang, menus=config.menus,
                            idle_timeout=config.idle_timeout, max_duration=config.max_duration,
                            local=self.tz if asked.local else None, by="ussd web")
        walk = Walk(secrets.token_hex(8), asked.code, asked.msisdn, asked.lang, asked.at, recorder)
        if len(self.walks) >= MAX_WALKS:
            self.walks.popitem(last=False)
        self.walks[walk.id] = walk
        return walk

    def move(self, walk: Walk, text: str) -> Bad | None:
        """The walk's clock to an instant or by a move (``+90s``); never backwards."""
        target = read_instant(text, self.tz, walk.at)
        if target is None:
            return Bad(400, f"at: not understood: {text[:40]!r} (give {CLOCK_FORMS})")
        if target < walk.at:
            return Bad(400, f"at: {target.astimezone(self.tz).isoformat()} is before "
                            f"{walk.at.astimezone(self.tz).isoformat()}: time only moves on")
        walk.at = target
        return None

    def transcript(self, walk: Walk) -> tuple[str, str] | Bad:
        """(file name, YAML text) of the walk as ``ussd dial --record`` writes it; menu paths
        relative to the record folder (else the current one)."""
        if not walk.recorder.steps:
            return Bad(409, "nothing to record yet: dial first")
        name = walk.file_name()
        return name, walk.recorder.to_yaml((self.record_dir or Path.cwd()) / name)


# -- the HTTP side ----------------------------------------------------------------------------------


def _json(request: server.Request, status: int, value: Any) -> bytes:
    request.setResponseCode(status)
    request.responseHeaders.setRawHeaders(b"content-type", [b"application/json"])
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


_plain = UssdResource._plain


class WebResource(resource.Resource):
    """Every path of ``ussd web``: the page, the adapter (``/ussd/json``, ``/openapi.json``) and
    the walks' endpoints (``/web/...``; see ``docs/web.md``)."""

    isLeaf = True

    def __init__(self, handset: WebHandset, adapter: UssdResource, mapping: WatchedHttpUssd,
                 port: Callable[[], int]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Twisted leaves Resource.__init__ unannotated
        self.handset = handset
        self.adapter = adapter
        mapping.on_answer = self._answered
        #: The port listened on, for the Host check (known once listening).
        self.port = port
        #: Adapter steps one at a time: the clock and the dial language are the server's.
        self.turn = defer.DeferredLock()
        self.pending: Pending | None = None

    def render(self, request: server.Request) -> Any:
        try:
            refused = self._host_refusal(request)
            if refused is not None:
                return _plain(request, 400, refused)
            return self._route(request)
        except Exception as exc:  # a bug here costs one request's answer, never a traceback page
            log.error("web request failed: %s: %s", type(exc).__name__, exc)
            return _plain(request, 500, f"internal error: {type(exc).__name__}")

    def _host_refusal(self, request: server.Request) -> str | None:
        """A page on 127.0.0.1 answers only requests addressed to it (a name another site
        points at 127.0.0.1 could otherwise read the accounts through a visitor's browser)."""
        host = (request.getHeader(b"host") or b"").decode("ascii", "replace").lower()
        port = self.port()
        if host not in {f"{name}{'' if port == 80 else f':{port}'}" for name in (LISTEN_HOST, "localhost")}:
            return f"Host: expected {LISTEN_HOST}:{self.port()} or localhost:{self.port()}"
        return None

    def _route(self, request: server.Request) -> Any:
        method, path = request.method, request.path.rstrip(b"/") or b"/"
        if path in FILES or path == b"/openapi.json":
            if method not in (b"GET", b"HEAD"):
                return self._not_allowed(request, b"GET")
            return self.adapter.render(request) if path == b"/openapi.json" else self._file(request, *FILES[path])
        if path == b"/ussd/json":
            return self._step(request) if method == b"POST" else self._not_allowed(request, b"POST")
        route = next(((matched, allowed, name) for pattern, allowed, name in _ROUTES
                      if (matched := pattern.fullmatch(path)) is not None), None)
        if route is None:
            return _plain(request, 404, "no such endpoint: GET /, /web/setup, /web/subscribers, /web/walks/ID; "
                                        "POST /web/walks, /ussd/json (see docs/web.md)")
        matched, allowed, name = route
        if method not in allowed.split(b", ") and not (method == b"HEAD" and b"GET" in allowed):
            return self._not_allowed(request, allowed)
        if name == "setup":
            return _json(request, 200, self.handset.setup())
        if name == "search":
            return self._search(request)
        if name == "new_walk":
            return self._new_walk(request)
        walk = self._walk(matched.group(1))
        if isinstance(walk, Bad):
            return _plain(request, walk.status, walk.reason)
        if name == "clock":
            asked = read_move(self._body(request))
            refused = asked if isinstance(asked, Bad) else self.handset.move(walk, asked)
            if refused is not None:
                return _plain(request, refused.status, refused.reason)
        if name == "transcript":
            return self._transcript(request, walk)
        return _json(request, 200, walk.view(self.handset.tz))

    # -- the page ------------------------------------------------------------------------------

    @staticmethod
    def _file(request: server.Request, name: str, kind: str) -> bytes:
        request.responseHeaders.setRawHeaders(b"content-type", [kind.encode("ascii")])
        request.responseHeaders.setRawHeaders(b"cache-control", [b"no-cache"])
        return (STATIC / name).read_bytes()

    @staticmethod
    def _not_allowed(request: server.Request, allowed: bytes) -> bytes:
        request.responseHeaders.setRawHeaders(b"allow", [allowed])
        return _plain(request, 405, f"method {request.method.decode('ascii', 'replace')[:10]} not allowed: use "
                                    f"{allowed.decode('ascii')}")

    @staticmethod
    def _body(request: server.Request) -> bytes:
        if getattr(request, "too_large", False) or request.content is None:
            return b"x" * (MAX_WEB_BODY + 1)  # refused by the decoder as too large
        body: bytes = request.content.read(MAX_WEB_BODY + 1)
        return body

    def _walk(self, given: bytes) -> Walk | Bad:
        text = given.decode("ascii", "replace")
        if not _WALK_ID.fullmatch(text):
            return Bad(400, "walk: expected the 16 hexadecimal digits POST /web/walks answered")
        walk = self.handset.walks.get(text)
        return walk if walk is not None else Bad(404, "walk: unknown (or forgotten: start a new walk)")

    def _off_reactor(self, request: server.Request, key: str, work: Callable[[], Any],
                     answer: Callable[[Any], bytes]) -> Any:
        """``work`` (a store read) on the server's workers, then ``answer`` on the reactor; a store
        failure is a 503 in one line."""

        def failed(failure: Any) -> bytes:
            failure.trap(StoreError)
            log.warning("web: the account store failed: %s", failure.getErrorMessage())
            return _plain(request, 503, f"the account store: {failure.getErrorMessage()[:120]}")

        def broken(failure: Any) -> bytes:
            log.error("web request failed: %s: %s", failure.type.__name__, failure.getErrorMessage())
            return _plain(request, 500, f"internal error: {failure.type.__name__}")

        def send(body: bytes) -> None:
            if not request.finished and not getattr(request, "_disconnected", False):
                finish(request, body)

        done = self.handset.server.gateway.runner.run(key, work)
        done.addCallbacks(answer, failed).addErrback(broken).addCallback(send)
        return server.NOT_DONE_YET

    def _search(self, request: server.Request) -> Any:
        asked = read_search(request.args or {})
        if isinstance(asked, Bad):
            return _plain(request, asked.status, asked.reason)
        text, limit = asked
        store = self.handset.server.service.store

        def answer(found: list[Listed]) -> bytes:
            rows = [{"msisdn": row.msisdn, "status": row.status, "offer": row.offer_name, "type": row.offer_type}
                    for row in found[:limit]]
            return _json(request, 200, {"subscribers": rows, "more": len(found) > limit})

        return self._off_reactor(request, "web:search", lambda: store.search(text, limit + 1), answer)

    def _new_walk(self, request: server.Request) -> Any:
        asked = read_walk(self._body(request))
        prepared = asked if isinstance(asked, Bad) else self.handset.prepare(asked)
        if isinstance(prepared, Bad):
            return _plain(request, prepared.status, prepared.reason)
        store = self.handset.server.service.store

        def answer(before: Subscriber | None) -> bytes:
            return _json(request, 201, self.handset.open(prepared, before).view(self.handset.tz))

        return self._off_reactor(request, "web:walks", lambda: store.get(prepared.msisdn), answer)

    def _transcript(self, request: server.Request, walk: Walk) -> bytes:
        made = self.handset.transcript(walk)
        if isinstance(made, Bad):
            return _plain(request, made.status, made.reason)
        name, text = made
        if request.method != b"POST":
            headers = request.responseHeaders
            headers.setRawHeaders(b"content-type", [b"application/yaml; charset=utf-8"])
            headers.setRawHeaders(b"content-disposition", [f'attachment; filename="{name}"'.encode("ascii")])
            return text.encode("utf-8")
        folder = self.handset.record_dir
        if folder is None:
            return _plain(request, 409, "no --record-dir: download the transcript (GET) instead")
        try:
            (folder / name).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _plain(request, 500, f"cannot write {name} in --record-dir: {exc.strerror or exc}")
        return _json(request, 200, {"path": str(folder / name)})

    # -- adapter steps, one at a time -------------------------------------------------------------

    def _step(self, request: server.Request) -> Any:
        """``POST /ussd/json``, as the adapter answers it; a walk's step runs at the walk's
        instant, in its language, and its screen is recorded."""
        body = b""
        if request.content is not None and not getattr(request, "too_large", False):
            body = request.content.read(MAX_BODY + 1)
            request.content.seek(0)
        step = adapter_step(body)
        self.turn.acquire().addCallback(lambda _: self._run(request, step))
        return server.NOT_DONE_YET

    def _run(self, request: server.Request, step: AdapterStep) -> None:
        """(Holding the turn.) Set the walk's instant and language and hand the request to the
        adapter; the turn passes on once, when the step is answered (:meth:`_answered`), or at
        once when no step runs."""
        done: defer.Deferred[None] = defer.Deferred()
        done.addCallback(lambda _: self.handset.server.reactor.callLater(0, self.turn.release))
        try:
            if not getattr(request, "_disconnected", False):
                self._hand_over(request, step, done)
        except Exception as exc:  # a bug must not keep the turn: every later step would wait on it
            log.error("web step failed: %s: %s", type(exc).__name__, exc)
            self.pending = None
            if not request.finished:
                finish(request, _plain(request, 500, f"internal error: {type(exc).__name__}"))
        if self.pending is None or request.finished:  # no step runs (refused, or already answered)
            self.pending = None
            if not done.called:
                done.callback(None)

    def _hand_over(self, request: server.Request, step: AdapterStep, done: defer.Deferred[None]) -> None:
        walk = self.handset.walks.get(step.session) if step.session is not None else None
        if walk is not None:
            refused = walk.refusal(step)
            if refused is not None:
                finish(request, _plain(request, refused.status, refused.reason))
                return
            self.handset.clock.set(walk.at)
        self.handset.server.gateway.lang = walk.lang if walk is not None else None
        key = session_key(step.session) if step.session is not None else None
        self.pending = Pending(key, walk, step.input, walk.at if walk is not None else None, done)
        request.render(self.adapter)  # type: ignore[no-untyped-call]  # Twisted leaves Request.render unannotated

    def _answered(self, key: str, response: Response) -> None:
        """The adapter's answer to the step running, told before it is sent: recorded in the
        step's walk; the turn passes on."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if pending.walk is not None and pending.at is not None and pending.key == key:
            pending.walk.recorder.screen(pending.reply, pending.at, response)
        if not pending.done.called:
            pending.done.callback(None)


def _port_number(listening: IListeningPort) -> int:
    """The TCP port listened on (the one the system chose, for port 0)."""
    address = listening.getHost()
    assert isinstance(address, IPv4Address | IPv6Address)  # a TCP port's
    return address.port


def web_config(config: ServerConfig) -> ServerConfig:
    """The service ``ussd web`` builds: its own clock (so no frozen-clock warning from ``at``)."""
    return replace(config, at=None, http=None, ops=None, qa=None, smpp=())


def serve_web(config: ServerConfig, port: int, record_dir: Path | None = None, out: TextIO | None = None) -> int:
    """Run the page on 127.0.0.1:``port`` (0: any free port; the line printed says which) until
    SIGTERM or SIGINT; 0 after a clean stop. ``config.at``: the instant the page proposes."""
    import sys

    from twisted.internet import error, reactor
    from twisted.internet.base import ReactorBase

    from accounts.demo import demo_store
    from accounts.policy import POLICY_FILE, load_policy
    from gateway.reactor import global_reactor
    from gateway.service import build

    assert isinstance(reactor, ReactorBase)  # as every Twisted reactor: run() takes installSignalHandlers
    out = out or sys.stderr
    policy = load_policy(config.policy or POLICY_FILE)
    store = demo_store(config.db, policy)  # as `ussd dial`: an empty store gets the demo population
    default_at = in_zone(config.at, policy.tz) if config.at is not None else wall_clock()
    clock = HandsetClock(default_at)
    service = build(web_config(config), store=store, clock=clock, policy=policy)
    owner = Server(service, global_reactor())  # the same reactor, as the gateway's parts type it
    handset = WebHandset(owner, clock, policy.tz, default_at, record_dir)

    mapping = WatchedHttpUssd(owner.phone_rule, reactor.seconds, config.idle_timeout)
    adapter = UssdResource(owner, access_from(()), mapping)
    owner.http = mapping
    listening: list[IListeningPort] = []
    root = WebResource(handset, adapter, mapping, lambda: _port_number(listening[0]))
    try:
        # a Site is a ServerFactory of HTTP channels; listenTCP's type names only the generic one
        listening.append(reactor.listenTCP(port, cast(ServerFactory, site(root)), interface=LISTEN_HOST))
    except error.CannotListenError as exc:
        print(f"--port {port}: cannot listen on {LISTEN_HOST}: {exc.socketError}", file=out)
        service.close()
        return 1
    url = f"http://{LISTEN_HOST}:{_port_number(listening[0])}/"
    print(f"ussd web: the handset page on {url} (Ctrl-C stops it)", file=out, flush=True)
    stopping: list[bool] = []

    def on_signal(signum: int, frame: object) -> None:
        if not stopping:
            stopping.append(True)
            reactor.callFromThread(lambda: defer.maybeDeferred(listening[0].stopListening).addBoth(
                lambda _: owner.stop()).addBoth(lambda _: reactor.stop()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    reactor.callWhenRunning(owner.start)
    reactor.run(installSignalHandlers=False)
    return 0
