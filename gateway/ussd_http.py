"""USSD over HTTP, sans-IO: an aggregator's request in, an engine event out; the engine's screen
in, the answer's body out. No sockets here (the Twisted shell is :mod:`gateway.http`).

Two conventions:

- **Forms** (Africa's Talking's, the one most USSD developers know): ``sessionId``,
  ``serviceCode``, ``phoneNumber``, ``networkCode``, ``text``; ``text`` is empty on the first
  request, then every reply of the dialogue so far joined by ``*``. The answer is ``CON text``
  while the dialogue goes on, ``END text`` when it ends. Since a reply may itself hold a ``*``, the
  adapter remembers the text it has already answered and takes only what was added after it. A
  request with the text already answered is a repeat (an aggregator's retry): it gets the same
  answer and runs nothing (no second debit). Digits dialled after the short code
  (``*122*1#``) may come in ``serviceCode`` or, on the first request, in ``text``.
- **JSON**: ``{"session", "msisdn", "code", "input"}`` in (``input`` the new reply only, absent on
  the first request), ``{"text", "end", "screen", "page", "pages", "coding"}`` out.

Numbers come as aggregators send them (``+2250701020304``, ``2250701020304``, ``0701020304``) and
are read by the dialled service's own phone rule. Every field is bounded; what is wrong is said in
one line (:class:`Bad`), never with a traceback.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_to_bytes

from ussd.engine import Engine, Response
from ussd.errors import Unavailable
from ussd.inputs import normalise_phone
from ussd.loader import split_short_code
from ussd.model import PhoneRule

#: The longest value of each field read; past it the request is refused (400).
MAX_SESSION_ID: Final = 128
MAX_CODE: Final = 64
MAX_PHONE: Final = 32
MAX_NETWORK_CODE: Final = 32
#: ``text`` grows with the dialogue (every reply, joined): 30 replies of a whole USSD string.
MAX_TEXT: Final = 8192
#: Dialogues the adapter remembers at once (the oldest forgotten first, past this).
MAX_DIALOGUES: Final = 200_000
#: The most fields a form may have (the convention has five; an aggregator may add a few).
MAX_FIELDS: Final = 16


@dataclass(frozen=True, slots=True)
class Begin:
    session: str
    msisdn: str
    code: str  # with the digits dialled after the short code, as ``*122*1#``


@dataclass(frozen=True, slots=True)
class Reply:
    session: str
    text: str


@dataclass(frozen=True, slots=True)
class Repeat:
    """The request of a step already asked: its answer (or the one on its way) again."""

    session: str


@dataclass(frozen=True, slots=True)
class Bad:
    """A request refused: the HTTP status and one line saying why."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Continue:
    """A form request of a dialogue whose steps several nodes take (shared sessions): what it
    adds is read against the text its record says was answered (:func:`form_step`, on a worker),
    not against this node's memory, which may have missed steps."""

    session: str
    text: str
    code: str  # as dialled, before any digits the text adds to a first request
    msisdn: str


Event = Begin | Reply | Repeat | Continue | Bad


def session_key(session_id: str) -> str:
    """The engine's session id of an HTTP dialogue (the aggregator's id, namespaced)."""
    return f"http:{session_id}"


