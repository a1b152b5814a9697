"""``ussd serve``: the process an operator runs. It builds the service, binds to every configured
centre, and on SIGTERM stops taking new dialogues, lets running steps finish up to a deadline,
unbinds and exits 0 (1 if the stop itself failed)."""

from __future__ import annotations

import gc
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from .config import ServerConfig
from .esme import EsmeFactory, Gateway, binds
from .steps import StepRunner
from .service import Service, build
from .ussd_smpp import UssdSmpp

log = logging.getLogger("ussd.serve")

#: How long a stop waits for running steps before it unbinds anyway.
DRAIN_DEADLINE_S = 10.0
#: How often dialogues idle or too long are swept from the session store.
SWEEP_EVERY_S = 5.0


@dataclass
class Server:
    service: Service
    reactor: Any
    gateway: Gateway = field(init=False)
    factories: list[EsmeFactory] = field(default_factory=list)
    _sweeper: task.LoopingCall | None = None

    def __post_init__(self) -> None:
        config = self.service.config
        runner = StepRunner(self.reactor, config.workers)
        mappings = {link.centre: UssdSmpp(config.dialect(link.dialect), link.centre) for link in config.smpp}
        self.gateway = Gateway(self.service.engine, runner, mappings)

    def start(self) -> None:
        self.gateway.runner.start()
        for link in self.service.config.smpp:
            for mode in binds(link):
                factory = EsmeFactory(self.gateway, link, mode, self.reactor)
                self.factories.append(factory)
                self.reactor.connectTCP(link.host, link.port, factory, timeout=10)
                log.info("binding to %s as %s (dialect %s)", link.address, mode, link.dialect)
        if self.service.config.qa is not None:
            from .qa import QaControl, QaFactory

            host, port = self.service.config.qa
            self.reactor.listenTCP(port, QaFactory(QaControl(self)), interface=host)
            log.warning("QA CONTROL OPEN on %s:%d: whoever reaches it replaces the accounts and the clock "
                        "(ussd serve --qa: for QA set-ups only)", host, port)
        self._sweeper = task.LoopingCall(self._sweep)
        self._sweeper.clock = self.reactor
        self._sweeper.start(SWEEP_EVERY_S, now=False).addErrback(
            lambda failure: log.error("the sweeper stopped: %s", failure.getErrorMessage()))

    def replace_service(self, service: Service) -> None:
        """Serve ``service`` from now on (the QA control's ``load``); the old one is closed."""
        old, self.service = self.service, service
        self.gateway.engine = service.engine
        old.close()

    def _sweep(self) -> defer.Deferred[Any]:
        """Dialogues idle or too long leave the session store (a failure is logged, and the next
        sweep tries again: the LoopingCall must not die of it)."""
        sessions = self.service.sessions
        return self.gateway.runner.run("_sweep", sessions.sweep).addErrback(
            lambda failure: log.error("a sweep failed: %s", failure.getErrorMessage()))

    @defer.inlineCallbacks
    def stop(self, deadline: float = DRAIN_DEADLINE_S) -> Any:
        """Stop taking new dialogues, let running steps finish (up to ``deadline`` seconds), unbind."""
        log.info("stopping: no new dialogues; %d step(s) running", self.gateway.runner.pending)
        self.gateway.taking = False
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        finished = yield self.gateway.runner.drained(deadline)
        if not finished:
            log.warning("stopping with %d step(s) still waiting after %g s: those not started are dropped",
                        self.gateway.runner.pending, deadline)
        self.gateway.runner.closing = True
        for factory in self.factories:
            factory.stopTrying()
            for link in factory.protocols:
                link.unbind()
        yield task.deferLater(self.reactor, 0.2, lambda: None)  # the unbinds go out
        for factory in self.factories:
            for link in factory.protocols:
                if link.transport is not None:
                    link.transport.loseConnection()
        yield deferToThread(self.gateway.runner.stop)  # joins the workers: off the reactor thread
        self.service.close()


def settle_heap() -> None:
    """Move what start-up built (modules, menus, the machine, the compiled templates: about half the
    objects a serving process holds) out of the collector's sight: a full collection then walks
    only what dialogues made, and pauses every step in flight for that much less."""
    gc.collect()
    gc.freeze()


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop."""
    from twisted.internet import reactor

    service = build(config)
    settle_heap()
    if not config.smpp:
        log.warning("no SMPP bind configured (--smpp or smpp: in --config): nothing will reach the service")
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

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    reactor.callWhenRunning(server.start)
    reactor.run(installSignalHandlers=False)
    return 1 if failed else 0
