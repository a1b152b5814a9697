"""``ussd serve``: the process an operator runs. It builds the service, binds to every configured
centre, and on SIGTERM stops taking new dialogues, lets running steps finish up to a deadline,
unbinds and exits 0 (1 if the stop itself failed)."""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from ussd.model import PhoneRule
from ussd.redis_sessions import RedisSessionStore

from .config import ServerConfig
from .esme import EsmeFactory, Gateway, binds
from .http import OpsResource, UssdResource, access_from, admin_secret_from, site
from .logs import AccessLog, error_name
from .metrics import Metrics
from .reactor import Reactor, global_reactor, twisted_clock
from .service import Reloaded, ReloadRunning, Service, build, reload_menus
from .session_io import StagedSessions
from .steps import StepRunner
from .tcp import Listener, hang_up, listen
from .ussd_http import HttpUssd
from .ussd_smpp import UssdSmpp

log = logging.getLogger("ussd.serve")

#: How long a stop waits for running steps before it unbinds anyway.
DRAIN_DEADLINE_S = 10.0
#: How often dialogues idle or too long are swept from the session store.
SWEEP_EVERY_S = 5.0
#: How often the access log's lines waiting in its batch are written out.
ACCESS_LOG_EVERY_S = 0.25


@dataclass
class Server:
    service: Service
    reactor: Reactor
    gateway: Gateway = field(init=False)
    factories: list[EsmeFactory] = field(default_factory=list)
    _sweeper: task.LoopingCall | None = None
    http: HttpUssd | None = None  # the HTTP mapping, when --http is given
    metrics: Metrics = field(init=False)
    _http_port: Listener | None = None
    _ops_port: Listener | None = None
    _reloading: bool = False
    #: Every HTTP request's line (ops and public ports), written in batches.
    access: AccessLog = field(default_factory=AccessLog)
    _access_flusher: task.LoopingCall | None = None

    def __post_init__(self) -> None:
        config = self.service.config
        runner = StepRunner(self.reactor, config.workers)
        mappings = {link.centre: UssdSmpp(config.dialect(link.dialect), link.centre) for link in config.smpp}
        self.gateway = Gateway(self.service.engine, runner, mappings)
        sessions = self.service.sessions
        if isinstance(sessions, RedisSessionStore) and config.sessions is not None:
            self.gateway.sessions_io = StagedSessions.connect(self.reactor, sessions, config.sessions)
        self.metrics = Metrics(self)
        self.gateway.observe = self.metrics.observe_step["smpp"]
        self.service.engine.on_aborted = self.metrics.step_aborted

    def start(self) -> None:
        self.gateway.runner.start()
        for link in self.service.config.smpp:
            for mode in binds(link):
                factory = EsmeFactory(self.gateway, link, mode, self.reactor)
                self.factories.append(factory)
                self.reactor.connectTCP(link.host, link.port, factory, timeout=10)
                log.info("binding to %s as %s (dialect %s)", link.address, mode, link.dialect)
        config = self.service.config
        if config.qa is not None:
            self._listen_qa(*config.qa)
        ops = OpsResource(self, admin_secret_from(config.admin_secret))
        if config.ops is not None:
            host, port = config.ops
            self._ops_port = listen(self.reactor, port, site(ops, self.metrics, self.access), host)
            log.info("metrics and health on %s:%d (GET /metrics, /healthz)", host, port)
        if config.http is not None:  # /metrics and /healthz there too, unless they have a port of their own
            self._listen_http(*config.http, ops=None if self._ops_port is not None else ops)
        self._access_flusher = task.LoopingCall(self.access.flush)
        self._access_flusher.clock = twisted_clock(self.reactor)
        self._access_flusher.start(ACCESS_LOG_EVERY_S, now=False)
        self._sweeper = task.LoopingCall(self._sweep)
        self._sweeper.clock = twisted_clock(self.reactor)
        self._sweeper.start(SWEEP_EVERY_S, now=False).addErrback(
            lambda failure: log.error("the sweeper stopped: %s", failure.getErrorMessage()))

    def _listen_qa(self, host: str, port: int) -> None:
        from .qa import QaControl, QaFactory

        self.reactor.listenTCP(port, QaFactory(QaControl(self)), interface=host)
        log.warning("QA CONTROL OPEN on %s:%d: whoever reaches it replaces the accounts and the clock "
                    "(ussd serve --qa: for QA set-ups only)", host, port)

    def phone_rule(self, code: str) -> PhoneRule | None:
        """How the service of ``code`` (``122``) reads numbers, in the menus now served (None: no
        such service): the HTTP adapters read the aggregators' numbers by it."""
        service = self.service.engine.menus.services.get(code)
        return service.phone if service is not None else None

    def _listen_http(self, host: str, port: int, ops: OpsResource | None) -> None:
        config = self.service.config
        access = access_from(config.http_allow, config.http_secret)
        self.http = HttpUssd(self.phone_rule, self.reactor.seconds, config.idle_timeout,
                             shared=config.sessions is not None)
        resource_ = UssdResource(self, access, self.http, ops)
        self.metrics.adapters["http"] = resource_.stats
        self._http_port = listen(self.reactor, port, site(resource_, self.metrics, self.access), host)
        log.info("HTTP on %s:%d (POST /ussd, /ussd/json, /ussd/notify)%s", host, port,
                 "" if access.secret else "; no shared secret: anyone who reaches it may ask")

    def replace_service(self, service: Service) -> None:
        """Serve ``service`` from now on (the QA control's ``load``); the old one is closed."""
        old, self.service = self.service, service
        self.gateway.engine = service.engine
        service.engine.on_aborted = self.metrics.step_aborted
        old.close()

    def reload(self, why: str) -> defer.Deferred[Reloaded]:
        """Read the menus again (SIGHUP, ``POST /admin/reload``): new dialogues begin on them if
        they pass the checks, running ones finish on theirs; refused menus are logged with every
        problem, and the old ones keep serving. One at a time (:class:`ReloadRunning`)."""
        if self._reloading:
            return defer.fail(ReloadRunning("a reload is already running"))
        self._reloading = True
        log.info("reloading the menus (%s)", why)
        service = self.service

        def done(result: Reloaded | Failure) -> Reloaded | Failure:
            self._reloading = False
            if isinstance(result, Failure):
                self.metrics.reloads.labels("failed").inc()
                log.error("reloading the menus failed (%s): %s: %s; menus %s keep serving", why,
                          error_name(result), result.getErrorMessage(), service.engine.version)
                return result
            if result.problems:
                self.metrics.reloads.labels("refused").inc()
                log.error("menus NOT reloaded (%s): %d problem(s); menus %s keep serving", why,
                          len(result.problems), result.version)
                for problem in result.problems:
                    log.error("  %s", problem)
            elif result.changed:
                self.metrics.reloads.labels("reloaded").inc()
                log.info("menus %s now serve new dialogues (%s); %d older version(s) kept for running ones",
                         result.version, why, result.kept)
            else:
                self.metrics.reloads.labels("unchanged").inc()
                log.info("menus unchanged (%s): %s keeps serving", why, result.version)
            return result

        return deferToThread(reload_menus, service).addBoth(done)

    def _sweep(self) -> defer.Deferred[Any]:
        """Dialogues idle or too long leave the session store (a failure is logged, and the next
        sweep tries again: the LoopingCall must not die of it)."""
        sessions = self.service.sessions
        if self.http is not None:
            self.http.sweep()
        return self.gateway.runner.run("_sweep", sessions.sweep).addCallback(self.metrics.timed_out.inc).addErrback(
            lambda failure: log.error("a sweep failed: %s", failure.getErrorMessage()))

    @defer.inlineCallbacks
    def stop(self, deadline: float = DRAIN_DEADLINE_S) -> Generator[defer.Deferred[Any], object, None]:
        """Stop taking new dialogues, let running steps finish (up to ``deadline`` seconds), unbind."""
        log.info("stopping: no new dialogues; %d step(s) running", self.gateway.runner.pending)
        self.gateway.taking = False
        if self._http_port is not None:
            self._http_port.stopListening()
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        finished = yield self.gateway.runner.drained(deadline)
        if not finished:
            log.warning("stopping with %d step(s) still waiting after %g s: those not started are dropped",
                        self.gateway.runner.pending, deadline)
        self.gateway.runner.closing = True
        for factory in self.factories:
            factory.stopTrying()  # type: ignore[no-untyped-call]  # Twisted's is unannotated
            for link in factory.protocols:
                link.unbind()
        yield task.deferLater(twisted_clock(self.reactor), 0.2, lambda: None)  # the unbinds go out
        for factory in self.factories:
            for link in factory.protocols:
                hang_up(link)
        yield deferToThread(self.gateway.runner.stop)  # joins the workers: off the reactor thread
        if self.gateway.sessions_io is not None:
            self.gateway.sessions_io.close()
        self.service.close()
        if self._ops_port is not None:
            self._ops_port.stopListening()
        if self._access_flusher is not None and self._access_flusher.running:
            self._access_flusher.stop()
        self.access.flush()


