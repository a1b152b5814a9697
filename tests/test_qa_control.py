"""The QA control's decoding (gateway.qa): whatever a client writes gets an answer or a QaError
naming what is wrong, never another exception; a load builds the service it describes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.policy import load_policy
from gateway.config import ServerConfig
from gateway.qa import QaControl, QaError
from ussd.engine import Response

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)


def control() -> QaControl:
    """A control on a stand-in server: what ``command`` and ``prepare`` read of it."""
    gateway = SimpleNamespace(on_screen=None, lang=None)
    service = SimpleNamespace(config=ServerConfig(), policy=load_policy(),
                              engine=SimpleNamespace(menus=SimpleNamespace(services={})))
    return QaControl(SimpleNamespace(gateway=gateway, service=service))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_line_gets_an_answer_or_a_reason(line: bytes) -> None:
    qa = control()
    try:
        answer = qa.command(line)
    except QaError as exc:
        assert str(exc)
    else:
        assert isinstance(answer, dict)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["subscribers", "at", "menus", "idle_timeout", "max_duration", "lang", "x"]),
                       JSON, max_size=4) | JSON)
def test_any_load_is_built_or_refused_with_a_reason(spec: Any) -> None:
    try:
        service, clock, lang = control().prepare(spec)
    except QaError as exc:
        assert str(exc)
    else:
        assert service.engine is not None and clock() == clock() and (lang is None or isinstance(lang, str))
        service.close()


def test_a_load_builds_the_fixture_and_screens_are_told_by_number() -> None:
    qa = control()
    record = {"msisdn": "2250701020304", "status": "active", "offer": {"name": "Mix", "type": "prepaid"},
              "language": "fr", "main": {"balance": 1500, "expires": "2026-12-31T23:59:59+00:00"}}
    service, clock, lang = qa.prepare({"subscribers": [record], "at": "2026-11-25T10:00:00+00:00", "lang": "en",
                                       "idle_timeout": 30})
    try:
        assert service.store.get("2250701020304").main.balance == 1500 and lang == "en"
        assert clock().isoformat() == "2026-11-25T10:00:00+00:00" and service.sessions.idle_timeout == 30
    finally:
        service.close()
    qa.server.gateway.on_screen("2250701020304", Response("s", "Menu", False, "home", 1, 2))
    assert qa.command(b'{"shown": "2250701020304"}') == {"text": "Menu", "screen": "home", "page": 1, "pages": 2,
                                                         "end": False, "coding": "gsm7"}
