"""The gateway's SMPP side on Twisted: binds to the USSD centre and runs the engine off the reactor.

A thin shell around the sans-IO parts: :class:`~gateway.smpp_session.SmppSession` speaks SMPP,
:class:`~gateway.ussd_smpp.UssdSmpp` maps USSD units to engine events, and the engine steps run on
a bounded set of worker threads, those of one dialogue in order (:class:`~gateway.steps.StepRunner`),
so the reactor never waits on a store: keep-alives and other dialogues' screens keep flowing while
one step is slow.
Every deliver_sm is answered at once; its screen follows as a submit_sm when the step is done.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, protocol, task
from twisted.python.failure import Failure

from ussd.engine import Engine, Response

from . import pdu
from .config import SmppLink
from .logs import error_name
from .reactor import Clock, Timer, twisted_clock
from .session_io import SessionStepIO, StagedSessions
from .smpp_session import Answer, BindRefused, Bound, Faulty, Request, SmppSession, State, Unbound
from .steps import StepRunner, StepSkipped
from .tcp import hang_up, no_delay, transport_of
from .ussd_smpp import Abort, Begin, Refused, Reply, Unit, UssdSmpp

if TYPE_CHECKING:
    from twisted.internet.interfaces import IConnector

log = logging.getLogger("ussd.smpp")

#: Statuses a centre answers a submit_sm with when it wants it again, later.
RETRY_STATUSES = frozenset({pdu.RTHROTTLED, pdu.RMSGQFUL})
#: A throttled submit_sm is tried again after this many seconds, doubling, at most this often.
RETRY_DELAY, RETRY_LIMIT = 0.2, 6


def new_stats() -> dict[str, int]:
    """An adapter's counts (what ``/metrics`` shows as ``ussd_*_total{adapter=...}``)."""
    return {"begun": 0, "replies": 0, "ended": 0, "aborts": 0, "refused": 0, "faults": 0, "lost": 0}


