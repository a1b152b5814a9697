"""The dialogue engine: events in (begin, reply, timeout, abort), screens out. Sans-IO.

One ``transitions`` machine per service, built once with ``model=None``: it never holds dialogues.
A step restores the dialogue's small record from the session store, fires the event on the shared
machine *for that record* (``machine.events[name].trigger(record, ...)``), renders, and stores the
record back. Nothing is registered per dialogue, so a hundred thousand live dialogues cost a hundred
thousand small records and no machine bookkeeping (see ``../shared/notes/transitions.md``: a machine
or a registered model per dialogue costs tens of kilobytes and quadratic registration).

Menu links (options, input submission, yes/no, routes, action outcomes) are machine transitions; the
subscriber's own moves that do not follow a link (back, home, paging) are history, not transitions.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

from transitions import Machine, State

from . import gsm
from . import messages as default_messages
from .errors import StepAborted, Unavailable
from .expr import EvalError, Expr, RenderEnv
from .inputs import Invalid, possible_rules, rule_details, validate
from .loader import split_short_code
from .model import (
    ActionScreen,
    ConfirmScreen,
    EndScreen,
    InfoScreen,
    InputScreen,
    MenuScreen,
    MenuSet,
    Option,
    RouteScreen,
    Screen,
    Service,
    TextLine,
)
from .registry import ERROR_OUTCOME, ActionCall, Outcome, ProviderCall, Registry
from .render import (
    StepBudget,
    content_lines,
    holds,
    is_static,
    longest,
    option_scope,
    paginate_lines,
    prepared,
    render_env,
    render_text,
    shows_nav,
    visible_options,
    with_error,
)
from .sessions import HISTORY_LIMIT, Dialogue, SessionConflict, SessionStore
from .timezone import DEFAULT_TZ

log = logging.getLogger("ussd.engine")

#: Routes and actions followed in one step before the engine gives up (the checker forbids loops).
MAX_HOPS = 16
#: The screen shown when something the menu did not plan for happens (action without a route...).
ERROR_SCREEN = "_error"
#: The offer to resume a dialogue that dropped ("1. Reprendre 2. Recommencer").
RESUME_SCREEN = "_resume"
#: The choices of the resume offer.
RESUME, RESTART = "1", "2"
#: Menu versions kept after a reload for the dialogues begun on them (each is dropped anyway once
#: no dialogue begun on it can still be live: the session store's ``max_duration`` after it left).
RETIRED_VERSIONS = 8
#: Static screens' pages kept per service (screens x languages x error lines: small, but bounded).
PAGE_CACHE_LIMIT = 4096


def choice_key(text: str) -> str:
    """A menu or yes/no reply as the key it means: "01" is option 1 (handsets and habits add
    leading zeros); "0" and "00" stay themselves, they are navigation."""
    if len(text) > 1 and text[0] == "0" and text.isdigit() and text.isascii():
        stripped = text.lstrip("0")
        if stripped:
            return stripped
    return text


class Response(NamedTuple):
    """What to send to the handset, and whether the dialogue goes on (a named tuple: one is made
    at every step)."""

    session: str
    text: str
    end: bool
    screen: str | None = None
    page: int = 1
    pages: int = 1
    coding: str = "gsm7"
    units: int = 0

    @classmethod
    def final(cls, session: str, text: str, screen: str | None = None) -> Response:
        measured = gsm.measure(text)
        return cls(session, text, True, screen, 1, 1, measured.coding, measured.units)


_MISSING = object()


class Scope(Mapping[str, Any]):
    """The names a step's templates see; providers are called at most once, and only if used."""

    __slots__ = ("_values", "_providers", "_call", "budget")

    def __init__(self, values: dict[str, Any], providers: Mapping[str, Callable[[ProviderCall], Any]],
                 call: ProviderCall) -> None:
        self._values = values
        self._providers = providers
        self._call = call
        #: What the step may still render and evaluate.
        self.budget = StepBudget()

    def __getitem__(self, name: str) -> Any:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """Every variable a template reads comes through here: kept to one call."""
        values = self._values
        value = values.get(name, _MISSING)
        if value is not _MISSING:
            return value
        provider = self._providers.get(name)
        if provider is None:
            return default
        try:
            value = provider(self._call)
        except Unavailable:  # its data cannot be reached: showing less would say something false
            raise
        except Exception:  # a provider's bug must not end the dialogue: the screen shows less
            log.exception("provider %r failed for %s", name, self._call.msisdn)
            value = None
        values[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._providers

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from (p for p in self._providers if p not in self._values)

    def __len__(self) -> int:
        return len(set(self._values) | set(self._providers))

    def set(self, name: str, value: Any) -> None:
        self._values[name] = value

    def forget_providers(self) -> None:
        """Drop what providers answered so far in this step, so that they are asked again, with a
        call of their own: a provider that keeps what it read for one call reads anew."""
        values = self._values
        for name in self._providers:
            values.pop(name, None)
        call = self._call
        self._call = ProviderCall(call.msisdn, call.at)


class ScreenState(State):
    """A screen as a machine state. Screens have no enter or exit callbacks (a step renders after
    the machine has moved), so entering and leaving one skips the library's callback loop and its
    log lines: the library's own extension point (``Machine.state_cls``), on every transition."""

    def enter(self, event_data: Any) -> None:
        if self.on_enter:
            super().enter(event_data)

    def exit(self, event_data: Any) -> None:
        if self.on_exit:
            super().exit(event_data)


class ScreenMachine(Machine):
    state_cls = ScreenState


def _holding(when: Expr) -> Callable[[Mapping[str, Any], RenderEnv], bool]:
    """A route's condition as the machine checks it, given the step's scope and environment."""
    return lambda scope, env: holds(when, scope, env)


class ServiceMachine:
    """A service's compiled screens and its one shared state machine."""

    def __init__(self, service: Service) -> None:
        self.service = service
        error_screen = EndScreen(ERROR_SCREEN, service.where, (TextLine(service.message("error")),))
        resume_screen = InfoScreen(RESUME_SCREEN, service.where, (TextLine(service.message("resume")),))
        self.screens: dict[str, Screen] = {**service.screens, ERROR_SCREEN: error_screen, RESUME_SCREEN: resume_screen}
        self.machine = ScreenMachine(
            model=None,
            states=list(self.screens),
            initial=service.entry,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            send_event=False,
        )
        add = self.machine.add_transition
        for sid, screen in service.screens.items():
            if isinstance(screen, MenuScreen):
                for option in screen.options:
                    add(f"option{option.index}", sid, option.target)
            elif isinstance(screen, InputScreen):
                add("submit", sid, screen.target)
            elif isinstance(screen, ConfirmScreen):
                add("yes", sid, screen.yes)
                add("no", sid, screen.no)
            elif isinstance(screen, RouteScreen):
                for route in screen.routes:
                    add("route", sid, route.target, conditions=None if route.when is None else _holding(route.when))
            elif isinstance(screen, ActionScreen):
                for outcome, target in screen.outcomes.items():
                    add(f"outcome:{outcome}", sid, target)
        self.events = self.machine.events
        self.static = frozenset(sid for sid, screen in self.screens.items() if is_static(service, screen))
        #: Pages of static screens by (screen, language, options shown): computed once (an error
        #: line goes above a page, in the room each keeps for it). Shared by worker threads without
        #: a lock: an entry is only ever added, and two threads adding one at once add equal pages
        #: (as for ``Service.memo``).
        self.page_cache: dict[tuple[str, str, tuple[int, ...]], list[str]] = {}
        #: Key -> option of menus whose options are always all shown.
        self.fixed_keys: dict[str, dict[str, Option]] = {}
        #: The rendering environment of each language (the service's phone rule, the zone).
        self.envs: dict[str, RenderEnv] = {}
        for sid, screen in service.screens.items():
            if isinstance(screen, MenuScreen) and all(o.when is None and o.each is None for o in screen.options):
                shown = visible_options(service, screen, {}, RenderEnv())
                self.fixed_keys[sid] = {key: option for key, option, _ in shown}

    def fire(self, event: str, record: Dialogue, *args: Any) -> bool:
        trigger = self.events.get(event)
        return bool(trigger and trigger.trigger(record, *args))

    def jump(self, record: Dialogue, state: str) -> None:
        """Moves that follow no menu link (back, home, the error screen): what the machine's
        ``set_state`` does for a model, without its lookups on the hot path."""
        if state not in self.screens:
            raise KeyError(f"no screen {state!r}")
        record.state = state


@dataclass(frozen=True)
class MenuVersion:
    """One loaded menu set and its services' machines: what a reload swaps, whole, so that a step
    never reads one version's menus with another's machines."""

    menus: MenuSet
    machines: dict[str, ServiceMachine]

    @classmethod
    def of(cls, menus: MenuSet) -> MenuVersion:
        return cls(menus, {number: ServiceMachine(s) for number, s in menus.services.items()})

    @property
    def id(self) -> str:
        return self.menus.version


class Engine:
    def __init__(
        self,
        menus: MenuSet,
        registry: Registry,
        sessions: SessionStore,
        *,
        clock: Callable[[], datetime],
        tz: tzinfo = DEFAULT_TZ,
        new_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.registry = registry
        self.sessions = sessions
        self.tz = tz
        self.clock = clock  # wall time for events that do not say when they happened
        self.new_id = new_id
        #: The version new dialogues begin on; read whole by each step (a reload replaces it).
        self.current = MenuVersion.of(menus)
        #: Versions replaced by a reload, by id, with when they were (the store's clock): the
        #: dialogues begun on them finish on them. Replaced whole, never changed in place, so a
        #: worker reading it while a reload runs sees the old or the new one.
        self._retired: dict[str, tuple[MenuVersion, float]] = {}
        self._reloading = threading.Lock()
        #: Told of every step ended because it could not run (a store outage, a menu past its
        #: bounds): the gateway counts them by kind.
        self.on_aborted: Callable[[Exception], None] | None = None

    @property
    def menus(self) -> MenuSet:
        return self.current.menus

    @property
    def machines(self) -> dict[str, ServiceMachine]:
        return self.current.machines

    @property
    def version(self) -> str:
        return self.current.id

    def reload(self, menus: MenuSet) -> bool:
        """Begin new dialogues on ``menus`` from now on; those already running finish on the
        version they began on. False (nothing changes) when ``menus`` is the version served.
        Compiling the machines takes a while: call it off the thread that answers the network."""
        if menus.version and menus.version == self.current.id:
            return False
        fresh = MenuVersion.of(menus)
        with self._reloading:
            old = self._current_swap(fresh)
        log.info("menus %s replace %s for new dialogues", fresh.id or "(unversioned)", old.id or "(unversioned)")
        return True

    def _current_swap(self, fresh: MenuVersion) -> MenuVersion:
        """(Under ``_reloading``.) ``fresh`` current; the old one retired; the stale ones dropped."""
        old, now = self.current, self.sessions.now()
        horizon = now - self.sessions.max_duration
        kept = {vid: (version, left) for vid, (version, left) in self._retired.items()
                if left > horizon and vid != fresh.id}
        kept[old.id] = (old, now)
        while len(kept) > RETIRED_VERSIONS:
            del kept[next(iter(kept))]
        self._retired, self.current = kept, fresh
        return old

    def retired(self) -> list[str]:
        """The ids of the versions kept for the dialogues begun on them, oldest first."""
        return list(self._retired)

    def _version_of(self, record: Dialogue | None) -> MenuVersion | None:
        """The menus ``record`` began on; if this node does not hold them (dropped past the limit,
        or a version another node loaded first), the menus served, when they hold the record's
        service and screen; else None."""
        current = self.current
        if record is None or not record.menus or record.menus == current.id:
            return current
        kept = self._retired.get(record.menus)
        if kept is not None:
            return kept[0]
        sm = current.machines.get(record.service)
        return current if sm is not None and record.state in sm.screens else None

    # -- the four events ---------------------------------------------------------------------

    def begin(self, msisdn: str, service_code: str, at: datetime | None = None, *,
              lang: str | None = None, session_id: str | None = None,
              note: Mapping[str, Any] | None = None) -> Response:
        """A subscriber dialled ``service_code`` (``#122#``, or ``*122*1#`` with a direct path).
        ``note``: what the adapter keeps in the dialogue's record (``Dialogue.adapter``)."""
        at = at or self.clock()
        session_id = session_id or self.new_id()
        parsed = split_short_code(service_code)
        current = self.current
        sm = current.machines.get(parsed[0]) if parsed else None
        if sm is None or parsed is None:
            said = default_messages.UNKNOWN_SERVICE
            return Response.final(session_id, said.get(lang or "fr", said["fr"]))
        service = sm.service
        now = self.sessions.now()
        record = Dialogue(session_id, msisdn, parsed[0], service.entry, service.default_language, now, now,
                          uid=self.new_id(), menus=current.id, adapter=dict(note or {}))
        try:
            scope = self._scope(record, at)
            record.lang = self._language(service, scope, lang)
            scope.set("lang", record.lang)
            env = self._env(sm, record.lang)
            self._settle(sm, record, scope, env, at)
            error = None
            for text in parsed[1]:
                # a question waits for a reply of its own: a dialled path never answers a
                # confirmation (what it would buy, delete or switch off is shown first)
                if isinstance(sm.screens[record.state], (EndScreen, ConfirmScreen)):
                    break
                self._pages(sm, record, scope, env)  # the page count the reply is judged against
                error = self._advance(sm, record, text, scope, env, at)
                if error is not None:
                    break
            if not parsed[1]:
                self._offer_resume(sm, record)
            return self._respond(sm, record, scope, env, error)
        except StepAborted as exc:
            return self._aborted(sm, record, exc, lang)

    def reply(self, session_id: str, text: str, at: datetime | None = None, *,
              note: Mapping[str, Any] | None = None, expect: Mapping[str, Any] | None = None) -> Response:
        """The subscriber answered the current screen with ``text``. ``note``: what the adapter
        keeps in the dialogue's record with this step (``Dialogue.adapter``); ``expect``: what it
        read there to decide this was the step's text: if the record says otherwise now (another
        node took the step meanwhile), nothing is applied and the screen it is on is answered."""
        try:
            restored = self._restored(session_id, drop=True)
        except Unavailable as exc:  # the session store: nothing to go on
            return self.sessions_down(session_id, exc)
        if isinstance(restored, Response):
            return restored
        record, sm = restored
        at = at or self.clock()
        if expect and any(record.adapter.get(key, "") != value for key, value in expect.items()):
            log.info("dialogue %s: stepped elsewhere since its adapter read it; answering its screen", session_id)
            return self.shown(session_id, at)
        if note:
            record.adapter.update(note)
        try:
            scope = self._scope(record, at)
            env = self._env(sm, record.lang)
            if record.state == RESUME_SCREEN:
                error = self._resume_choice(sm, record, text, scope, env, at)
            else:
                error = self._advance(sm, record, text, scope, env, at)
            return self._respond(sm, record, scope, env, error)
        except SessionConflict:
            return self._lost_race(session_id, at)
        except StepAborted as exc:
            return self._aborted(sm, record, exc)

    def shown(self, session_id: str, at: datetime | None = None) -> Response:
        """The screen the dialogue is on, again, changing nothing (an adapter's repeated request
        for a step already answered, on a node that did not answer it)."""
        try:
            restored = self._restored(session_id)
            if isinstance(restored, Response):
                return restored
            record, sm = restored
            return self._respond(sm, record, self._scope(record, at or self.clock()), self._env(sm, record.lang),
                                 keep=False)
        except StepAborted as exc:
            return self.sessions_down(session_id, exc) if isinstance(exc, Unavailable) else self.unavailable(session_id)

    # -- resuming a dialogue that dropped -----------------------------------------------------

    def _offer_resume(self, sm: ServiceMachine, record: Dialogue) -> None:
        """At a dial: if the subscriber's last dialogue of this service dropped (a timeout, an
        abort) within the service's ``resume`` seconds, on a screen past the first one, offer to
        resume it instead of what the dial shows (unless that ends the dialogue: nothing to
        offer to whom may no longer use the service)."""
        service = sm.service
        if service.resume <= 0 or isinstance(sm.screens[record.state], EndScreen):
            return
        found = self.sessions.dropped(record.msisdn, record.service)
        if found is None:
            return
        old, dropped_at = found
        if old.state == RESUME_SCREEN and old.resumable:  # the offer itself dropped: what it offered
            old = Dialogue.from_dict(old.resumable)
        if old.id == record.id and old.uid == record.uid:
            return
        if self.sessions.now() - dropped_at > service.resume or old.state == record.state:
            return
        record.resumable = old.to_dict()
        record.state = RESUME_SCREEN

    def _resume_choice(self, sm: ServiceMachine, record: Dialogue, text: str, scope: Scope, env: RenderEnv,
                       at: datetime) -> str | None:
        """The answer to the resume offer: the screen the dropped dialogue was on, with its inputs
        (re-rendered, with what the subscriber has now), or a fresh start; the error line else."""
        service = sm.service
        choice = text.strip()
        if choice not in (RESUME, RESTART) or record.resumable is None:
            return render_text(service.message("invalid_choice"), scope, env, service.default_language)
        old, record.resumable = Dialogue.from_dict(record.resumable), None
        self.sessions.forget_dropped(record.msisdn, record.service)
        state: str | None = old.state
        history = list(old.history)
        while state is not None and not self._resumable(sm, state):
            state = history.pop() if history else None
        if choice == RESTART or state is None:
            self._settle_at(sm, record, service.entry, scope, env, at)
            return None
        record.state, record.history, record.result = state, history, old.result
        # its purchases' request ids: one in flight when it dropped is not bought twice
        record.uid = old.uid or record.uid
        record.inputs.clear()
        record.inputs.update(old.inputs)  # in place: the step's scope reads this very dict
        scope.set("result", record.result or {})
        record.page, record.shown, record.offered = 0, None, None
        return None

    @staticmethod
    def _resumable(sm: ServiceMachine, state: str) -> bool:
        """Whether a resumed dialogue may land on ``state``: a screen of the menus now served
        that waits for the subscriber, and not one the menu keeps from resuming (confirmations)."""
        screen = sm.screens.get(state)
        return (screen is not None and state not in sm.service.resume_skip and not screen.transient
                and not isinstance(screen, EndScreen) and state not in (ERROR_SCREEN, RESUME_SCREEN))

    def _settle_at(self, sm: ServiceMachine, record: Dialogue, state: str, scope: Scope, env: RenderEnv,
                   at: datetime) -> None:
        """Start over from ``state`` (the entry), as a dial does."""
        sm.jump(record, state)
        record.history, record.page, record.shown, record.offered = [], 0, None, None
        self._settle(sm, record, scope, env, at)

    def _restored(self, session_id: str, drop: bool = False) -> tuple[Dialogue, ServiceMachine] | Response:
        """The live dialogue and its service's machine, or the "expired" answer: gone, or begun on
        menus that no longer hold its service (its record then forgotten with ``drop``). Raises
        the session store's Unavailable."""
        record = self.sessions.get(session_id)
        if record is None:
            return self._expired(session_id, self.sessions.ended(session_id))
        version = self._version_of(record)
        sm = version.machines.get(record.service) if version is not None else None
        if sm is None:  # reloaded without this service, or begun on a version long replaced
            if drop:
                self.sessions.delete(session_id)
            return self._expired(session_id)
        return record, sm

    def record(self, session_id: str) -> Dialogue | None:
        """The dialogue's record as stored (what an adapter noted in it), or None."""
        return self.sessions.get(session_id)

    def timeout(self, session_id: str) -> Response:
        """The network gave up waiting for the subscriber: forget the dialogue."""
        try:
            record = self.sessions.get(session_id)
            self.sessions.drop(session_id)
        except Unavailable as exc:
            return self.sessions_down(session_id, exc)
        return self._expired(session_id, record)

    def abort(self, session_id: str) -> Response:
        """The subscriber hung up, or the network aborted: forget the dialogue, say nothing."""
        try:
            self.sessions.drop(session_id)
        except Unavailable as exc:  # it expires by itself: nothing to say to whom hung up
            log.warning("dialogue %s aborted, not forgotten: %s", session_id, exc)
        return Response(session_id, "", True)

    def sessions_down(self, session_id: str, exc: Unavailable) -> Response:
        """The session store cannot be reached: the service's "momentarily unavailable"."""
        log.warning("dialogue %s: %s", session_id, exc)
        if self.on_aborted is not None:
            self.on_aborted(exc)
        return self.unavailable(session_id)

    def _lost_race(self, session_id: str, at: datetime) -> Response:
        """Another node stored this dialogue while this step ran (two steps of one dialogue at
        once): this step's result is dropped, and the answer is the screen the winner left."""
        log.info("dialogue %s: stepped elsewhere meanwhile; answering with the screen stored there", session_id)
        return self.shown(session_id, at)

    # -- a step ------------------------------------------------------------------------------

    def _env(self, sm: ServiceMachine, lang: str) -> RenderEnv:
        env = sm.envs.get(lang)
        if env is None:
            env = sm.envs[lang] = render_env(sm.service, lang, self.tz)
        return env

    def _scope(self, record: Dialogue, at: datetime) -> Scope:
        values = {"msisdn": record.msisdn, "now": at, "lang": record.lang,
                  "input": record.inputs, "result": record.result or {}}
        return Scope(values, self.registry.providers, ProviderCall(record.msisdn, at))

    def _language(self, service: Service, scope: Scope, asked: str | None) -> str:
        if asked in service.languages:
            return asked
        subscriber = scope.get("subscriber")
        preferred = subscriber.get("language") if isinstance(subscriber, Mapping) else None
        return preferred if preferred in service.languages else service.default_language

    def _advance(self, sm: ServiceMachine, record: Dialogue, text: str, scope: Scope,
                 env: RenderEnv, at: datetime) -> str | None:
        """Apply one reply; returns the error line to show, if the reply was not understood. The
        line is shown on the next screen only: paging, leaving and coming back never show it."""
        service = sm.service
        keys = service.keys
        text = gsm.printable(text).strip()  # no control or format character is read (or shown back)
        screen = sm.screens[record.state]
        if text == keys.home:
            record.history.clear()
            self._go(sm, record, service.entry, scope, env, at, remember=False)
            return None
        if text == keys.back:
            if record.page > 0:
                record.page -= 1
                return None
            if record.history:
                self._go(sm, record, record.history.pop(), scope, env, at, remember=False)
            return None
        key = choice_key(text)
        if key == keys.more and record.page + 1 < record.pages:
            record.page += 1
            return None
        record.shown = None  # anything but paging shows the screen anew
        event: str | None = None
        if isinstance(screen, MenuScreen):
            fixed = sm.fixed_keys.get(record.state)
            offered = record.offered
            if fixed is None and offered is None:  # not shown by this engine (a record from elsewhere)
                offered = self._offer(visible_options(service, screen, scope, env), scope, env)
            if fixed is not None:
                chosen = fixed.get(text) or fixed.get(key)
                if chosen is not None:
                    event = f"option{chosen.index}"
            elif offered is not None:
                hit = offered.get(text) or offered.get(key)
                if hit is not None:
                    index, values = hit
                    if values is None:  # its saved values could not be evaluated: a menu bug
                        self._go(sm, record, ERROR_SCREEN, scope, env, at, remember=False)
                        return None
                    record.inputs.update(values)
                    event = f"option{index}"
        elif isinstance(screen, InputScreen):
            value = validate(screen.rules, text, service.phone)
            if isinstance(value, Invalid):
                return self._input_error(service, screen, value.rule, scope, env)
            record.inputs[screen.save] = value
            event = "submit"
        elif isinstance(screen, ConfirmScreen):
            event = {"1": "yes", "2": "no"}.get(key)
        if event is None:
            return render_text(service.message("invalid_choice"), scope, env, service.default_language)
        previous = record.state
        if not sm.fire(event, record, scope, env):
            return render_text(service.message("invalid_choice"), scope, env, service.default_language)
        self._remember(record, previous)
        self._settle(sm, record, scope, env, at)
        return None

    @staticmethod
    def _offer(options: list[tuple[str, Option, Any]], scope: Scope, env: RenderEnv) -> dict[str, list[Any]]:
        """What each shown option stands for (see ``Dialogue.offered``): its index and the values
        choosing it saves, evaluated as it is shown (all or nothing per option)."""
        offered: dict[str, list[Any]] = {}
        for key, option, item in options:
            values: dict[str, Any] | None = {}
            if option.save:
                seen = option_scope(option, scope, item)
                try:
                    values = {name: expr.evaluate(seen, env) for name, expr in option.save.items()}
                except EvalError as exc:
                    log.warning("option save at %s failed: %s", option.where, exc)
                    values = None
            offered[key] = [option.index, values]
        return offered

    def _go(self, sm: ServiceMachine, record: Dialogue, state: str, scope: Scope, env: RenderEnv,
            at: datetime, *, remember: bool) -> None:
        if remember:
            self._remember(record, record.state)
        sm.jump(record, state)
        self._settle(sm, record, scope, env, at)

    @staticmethod
    def _remember(record: Dialogue, state: str) -> None:
        history = record.history
        history.append(state)
        if len(history) > HISTORY_LIMIT:
            del history[0]

    def _settle(self, sm: ServiceMachine, record: Dialogue, scope: Scope, env: RenderEnv, at: datetime) -> None:
        """Follow routes and actions until a screen that shows something; start it at page one."""
        record.page = 0
        record.shown = None
        record.offered = None
        for _ in range(MAX_HOPS):
            screen = sm.screens[record.state]
            if isinstance(screen, RouteScreen):
                moved = sm.fire("route", record, scope, env)
            elif isinstance(screen, ActionScreen):
                moved = self._act(sm, record, screen, scope, env, at)
            else:
                return
            if not moved:
                sm.jump(record, ERROR_SCREEN)
                return
        log.error("dialogue %s: more than %d routes/actions in one step at %s", record.id, MAX_HOPS, record.state)
        sm.jump(record, ERROR_SCREEN)

    def _act(self, sm: ServiceMachine, record: Dialogue, screen: ActionScreen, scope: Scope,
             env: RenderEnv, at: datetime) -> bool:
        spec = self.registry.actions.get(screen.action)
        outcome = Outcome(ERROR_OUTCOME)
        if spec is not None:
            try:
                args = {name: expr.evaluate(scope, env) for name, expr in screen.args.items()}
                if not record.uid:  # a record stored before dialogues had their own id
                    record.uid = self.new_id()
                returned = spec.func(ActionCall(record.msisdn, at, args, record.id, record.uid))
                if isinstance(returned, Outcome) and returned.name in spec.outcomes:
                    outcome = returned
                else:
                    log.error("action %r returned %r, not one of its outcomes", screen.action, returned)
            except EvalError as exc:
                log.error("action %r arguments: %s", screen.action, exc)
            except Unavailable as exc:  # an outage, not a bug: no traceback
                log.warning("action %r for %s: %s", screen.action, record.msisdn, exc)
            except Exception:  # an action failing is an outcome the menu routes, not a crash
                log.exception("action %r failed for %s", screen.action, record.msisdn)
            scope.forget_providers()  # an action may change what they read: the next screens read anew
        record.result = dict(outcome.data)
        scope.set("result", record.result)
        return sm.fire(f"outcome:{outcome.name}", record)

    def _input_error(self, service: Service, screen: InputScreen, rule: str, scope: Scope,
                     env: RenderEnv) -> str:
        """What an input screen says when a reply breaks ``rule``: its own words or the engine's."""
        text = screen.errors.get(rule)
        if text is None:
            text = service.message(f"input_kind_{screen.rules.kind}" if rule == "kind" else f"input_{rule}")
        scope.set("rule", rule_details(screen.rules, service.phone))
        return render_text(text, scope, env, service.default_language)

    def _error_slot(self, service: Service, screen: Screen, scope: Scope, env: RenderEnv) -> str | None:
        """The longest error line the screen may show, as sent: every page keeps room for it."""
        if isinstance(screen, InputScreen):
            texts = [self._input_error(service, screen, rule, scope, env) for rule in possible_rules(screen.rules)]
            return longest(prepared(service, text) for text in texts)
        slot = service.memo.error_slot.get(env.lang)
        if slot is None:
            message = service.message("invalid_choice")
            slot = prepared(service, render_text(message, scope, env, service.default_language))
            if message.is_static:
                service.memo.error_slot[env.lang] = slot
        return slot

    # -- output ------------------------------------------------------------------------------

    def _pages(self, sm: ServiceMachine, record: Dialogue, scope: Scope, env: RenderEnv) -> list[str]:
        if record.shown is not None:
            return record.shown
        service = sm.service
        state = record.state
        screen = sm.screens[state]
        pages = None
        options = None
        if isinstance(screen, MenuScreen) and state not in sm.fixed_keys:
            options = visible_options(service, screen, scope, env)
            record.offered = self._offer(options, scope, env)
        if state in sm.static:
            shown = tuple(option.index for _, option, _ in options) if options is not None else ()
            cache_key = (state, env.lang, shown)
            pages = sm.page_cache.get(cache_key)
        if pages is None:
            lines = content_lines(service, screen, scope, env, options)
            nav = shows_nav(service, screen) and state != RESUME_SCREEN
            final = isinstance(screen, EndScreen)  # one page takes no reply: no room to keep
            pages = paginate_lines(service, lines, scope, env, nav=nav,
                                   reserve=None if final else self._error_slot(service, screen, scope, env))
            if final and len(pages) > 1:  # but its pages before the last wait for "more"
                pages = paginate_lines(service, lines, scope, env, nav=nav,
                                       reserve=self._error_slot(service, screen, scope, env))
            if state in sm.static and len(sm.page_cache) < PAGE_CACHE_LIMIT:
                sm.page_cache[cache_key] = pages
        record.pages = len(pages)
        if record.page >= len(pages):
            record.page = len(pages) - 1
        if len(pages) > 1:
            record.shown = pages
        return pages

    def _respond(self, sm: ServiceMachine, record: Dialogue, scope: Scope, env: RenderEnv,
                 error: str | None = None, keep: bool = True) -> Response:
        pages = self._pages(sm, record, scope, env)
        number = record.page + 1
        text = pages[record.page]
        measured = gsm.measure(text)
        if error is not None:
            shown = with_error(prepared(sm.service, error), text)
            checked = gsm.measure(shown)
            if checked.fits:  # only a page the pager could not give the room to goes without it
                text, measured = shown, checked
        end = number == len(pages) and isinstance(sm.screens[record.state], EndScreen)
        if not keep:  # the screen of a record another step stored: shown again, not stored
            pass
        elif end:
            self.sessions.end(record)
        else:
            self.sessions.put(record)
        return Response(record.id, text, end, record.state, number, len(pages), measured.coding, measured.units)

    def unavailable(self, session_id: str) -> Response:
        """The service's "momentarily unavailable" for a dialogue whose step could not run at all
        (a gateway's worker failing, a stop): it reads nothing, since nothing can be trusted then."""
        sm = self._machine_for(None)
        if sm is None:
            return Response.final(session_id, "")
        return self._said(sm, session_id, "error", None, ERROR_SCREEN)

    def _machine_for(self, record: Dialogue | None) -> ServiceMachine | None:
        """The dialogue's service; for an unknown one, the first service (its words, its default
        language)."""
        version = self._version_of(record)
        sm = version.machines.get(record.service) if version is not None and record is not None else None
        return sm if sm is not None else next(iter(self.current.machines.values()), None)

    def _expired(self, session_id: str, record: Dialogue | None = None) -> Response:
        sm = self._machine_for(record)
        if sm is None:
            return Response.final(session_id, "")
        return self._said(sm, session_id, "expired", record.lang if record else None)

    def _aborted(self, sm: ServiceMachine, record: Dialogue, exc: StepAborted, lang: str | None = None) -> Response:
        """The step could not read what it needed, or went past its bounds: end the dialogue,
        say the service is unavailable, keep nothing (the subscriber dials again later)."""
        if isinstance(exc, Unavailable):
            log.warning("dialogue %s of %s ended at %s: %s", record.id, record.msisdn, record.state, exc)
        else:  # a menu mistake: the operator must hear of it
            log.error("dialogue %s of %s ended at %s: %s", record.id, record.msisdn, record.state, exc)
        try:
            self.sessions.delete(record.id)
        except Unavailable as down:  # it expires by itself
            log.warning("dialogue %s not forgotten: %s", record.id, down)
        if self.on_aborted is not None:
            self.on_aborted(exc)
        return self._said(sm, record.id, "error", lang if lang in sm.service.languages else record.lang, ERROR_SCREEN)

    def _said(self, sm: ServiceMachine, session_id: str, message: str, lang: str | None,
              screen: str | None = None) -> Response:
        """One of the engine's own words as a last screen, rendered without any provider (it is
        said when they cannot be trusted)."""
        service = sm.service
        lang = lang or service.default_language
        text = render_text(service.message(message), {}, self._env(sm, lang), service.default_language)
        return Response.final(session_id, prepared(service, text), screen)