def settle_heap() -> None:
    """Move what start-up built (modules, menus, the machine, the compiled templates: about half the
    objects a serving process holds) out of the collector's sight: a full collection then walks
    only what dialogues made, and pauses every step in flight for that much less."""
    gc.collect()
    gc.freeze()


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop."""
    reactor = global_reactor()
    service = build(config)
    settle_heap()
    if not config.smpp and config.http is None:
        log.warning("no SMPP bind and no HTTP (--smpp, --http or --config): nothing will reach the service")
    server = Server(service, reactor)
    stopping: list[bool] = []
    failed: list[str] = []

    def stopped(result: object) -> None:
        if isinstance(result, Failure):
            failed.append(result.getErrorMessage())
            log.error("the stop failed: %s", result.getErrorMessage())
        reactor.stop()

    def on_signal(signum: int, frame: object) -> None:
        if stopping:
            return
        stopping.append(True)
        log.info("signal %d: stopping", signum)
        reactor.callFromThread(lambda: server.stop().addBoth(stopped))

    def on_hangup(signum: int, frame: object) -> None:
        reactor.callFromThread(lambda: server.reload("SIGHUP").addErrback(
            lambda failure: log.warning("SIGHUP: %s", failure.getErrorMessage())))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    reactor.callWhenRunning(server.start)
    reactor.run(installSignalHandlers=False)
    return 1 if failed else 0