@dataclass
class Gateway:
    """The ESME application: every bind's deliver_sm to the engine, the engine's screens back."""

    engine: Engine
    runner: StepRunner
    mappings: dict[str, UssdSmpp] = field(default_factory=dict)
    #: Bound links by peer, those that may carry submit_sm (transceivers and transmitters).
    senders: dict[str, list[EsmeProtocol]] = field(default_factory=dict)
    taking: bool = True  # False once shutting down: new dialogues are refused
    #: The language every dialogue begins in; None: the subscriber's (set by the QA control).
    lang: str | None = None
    #: Told of every screen sent, with the subscriber's number (the QA control's ``shown``).
    on_screen: Callable[[str, Response], None] | None = None
    stats: dict[str, int] = field(default_factory=new_stats)
    #: Told of each step's time from its unit's arrival to its screen's sending (the metrics).
    observe: Callable[[float], None] | None = None
    #: Shared sessions whose I/O the reactor does around each step (Redis); None: the store's own.
    sessions_io: StagedSessions | None = None

    def deliver(self, link: EsmeProtocol, request: pdu.Pdu) -> None:
        mapping = self.mappings[link.config.centre]
        event = mapping.receive(request)
        refusal = self.refusal(isinstance(event, Begin)) if isinstance(event, (Begin, Reply)) else None
        if refusal is not None:
            event = Refused(pdu.RX_T_APPN, refusal)
        if isinstance(event, Refused):
            self.stats["refused"] += 1
            link.session.respond(request, event.status)
            link.flush()
            log.warning("deliver_sm refused: %s", event.reason, extra={"fields": {"status": event.status}})
            return
        link.session.respond(request)
        link.flush()
        unit = event.unit
        if isinstance(event, Abort):
            self.stats["aborts"] += 1
            self.abort(unit.session)
            return
        arrived = time.monotonic()
        if isinstance(event, Begin):
            done = self.run_step(unit.session, self.stats, (unit.msisdn, event.code))
        else:
            done = self.run_step(unit.session, self.stats, text=event.text)
        done.addCallback(lambda response: self.show(link, mapping, response, unit, arrived)).addErrback(self._failed)

    def refusal(self, begins: bool) -> str | None:
        """Why a unit is not taken now, on any adapter: the stop (for a new dialogue), or too many
        steps waiting; None when it is taken."""
        if begins and not self.taking:
            return "stopping: not taking new dialogues"
        if self.runner.full:
            return f"{self.runner.pending} steps waiting: too many"
        return None

    def run_step(self, session: str, stats: dict[str, int], begin: tuple[str, str] | None = None,
                 text: str = "", work: Callable[[Engine, str | None], Any] | None = None,
                 dials: bool = False, work_dial: tuple[str, str] | None = None) -> defer.Deferred[Any]:
        """A dialogue's dial (``begin``: its number and the code), reply, or an adapter's own
        ``work(engine, lang)`` (a dial if ``dials``: ``work_dial``, the number and the code), on
        the workers after its earlier steps, counted in ``stats`` (the adapter's). Fires with the
        screen; if the step could not run (a bug, or the stop), with the service's "unavailable",
        the dialogue ended: the subscriber is never left waiting for the network's timer."""
        engine, lang = self.engine, self.lang
        step: Callable[[], Any]
        dial = begin or (work_dial if dials else None)
        io = self._io(session, dial, reads_record=begin is None)
        if begin is not None:
            stats["begun"] += 1
            msisdn, code = begin
            step = partial(engine.begin, msisdn, code, session_id=session, lang=lang)
        elif work is not None:
            stats["begun" if dials else "replies"] += 1
            step = partial(work, engine, lang)
        else:
            stats["replies"] += 1
            step = partial(engine.reply, session, text)
        return self.runner.run(session, step, io).addErrback(self._unavailable, session, stats)

    def abort(self, session: str) -> None:
        """Forget a dialogue the subscriber or the network abandoned, after its earlier steps."""
        engine = self.engine
        self.runner.run(session, lambda: engine.abort(session), self._io(session, reads_record=False)
                        ).addErrback(self._failed)

    def _io(self, session: str, dial: tuple[str, str] | None = None,
            reads_record: bool = True) -> SessionStepIO | None:
        """The reactor's I/O around a step of ``session``, when the engine's sessions are shared."""
        shared = self.sessions_io
        if shared is None or self.engine.sessions is not shared.store:
            return None
        return shared.step(self.engine, session, dial, reads_record)

    def show(self, link: EsmeProtocol, mapping: UssdSmpp, response: Response, unit: Unit,
             arrived: float | None = None) -> None:
        if not response.text and response.end:  # an abort's answer: nothing to show
            return
        if response.end:
            self.stats["ended"] += 1
        sender = self.sender(link)
        if sender is None:
            self.stats["lost"] += 1
            log.warning("screen for %s lost: no bound link to %s", unit.msisdn, link.config.centre)
            return
        sender.submit(mapping.submit(response, unit))
        if arrived is not None and self.observe is not None:
            self.observe(time.monotonic() - arrived)
        if self.on_screen is not None:
            self.on_screen(unit.msisdn, response)

    def sender(self, link: EsmeProtocol) -> EsmeProtocol | None:
        """The link a screen goes back on: the one it came on if it sends, else a bound sender of
        the same centre (a receiver's transmitter)."""
        if link.sends and link.session.state is State.BOUND:
            return link
        bound = [s for s in self.senders.get(link.config.centre, []) if s.session.state is State.BOUND]
        return random.choice(bound) if bound else None

    def _unavailable(self, failure: Failure, session: str, stats: dict[str, int]) -> Response:
        self._failed(failure, stats)
        self.abort(session)
        return self.engine.unavailable(session)

    def _failed(self, failure: Failure, stats: dict[str, int] | None = None) -> None:
        stats = self.stats if stats is None else stats
        if isinstance(failure.value, StepSkipped):
            stats["lost"] += 1
            return
        stats["faults"] += 1
        log.error("an engine step failed: %s: %s", error_name(failure), failure.getErrorMessage())


