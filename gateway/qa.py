"""QA control of a running ``ussd serve`` (``--qa HOST:PORT``): what lets a QA transcript run
through the whole SMPP path (``ussd transcript --via ... --qa ...``) with the same results as on a
local engine. Off unless asked for, on a loopback address only, and announced loudly in the log:
whoever reaches it replaces the accounts and the clock of the service.

One JSON object a line, one answer line each::

    {"load": {"subscribers": [...], "at": "2026-11-25T10:00:00+00:00", "menus": [...],
              "idle_timeout": 60, "max_duration": 180, "lang": "en"}}   -> {"ok": true}
    {"at": "2026-11-25T10:01:30+00:00"}                                 -> {"ok": true}
    {"shown": "2250701020304"}   -> {"text": ..., "screen": ..., "page": 1, "pages": 1, "end": false}
    anything wrong               -> {"error": "..."}

``load`` builds a new service the one way services are built (:func:`gateway.service.build`):
the subscribers (import records, ``docs/accounts.md``) in a fresh in-memory store, the menus, the
session limits, and a clock frozen at ``at`` that the engine and its session store both read, so a
gap longer than the idle timeout ends a dialogue as it does on a local engine; ``lang``, when
given, is the language every dialogue begins in. ``shown`` is the last screen the gateway sent to
a subscriber, with what the network does not carry (the screen's id, the page). A load while
dialogues are running ends them: their next steps find the old service closed and say the service
is momentarily unavailable (QA runs one dialogue at a time).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from twisted.internet import protocol
from twisted.internet.threads import deferToThread
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from accounts.importer import ImportFailed, parse_records
from accounts.store import StoreError, open_store
from ussd.clock import HandsetClock
from ussd.engine import Response
from ussd.inputs import normalise_phone
from ussd.loader import MenuError

from .config import parse_host_port
from .logs import error_name
from .service import Service, build
from .tcp import hang_up, transport_of

if TYPE_CHECKING:
    from .esme import Gateway

log = logging.getLogger("ussd.qa")


class Controlled(Protocol):
    """What the control changes of the running server (:class:`gateway.server.Server`, which opens
    the control and is not imported here): its service, and its gateway's screen hook and language."""

    @property
    def service(self) -> Service: ...

    @property
    def gateway(self) -> Gateway: ...

    def replace_service(self, service: Service) -> None: ...

#: The longest line read (a fixture of a few hundred subscribers).
MAX_LINE: Final = 4 << 20
_LOAD_KEYS: Final = frozenset({"subscribers", "at", "menus", "idle_timeout", "max_duration", "lang"})


class QaError(Exception):
    """A command the control cannot carry out (its answer's ``error``)."""