def parse_form(body: bytes) -> dict[str, str] | Bad:
    """An ``application/x-www-form-urlencoded`` body: names and values decoded (``+`` a space,
    ``%XX`` an octet), the last value of a name repeated kept, empty pairs skipped; 400 for text
    that is not UTF-8 and for more than :data:`MAX_FIELDS` fields. What ``urllib``'s
    ``parse_qsl`` reads, at half its cost: the octets are unquoted before being decoded once."""
    fields: dict[str, str] = {}
    pairs = body.split(b"&")
    if len(pairs) > MAX_FIELDS:
        return Bad(400, f"body: {len(pairs)} fields, at most {MAX_FIELDS}")
    try:
        for pair in pairs:
            if pair:
                name, _, value = pair.partition(b"=")
                fields[unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")] = \
                    unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        return Bad(400, f"body: not UTF-8 text (at octet {exc.start} of a field)")
    return fields


def json_fields(body: bytes, keys: Mapping[str, tuple[int, bool]]) -> dict[str, str] | Bad:
    """A JSON object of strings: ``keys`` says each one's longest length and whether it is
    required (an optional one may be absent or null: then it is not in the result); anything else
    is refused in one line, JSON nested past Python's depth included."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Bad(400, "body: not JSON")
    if not isinstance(message, dict):
        return Bad(400, f"body: expected an object {{{', '.join(keys)}}}")
    unknown = sorted(set(message) - set(keys))
    if unknown:
        return Bad(400, f"body: unknown key {unknown[0][:20]!r} (expected {', '.join(keys)})")
    fields: dict[str, str] = {}
    for name, (limit, required) in keys.items():
        value = message.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, str):
            return Bad(400, f"{name}: expected a string" if value is not None else f"{name}: missing")
        checked = _field({name: value}, name, limit, required)
        if isinstance(checked, Bad):
            return checked
        fields[name] = checked
    return fields


def _field(fields: Mapping[str, str], name: str, limit: int, required: bool = True) -> str | Bad:
    value = fields.get(name)
    if value is None or (required and not value.strip()):
        if not required:
            return ""
        return Bad(400, f"{name}: missing")
    if len(value) > limit:
        return Bad(400, f"{name}: {len(value)} characters, at most {limit}")
    if not value.isprintable():
        return Bad(400, f"{name}: holds a control character")
    return value


#: A JSON step's keys: each one's longest length, and whether it is required.
_JSON_STEP: Final = {"session": (MAX_SESSION_ID, True), "msisdn": (MAX_PHONE, True), "code": (MAX_CODE, True),
                     "input": (MAX_TEXT, False)}


@dataclass
class _Seen:
    """What the adapter knows of one form dialogue: the text it was last asked with, and the
    answer to it (None while the step runs)."""

    asked: str
    answer: Response | None = None
    touched: float = 0.0
    #: The step before the one being asked, to go back to if that one is refused unrun.
    before: tuple[str, Response | None] | None = None


@dataclass
class HttpUssd:
    """The form and JSON conventions, and each form dialogue's text answered so far.
    ``phone_rule(service)``: the phone rule of a service (None: no such service). ``clock`` and
    ``idle_timeout`` forget dialogues nobody asks about any more (:meth:`sweep`). Used by one
    thread (the reactor's)."""

    phone_rule: Callable[[str], PhoneRule | None]
    clock: Callable[[], float]
    idle_timeout: float = 60.0
    limit: int = MAX_DIALOGUES
    #: Sessions shared by several nodes: every form request is read against the dialogue's
    #: record (:class:`Continue`), none against this process's memory.
    shared: bool = False
    _seen: OrderedDict[str, _Seen] = field(default_factory=OrderedDict)

    # -- forms ---------------------------------------------------------------------------------

    def receive_form(self, fields: Mapping[str, str]) -> Event:
        values: list[str] = []
        for name, limit, required in (("sessionId", MAX_SESSION_ID, True), ("serviceCode", MAX_CODE, True),
                                      ("phoneNumber", MAX_PHONE, True), ("networkCode", MAX_NETWORK_CODE, False),
                                      ("text", MAX_TEXT, False)):
            value = _field(fields, name, limit, required)
            if isinstance(value, Bad):
                return value
            values.append(value)
        session, code, phone, _network, text = values
        key = session_key(session)
        if self.shared:
            caller = self._caller(code, phone, ("serviceCode", "phoneNumber"))
            return caller if isinstance(caller, Bad) else Continue(key, text, code.strip(), caller)
        seen = self._seen.get(key)
        if seen is None:
            return self._begin(key, code, phone, text.split("*") if text else [])
        seen.touched = self.clock()
        self._seen.move_to_end(key)
        if text == seen.asked:
            return Repeat(key)
        if seen.answer is None:
            return Bad(409, "sessionId: this session's previous step is still being answered")
        if seen.answer.end:
            return Bad(400, "sessionId: this dialogue has ended")
        if seen.asked and not text.startswith(seen.asked + "*"):
            return Bad(400, "text: does not continue the replies this session has given")
        added = text[len(seen.asked) + 1:] if seen.asked else text
        seen.before = (seen.asked, seen.answer)
        seen.asked, seen.answer = text, None
        return Reply(key, added)

    def retract(self, key: str) -> None:
        """The last event of ``key`` was refused without running (stopping, too many waiting):
        a dial is forgotten, a reply undone, so the aggregator's retry is asked afresh."""
        seen = self._seen.get(key)
        if seen is None:
            return
        if seen.before is None:
            del self._seen[key]
        else:
            (seen.asked, seen.answer), seen.before = seen.before, None

    def answered(self, key: str, response: Response) -> None:
        """The engine's answer to the last step of ``key`` (kept for a repeat of it)."""
        seen = self._seen.get(key)
        if seen is not None:
            seen.answer = response

    def last_answer(self, key: str) -> Response | None:
        seen = self._seen.get(key)
        return seen.answer if seen is not None else None

    def forget(self, key: str) -> bool:
        """The aggregator said the session ended; True if it was known."""
        return self._seen.pop(key, None) is not None

    def sweep(self) -> int:
        """Forget dialogues idle past the timeout; returns how many."""
        horizon = self.clock() - self.idle_timeout
        dropped = 0
        while self._seen:
            key, seen = next(iter(self._seen.items()))
            if seen.touched > horizon:
                break
            del self._seen[key]
            dropped += 1
        return dropped

    def _caller(self, code: str, phone: str, names: tuple[str, str]) -> str | Bad:
        """The E.164 number of who dials ``code`` (read by that service's phone rule), or why the
        request has none."""
        parsed = split_short_code(code)
        if parsed is None:
            return Bad(400, f"{names[0]}: {code[:20]!r} is not a USSD code (as #122# or *122*1#)")
        rule = self.phone_rule(parsed[0])
        if rule is None:
            return Bad(404, f"{names[0]}: no service answers {code[:20]!r}")
        msisdn = normalise_phone(phone, rule)
        if msisdn is None:
            return Bad(400, f"{names[1]}: {phone[:20]!r} is not a number of +{rule.country_code}")
        return msisdn

    def _begin(self, key: str, code: str, phone: str, dialled: list[str],
               names: tuple[str, str] = ("serviceCode", "phoneNumber")) -> Event:
        msisdn = self._caller(code, phone, names)
        if isinstance(msisdn, Bad):
            return msisdn
        if len(self._seen) >= self.limit:
            self._seen.popitem(last=False)
        self._seen[key] = _Seen("*".join(dialled), None, self.clock())
        return Begin(key, msisdn, dialled_code(code, dialled))

    # -- JSON ----------------------------------------------------------------------------------

    def receive_json(self, body: bytes) -> Event:
        fields = json_fields(body, _JSON_STEP)
        if isinstance(fields, Bad):
            return fields
        key = session_key(fields["session"])
        if "input" not in fields:
            begun = self._begin(key, fields["code"], fields["msisdn"], [], ("code", "msisdn"))
            self._seen.pop(key, None)  # JSON steps say their input: nothing to remember
            return begun
        caller = self._caller(fields["code"], fields["msisdn"], ("code", "msisdn"))  # every step says who
        return caller if isinstance(caller, Bad) else Reply(key, fields["input"])


def dialled_code(code: str, dialled: list[str]) -> str:
    """The code with the digits dialled after it (the first request's text, split at ``*``):
    ``#122#`` and ``["6", "2"]`` make ``*122*6*2#``."""
    parsed = split_short_code(code)
    if parsed is None:
        return code.strip()
    service, path = parsed
    path = path + [part for part in dialled if part]
    return f"*{service}*{'*'.join(path)}#" if path else code.strip()


def form_step(engine: Engine, step: Continue, lang: str | None = None) -> Response | Bad:
    """(On a worker.) A form request read against the dialogue's record: the dial (nothing
    stored, nothing ended under this session: digits in the text are dialled after the code), a
    repeat (the text its record says was answered: the screen it is on, again), or a reply (what
    follows that text); the text is noted in the record with the step, for the next node."""
    try:
        record = engine.record(step.session)
        ended = record is None and bool(step.text) and engine.sessions.ended(step.session) is not None
    except Unavailable as exc:  # the session store: nothing to go on
        return engine.sessions_down(step.session, exc)
    if record is None:
        if ended:
            return engine.shown(step.session)  # a step after the end (a retry of the last): told so
        code = dialled_code(step.code, step.text.split("*") if step.text else [])
        return engine.begin(step.msisdn, code, session_id=step.session, lang=lang, note={"text": step.text})
    asked = record.adapter.get("text", "")
    if step.text == asked:
        return engine.shown(step.session)
    if asked and not step.text.startswith(asked + "*"):
        return Bad(400, "text: does not continue the replies this session has given")
    added = step.text[len(asked) + 1:] if asked else step.text
    return engine.reply(step.session, added, note={"text": step.text}, expect={"text": asked})


def form_body(response: Response) -> bytes:
    """``CON text`` or ``END text``, as the form convention answers."""
    return (("END " if response.end else "CON ") + response.text).encode("utf-8")


def json_body(response: Response) -> bytes:
    return json.dumps({"text": response.text, "end": response.end, "screen": response.screen, "page": response.page,
                       "pages": response.pages, "coding": response.coding}, ensure_ascii=False).encode("utf-8")
