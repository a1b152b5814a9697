"""What a running gateway tells its operator: ``/metrics`` (the Prometheus text format, by the
official client) and ``/healthz``.

Counters are bumped on the reactor thread (and, for store errors, on the worker that met them;
the client's counters take a lock); the SMPP links' state and window are read when scraped, so
they are never stale. Each server has its own registry: two servers in one process (the tests)
never mix their figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .smpp_session import State

if TYPE_CHECKING:
    from .esme import EsmeFactory, Gateway
    from .service import Service

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

#: Step latency buckets, seconds: a step is about a millisecond; a slow store, seconds.
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Serving(Protocol):
    """What the figures and the health check read of a running server (:class:`gateway.server.Server`,
    which builds the metrics and is not imported here)."""

    @property
    def service(self) -> Service: ...

    @property
    def gateway(self) -> Gateway: ...

    @property
    def factories(self) -> list[EsmeFactory]: ...


class _Links:
    """The SMPP links as they are at scrape time."""

    def __init__(self, server: Serving) -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ussd_smpp_link_up", "1 while the bind is bound", labels=["centre", "mode"])
        window = GaugeMetricFamily("ussd_smpp_window_outstanding", "requests of ours awaiting an answer",
                                   labels=["centre", "mode"])
        waiting = GaugeMetricFamily("ussd_smpp_window_waiting", "screens waiting for room in the window",
                                    labels=["centre", "mode"])
        for factory in self.server.factories:
            bound = [p for p in factory.protocols if p.session.state is State.BOUND]
            labels = [factory.config.centre, factory.mode]
            up.add_metric(labels, 1.0 if bound else 0.0)
            window.add_metric(labels, float(sum(len(p.session.outstanding) for p in bound)))
            waiting.add_metric(labels, float(sum(p.session.waiting for p in bound)))
        yield from (up, window, waiting)


class _Menus:
    """The menu version serving new dialogues, and how many older ones running dialogues keep."""

    def __init__(self, server: Serving) -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self.server.service.engine
        serving = GaugeMetricFamily("ussd_menus_serving", "1 for the menu version new dialogues begin on",
                                    labels=["version"])
        serving.add_metric([engine.version], 1.0)
        yield serving
        yield GaugeMetricFamily("ussd_menus_kept", "older menu versions kept for the dialogues begun on them",
                                value=float(len(engine.retired())))


#: An adapter's counts (``gateway.esme.new_stats``) as the counters they are.
_COUNTED = (("begun", "ussd_dialogues_started", "dialogues begun"),
            ("ended", "ussd_dialogues_ended", "dialogues ended by their last screen"),
            ("aborts", "ussd_dialogues_aborted", "dialogues the network or the aggregator abandoned"),
            ("refused", "ussd_units_refused", "units or requests refused (stopping, too many waiting)"),
            ("faults", "ussd_faults", "peers' protocol faults and failed steps"),
            ("lost", "ussd_screens_lost", "screens that could not be delivered"))


class _Counts:
    """The adapters' counts as they are at scrape time (one place counts: the adapter)."""

    def __init__(self, adapters: dict[str, dict[str, int]]) -> None:
        self.adapters = adapters

    def collect(self) -> Iterator[CounterMetricFamily]:
        steps = CounterMetricFamily("ussd_steps", "engine steps run", labels=["adapter"])
        for adapter, stats in self.adapters.items():
            steps.add_metric([adapter], float(stats["begun"] + stats["replies"]))
        yield steps
        for key, name, documentation in _COUNTED:
            family = CounterMetricFamily(name, documentation, labels=["adapter"])
            for adapter, stats in self.adapters.items():
                family.add_metric([adapter], float(stats[key]))
            yield family


class Metrics:
    """One server's figures. ``adapters``: each adapter's counts, by name (smpp, http)."""

    def __init__(self, server: Serving) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.adapters: dict[str, dict[str, int]] = {"smpp": server.gateway.stats}
        self.timed_out = Counter("ussd_dialogues_timed_out", "dialogues forgotten by the idle or duration timer",
                                 registry=r)
        self.step_seconds = Histogram("ussd_step_seconds", "from a unit's arrival to its screen's sending",
                                      ["adapter"], buckets=STEP_BUCKETS, registry=r)
        self.store_errors = Counter("ussd_store_errors", "steps ended because they could not run, by kind",
                                    ["kind"], registry=r)
        self.http = Counter("ussd_http_responses", "HTTP answers, by status", ["status"], registry=r)
        self.reloads = Counter("ussd_menu_reloads", "menu reloads, by outcome (reloaded, unchanged, refused, "
                               "failed)", ["outcome"], registry=r)
        #: Each status's counter, and each adapter's histogram, found once (``labels()`` takes a lock
        #: and builds a key on every call: a request's hot path need not pay that).
        self._statuses: dict[int, Counter] = {}
        self.observe_step = {adapter: self.step_seconds.labels(adapter).observe for adapter in ("smpp", "http")}
        r.register(_Counts(self.adapters))
        r.register(_Links(server))
        r.register(_Menus(server))

    def http_answered(self, status: int) -> None:
        """One more HTTP answer of ``status`` (on the reactor's thread)."""
        counter = self._statuses.get(status)
        if counter is None:
            counter = self._statuses[status] = self.http.labels(str(status))
        counter.inc()

    def step_aborted(self, exc: Exception) -> None:
        """The engine ended a step it could not run (a store outage: its kind; a menu past its
        bounds: ``menu``)."""
        self.store_errors.labels(getattr(exc, "kind", "menu")).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def health(server: Serving, down: list[str]) -> tuple[bool, list[str]]:
    """(healthy, the reasons it is not): the stores answer (``down``: those that do not, and
    why) and every configured bind is bound."""
    reasons = list(down)
    for factory in server.factories:
        if not any(p.session.state is State.BOUND for p in factory.protocols):
            reasons.append(f"smpp {factory.config.address} ({factory.mode}): not bound")
    return not reasons, reasons