def parse_qa_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (on 127.0.0.1) -> (host, port); ValueError unless the host is a
    loopback address: the control replaces accounts and the clock, so it never faces a network."""
    host, port = parse_host_port(text)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{host[:80]!r}: the QA control listens on a loopback address only (127.0.0.1, ::1)")
    return host, port


def _instant(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise QaError(f"{what}: expected an ISO 8601 instant with its offset, found {str(value)[:60]!r}")
    return moment


def _seconds(spec: dict[str, Any], name: str, default: float) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise QaError(f"load: {name}: expected a number of seconds above 0, found {str(value)[:40]!r}")
    return float(value)


@dataclass
class QaControl:
    """The commands, on a running server (sans-IO but for ``load``'s build, which the protocol
    runs off the reactor: :meth:`prepare` there, :meth:`install` back on the reactor)."""

    server: Controlled
    clock: HandsetClock | None = None
    #: The last screen sent to each subscriber since the last load.
    shown: dict[str, Response] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server.gateway.on_screen = self._on_screen

    def _on_screen(self, msisdn: str, response: Response) -> None:
        self.shown[msisdn] = response

    def prepare(self, spec: Any) -> tuple[Service, HandsetClock, str | None]:
        """The service a ``load`` asks for (its store filled, its clock frozen); raises QaError."""
        if not isinstance(spec, dict):
            raise QaError("load: expected an object")
        unknown = sorted(set(spec) - _LOAD_KEYS)
        if unknown:
            raise QaError(f"load: unknown key {unknown[0]!r} (expected {', '.join(sorted(_LOAD_KEYS))})")
        config = self.server.service.config
        menus = spec.get("menus") or []
        if not isinstance(menus, list) or not all(isinstance(m, str) for m in menus):
            raise QaError("load: menus: expected a list of paths")
        lang = spec.get("lang")
        if lang is not None and not isinstance(lang, str):
            raise QaError("load: lang: expected a language code")
        clock = HandsetClock(_instant(spec.get("at"), "load: at"))
        config = replace(config, menus=tuple(menus), at=None, demo=False,
                         idle_timeout=_seconds(spec, "idle_timeout", config.idle_timeout),
                         max_duration=_seconds(spec, "max_duration", config.max_duration))
        policy = self.server.service.policy
        try:
            subscribers = parse_records(spec.get("subscribers", []), "load: subscribers", policy.tz)
            store = open_store("memory:")
            store.put_many(subscribers)
            return build(config, store=store, clock=clock, policy=policy), clock, lang
        except ImportFailed as exc:
            raise QaError(str(exc)) from None
        except (MenuError, StoreError) as exc:
            raise QaError(f"load: {exc}") from None

    def install(self, prepared: tuple[Service, HandsetClock, str | None]) -> None:
        service, self.clock, lang = prepared
        self.server.replace_service(service)
        self.server.gateway.lang = lang
        self.shown.clear()
        log.warning("QA: a new service loaded (%d subscriber(s), clock at %s)", service.store.count(),
                    self.clock().isoformat())

    def command(self, line: bytes) -> dict[str, Any]:
        """One command but ``load`` -> its answer."""
        try:
            message = json.loads(line)
        except ValueError:
            raise QaError("not a JSON object") from None
        if not isinstance(message, dict) or len(message) != 1:
            raise QaError("expected one command: load, at or shown")
        (name, value), = message.items()
        if name == "at":
            if self.clock is None:
                raise QaError("at: load a service first (its clock is the one moved)")
            self.clock.set(_instant(value, "at"))
            return {"ok": True}
        if name == "shown":
            return self._shown(value)
        raise QaError(f"unknown command {str(name)[:40]!r}: expected load, at or shown")

    def _shown(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, str):
            raise QaError("shown: expected a subscriber's number")
        response = self.shown.get(value)
        if response is None:  # the number as written: read it as the services do
            for service in self.server.service.engine.menus.services.values():
                msisdn = normalise_phone(value, service.phone)
                if msisdn in self.shown:
                    response = self.shown[msisdn]
                    break
        if response is None:
            raise QaError(f"shown: nothing was sent to {value[:20]!r} since the last load")
        return {"text": response.text, "screen": response.screen, "page": response.page,
                "pages": response.pages, "end": response.end, "coding": response.coding}


class QaProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def __init__(self, control: QaControl) -> None:
        self.control = control
        self.busy = False

    def lineReceived(self, line: bytes) -> None:
        if not line.strip():
            return
        if self.busy:
            self._answer({"error": "one command at a time: wait for the answer"})
            return
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and set(message) == {"load"}:
            self.busy = True
            deferToThread(self.control.prepare, message["load"]).addCallbacks(
                self._loaded, self._failed).addBoth(self._idle)
            return
        try:
            self._answer(self.control.command(line))
        except QaError as exc:
            self._answer({"error": str(exc)})

    def _loaded(self, prepared: tuple[Service, HandsetClock, str | None]) -> None:
        self.control.install(prepared)
        self._answer({"ok": True})

    def _failed(self, failure: Failure) -> None:
        if isinstance(failure.value, QaError):
            self._answer({"error": failure.getErrorMessage()})
        else:
            log.error("QA load failed: %s: %s", error_name(failure), failure.getErrorMessage())
            self._answer({"error": f"internal error: {error_name(failure)}"})

    def _idle(self, _: object) -> None:
        self.busy = False

    def lineLengthExceeded(self, line: bytes) -> None:
        self._answer({"error": f"line longer than {MAX_LINE} octets"})
        hang_up(self)

    def _answer(self, answer: dict[str, Any]) -> None:
        transport = transport_of(self)
        if transport is not None:
            transport.write(json.dumps(answer).encode("utf-8") + b"\n")


class QaFactory(protocol.Factory):
    def __init__(self, control: QaControl) -> None:
        self.control = control

    def buildProtocol(self, addr: object) -> QaProtocol:
        return QaProtocol(self.control)
