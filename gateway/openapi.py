"""The OpenAPI 3.0 document of the HTTP adapter, served at ``GET /openapi.json``.

Written from the same limits the adapter enforces (:mod:`gateway.ussd_http`, :mod:`gateway.http`),
so the document and the code cannot drift apart on sizes; ``tests/test_openapi.py`` runs
schemathesis against a live server to check that every answer is one the document allows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .ussd_http import MAX_CODE, MAX_NETWORK_CODE, MAX_PHONE, MAX_SESSION_ID, MAX_TEXT

_PLAIN = {"text/plain": {"schema": {"type": "string"}}}
#: What a short code looks like (the loader's own rule) and a number as aggregators write one;
#: which codes have a service and which numbers are the operator's, no schema can say (404, 400).
CODE_PATTERN = r"^[*#][0-9]{1,6}(\*[0-9A-Za-z+]{1,20})*#$"
PHONE_PATTERN = r"^\+?[0-9][0-9 .-]{5,30}$"


def _refusal(why: str) -> dict[str, Any]:
    return {"description": why, "content": _PLAIN}


_REFUSALS = {
    "400": _refusal("A malformed request: one line saying what is wrong"),
    "403": _refusal("No valid secret, or a client outside the allowed networks"),
    "404": _refusal("No service answers this code"),
    "409": _refusal("This session's previous step is still being answered"),
    "413": _refusal("The body is larger than 16 KiB"),
    "503": _refusal("Stopping, or too many steps waiting"),
}


def _string(limit: int, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, **extra}


@lru_cache(maxsize=1)
def document() -> bytes:
    form = {
        "type": "object",
        "required": ["sessionId", "serviceCode", "phoneNumber"],
        "properties": {
            "sessionId": _string(MAX_SESSION_ID, minLength=1, description="the aggregator's id of the dialogue"),
            "serviceCode": _string(MAX_CODE, pattern=CODE_PATTERN, example="#122#",
                                   description="the code dialled: #122# or *122*1#"),
            "phoneNumber": _string(MAX_PHONE, pattern=PHONE_PATTERN, example="+2250701020304"),
            "networkCode": _string(MAX_NETWORK_CODE, example="61201"),
            "text": _string(MAX_TEXT, description="every reply so far joined by '*'; empty on the first request"),
        },
    }
    step = {
        "type": "object",
        "required": ["session", "msisdn", "code"],
        "additionalProperties": False,
        "properties": {
            "session": _string(MAX_SESSION_ID, minLength=1),
            "msisdn": _string(MAX_PHONE, pattern=PHONE_PATTERN, example="0701020304"),
            "code": _string(MAX_CODE, pattern=CODE_PATTERN, example="#122#"),
            "input": _string(MAX_TEXT, nullable=True,
                             description="the new reply only; absent (or null) on the first request"),
        },
    }
    screen = {
        "type": "object",
        "required": ["text", "end", "screen", "page", "pages", "coding"],
        "properties": {
            "text": {"type": "string"},
            "end": {"type": "boolean"},
            "screen": {"type": "string", "nullable": True},
            "page": {"type": "integer", "minimum": 1},
            "pages": {"type": "integer", "minimum": 1},
            "coding": {"type": "string", "enum": ["gsm7", "ucs2"]},
        },
    }
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "ussd122 HTTP adapter", "version": "1.0.0",
                 "description": "USSD dialogues over HTTP: the aggregators' form convention and JSON (docs/http.md)."},
        "components": {"securitySchemes": {"secret": {"type": "apiKey", "in": "header", "name": "X-Ussd-Secret"}}},
        "security": [{"secret": []}],
        "paths": {
            "/ussd": {"post": {
                "summary": "One step of a dialogue, form convention: CON (goes on) or END (ended) and the screen",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
                "responses": {"200": {"description": "CON or END, a space, the screen", "content": _PLAIN},
                              **_REFUSALS},
            }},
            "/ussd/json": {"post": {
                "summary": "One step of a dialogue, JSON",
                "requestBody": {"required": True, "content": {"application/json": {"schema": step}}},
                "responses": {"200": {"description": "The screen", "content": {"application/json": {"schema": screen}}},
                              **_REFUSALS},
            }},
            "/ussd/notify": {"post": {
                "summary": "The aggregator's notice that a session ended (logged; the dialogue forgotten)",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["sessionId"],
                    "properties": {"sessionId": _string(MAX_SESSION_ID, minLength=1), "status": {"type": "string"},
                                   "errorMessage": {"type": "string"}}}}}},
                "responses": {"200": {"description": "OK", "content": _PLAIN}, **_REFUSALS},
            }},
        },
    }
    return json.dumps(spec, indent=1).encode("utf-8")