class EsmeProtocol(protocol.Protocol):
    """One bound connection to a centre."""

    def __init__(self, gateway: Gateway, config: SmppLink, mode: str, clock: Clock) -> None:
        self.gateway = gateway
        self.config = config
        self.mode = mode  # transceiver | transmitter | receiver
        self.clock = clock
        self.session = SmppSession("esme", window=config.window)
        self._keepalive: task.LoopingCall | None = None
        self._timers: list[Timer] = []
        self._last_enquiry = float("-inf")

    @property
    def sends(self) -> bool:
        return self.mode != "receiver"

    # -- the connection --------------------------------------------------------------------

    def connectionMade(self) -> None:
        no_delay(self.transport)
        self.session.bind(self.mode, self.config.system_id, self.config.password, self.config.system_type,
                          self.clock.seconds())
        self.flush()
        self._timers.append(self.clock.callLater(self.config.response_timeout, self._bind_overdue))

    def _bind_overdue(self) -> None:
        if self.session.state is not State.BOUND and self.transport is not None:
            log.warning("%s did not answer the bind within %g s: dropping the link", self.config.address,
                        self.config.response_timeout)
            hang_up(self, abort=True)

    def dataReceived(self, data: bytes) -> None:
        for event in self.session.receive(data, self.clock.seconds()):
            self.handle(event)
        self.flush()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self._keepalive is not None and self._keepalive.running:
            self._keepalive.stop()
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        senders = self.gateway.senders.get(self.config.centre, [])
        if self in senders:
            senders.remove(self)
        # screens still waiting for the window, or sent and never answered, went with the link
        unanswered = sum(1 for o in self.session.outstanding.values() if o.name == "submit_sm")
        self.gateway.stats["lost"] += self.session.waiting + unanswered
        log.warning("link to %s lost: %s", self.config.address, reason.getErrorMessage())

    def flush(self) -> None:
        out = self.session.data_to_send()
        transport = transport_of(self)
        if out and transport is not None:
            transport.write(out)

    # -- events ----------------------------------------------------------------------------

    def handle(self, event: object) -> None:
        if isinstance(event, Request):
            if event.pdu.command in ("deliver_sm", "data_sm"):
                self.gateway.deliver(self, event.pdu)
        elif isinstance(event, Answer):
            self.answered(event)
        elif isinstance(event, Bound):
            log.info("bound to %s as %s", self.config.address, self.mode)
            if self.sends:
                self.gateway.senders.setdefault(self.config.centre, []).append(self)
            factory = getattr(self, "factory", None)
            if factory is not None and hasattr(factory, "resetDelay"):
                # only a link that stays up earns a quick reconnection: a centre that binds and
                # drops at once is retried ever more slowly
                self._timers.append(self.clock.callLater(self.config.enquire_interval, factory.resetDelay))
            self._keepalive = task.LoopingCall(self.keep_alive)
            self._keepalive.clock = twisted_clock(self.clock)
            self._keepalive.start(min(self.config.enquire_interval, self.config.response_timeout),
                                  now=False).addErrback(lambda failure: log.error(
                                      "keep-alive of %s failed: %s", self.config.address, failure.getErrorMessage()))
        elif isinstance(event, BindRefused):
            log.error("bind to %s refused (status 0x%02x)", self.config.address, event.status)
            hang_up(self)
        elif isinstance(event, Unbound):
            hang_up(self)
        elif isinstance(event, Faulty):
            self.gateway.stats["faults"] += 1
            log.warning("from %s: %s", self.config.address, event.error)
            if event.fatal:
                self.flush()
                hang_up(self)

    def submit(self, fields: dict[str, Any], attempt: int = 0) -> None:
        if self.session.state is not State.BOUND:
            self.gateway.stats["lost"] += 1
            return
        self.session.request("submit_sm", tag=(fields, attempt), now=self.clock.seconds(), **fields)
        self.flush()

    def answered(self, answer: Answer) -> None:
        if answer.request != "submit_sm" or answer.status == pdu.ROK:
            return
        fields, attempt = answer.tag
        if answer.status in RETRY_STATUSES and attempt < RETRY_LIMIT:
            self.clock.callLater(RETRY_DELAY * 2**attempt, self.submit, fields, attempt + 1)
            return
        self.gateway.stats["lost"] += 1
        log.warning("submit_sm refused by %s (status 0x%02x)", self.config.address, answer.status)

    def keep_alive(self) -> None:
        """Runs every min(enquire_interval, response_timeout): if an answer is overdue, the link is
        dead (drop it, to reconnect); enquire_link once the link has been quiet an interval."""
        now = self.clock.seconds()
        oldest = self.session.oldest()
        if oldest is not None and now - oldest > self.config.response_timeout:
            log.warning("%s stopped answering: dropping the link", self.config.address)
            hang_up(self, abort=True)
            return
        if self.session.state is State.BOUND and now - self._last_enquiry >= self.config.enquire_interval - 1e-6:
            self._last_enquiry = now
            self.session.request("enquire_link", now=now)
            self.flush()

    def unbind(self) -> None:
        if self.session.unbind(self.clock.seconds()) is not None:
            self.flush()


class EsmeFactory(protocol.ReconnectingClientFactory):
    """Connects (again and again, backing off with jitter) one bind of a link."""

    initialDelay = 0.5
    factor = 2.0
    jitter = 0.2

    def __init__(self, gateway: Gateway, config: SmppLink, mode: str, clock: Clock) -> None:
        self.gateway = gateway
        self.config = config
        self.mode = mode
        self.link_clock = clock
        # The base class's reconnection timer runs on it too. Twisted types these two attributes
        # by their defaults (the whole reactor, an int): it calls only callLater on the one, and
        # any number of seconds does for the other.
        self.clock = clock  # type: ignore[assignment]
        self.maxDelay = config.reconnect_max  # type: ignore[assignment]
        self.protocols: list[EsmeProtocol] = []

    def buildProtocol(self, addr: object) -> EsmeProtocol:
        link = EsmeProtocol(self.gateway, self.config, self.mode, self.link_clock)
        link.factory = self
        self.protocols = [p for p in self.protocols if p.connected] + [link]
        return link

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        log.warning("cannot reach %s: %s", self.config.address, reason.getErrorMessage())
        super().clientConnectionFailed(connector, reason)  # type: ignore[no-untyped-call]  # Twisted's is unannotated


def binds(link: SmppLink) -> tuple[str, ...]:
    """The connections one link makes: a transceiver, or a transmitter and a receiver."""
    return ("transceiver",) if link.bind == "transceiver" else ("transmitter", "receiver")
