"""USSD over HTTP: the sans-IO conventions (gateway.ussd_http) on plain values, and `ussd serve
--http` as a real process answering real requests on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import terminate
from test_reload import write_menu

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.policy import load_policy
from accounts.store import open_store
from gateway.ussd_http import (
    MAX_FIELDS,
    MAX_TEXT,
    Bad,
    Begin,
    Continue,
    HttpUssd,
    Repeat,
    Reply,
    dialled_code,
    form_body,
    json_body,
    parse_form,
    session_key,
)
from ussd.engine import Response
from ussd.model import PhoneRule

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIBER = "2250701020304"


def mapping(now: list[float] | None = None) -> HttpUssd:
    clock = now if now is not None else [0.0]
    return HttpUssd(lambda code: PhoneRule() if code == "122" else None, lambda: clock[0], idle_timeout=60)


def form(text: str = "", session: str = "s1", phone: str = "+2250701020304", code: str = "#122#") -> dict[str, str]:
    return {"sessionId": session, "serviceCode": code, "phoneNumber": phone, "networkCode": "61201", "text": text}


SCREEN = Response(session_key("s1"), "1. Solde", False)


# -- the form convention, sans-IO -----------------------------------------------------------------

def test_a_form_dialogue_takes_only_what_each_request_adds() -> None:
    m = mapping()
    assert m.receive_form(form()) == Begin("http:s1", SUBSCRIBER, "#122#")
    m.answered("http:s1", SCREEN)
    assert m.receive_form(form("1")) == Reply("http:s1", "1")
    m.answered("http:s1", SCREEN)
    # a reply that itself holds '*': only what follows the text already answered is new
    assert m.receive_form(form("1*2*3")) == Reply("http:s1", "2*3")
    m.answered("http:s1", SCREEN)
    assert m.receive_form(form("1*2*3*")) == Reply("http:s1", "")


def test_a_repeated_request_is_a_repeat_not_a_second_step() -> None:
    m = mapping()
    m.receive_form(form())
    assert m.receive_form(form()) == Repeat("http:s1")  # the dial, retried while it runs
    m.answered("http:s1", SCREEN)
    assert m.receive_form(form("1")) == Reply("http:s1", "1")
    assert m.receive_form(form("1")) == Repeat("http:s1")
    assert m.receive_form(form("1*2")) == Bad(409, "sessionId: this session's previous step is still being answered")
    m.answered("http:s1", Response("http:s1", "Merci", True))
    assert m.receive_form(form("1")) == Repeat("http:s1") and m.last_answer("http:s1").end
    assert m.receive_form(form("1*2")) == Bad(400, "sessionId: this dialogue has ended")


def test_a_step_refused_unrun_is_asked_afresh_when_the_aggregator_retries() -> None:
    m = mapping()
    m.receive_form(form())
    m.retract("http:s1")  # the dial was refused (stopping): its retry is a new dial
    assert m.receive_form(form()) == Begin("http:s1", SUBSCRIBER, "#122#")
    m.answered("http:s1", SCREEN)
    assert m.receive_form(form("1")) == Reply("http:s1", "1")
    m.retract("http:s1")  # the reply was refused (too many waiting): its retry runs, it does not wait
    assert m.last_answer("http:s1") == SCREEN
    assert m.receive_form(form("1")) == Reply("http:s1", "1")


def test_a_text_that_does_not_continue_the_dialogue_is_refused() -> None:
    m = mapping()
    m.receive_form(form())
    m.answered("http:s1", SCREEN)
    m.receive_form(form("1"))
    m.answered("http:s1", SCREEN)
    event = m.receive_form(form("2*1"))
    assert isinstance(event, Bad) and event.status == 400 and "does not continue" in event.reason


@pytest.mark.parametrize("phone", ["+2250701020304", "2250701020304", "0701020304", "00225 07 01 02 03 04"])
def test_numbers_are_read_as_aggregators_send_them(phone: str) -> None:
    assert mapping().receive_form(form(phone=phone)) == Begin("http:s1", SUBSCRIBER, "#122#")


def test_digits_dialled_after_the_short_code_in_the_code_or_the_first_text() -> None:
    assert mapping().receive_form(form(code="*122*1#")) == Begin("http:s1", SUBSCRIBER, "*122*1#")
    m = mapping()
    assert m.receive_form(form("6*2")) == Begin("http:s1", SUBSCRIBER, "*122*6*2#")
    m.answered("http:s1", SCREEN)
    assert m.receive_form(form("6*2*1")) == Reply("http:s1", "1")


@pytest.mark.parametrize("fields,status,reason", [
    ({"serviceCode": "#122#", "phoneNumber": "0701020304"}, 400, "sessionId: missing"),
    (form(code="122"), 400, "is not a USSD code"),
    (form(code="#999#"), 404, "no service answers"),
    (form(phone="12345"), 400, "is not a number of +225"),
    (form(session="x" * 129), 400, "sessionId: 129 characters, at most 128"),
    (form(text="1" * (MAX_TEXT + 1)), 400, f"text: {MAX_TEXT + 1} characters"),
    (form(text="1\x00"), 400, "text: holds a control character"),
])
def test_bad_forms_are_refused_in_one_line(fields: dict[str, str], status: int, reason: str) -> None:
    event = mapping().receive_form(fields)
    assert isinstance(event, Bad) and event.status == status and reason in event.reason


def test_with_shared_sessions_every_form_is_read_against_the_dialogues_record() -> None:
    m = HttpUssd(lambda code: PhoneRule() if code == "122" else None, lambda: 0.0, shared=True)
    assert m.receive_form(form()) == Continue("http:s1", "", "#122#", SUBSCRIBER)
    assert m.receive_form(form("1*2")) == Continue("http:s1", "1*2", "#122#", SUBSCRIBER)
    assert m.receive_form(form("1*2")) == Continue("http:s1", "1*2", "#122#", SUBSCRIBER)  # nothing kept here
    assert m.receive_form(form(phone="12")) == Bad(400, "phoneNumber: '12' is not a number of +225")
    assert dialled_code("#122#", ["6", "", "2"]) == "*122*6*2#" and dialled_code("*122*1#", []) == "*122*1#"


def test_sessions_nobody_asks_about_are_forgotten() -> None:
    now = [0.0]
    m = mapping(now)
    m.receive_form(form(session="old"))
    now[0] = 30.0
    m.receive_form(form(session="new"))
    now[0] = 61.0
    assert m.sweep() == 1 and m.last_answer("http:old") is None
    assert m.receive_form(form(session="new")) == Repeat("http:new")


def test_json_steps_and_their_refusals() -> None:
    m = mapping()
    begin = b'{"session": "j", "msisdn": "0701020304", "code": "#122#"}'
    assert m.receive_json(begin) == Begin("http:j", SUBSCRIBER, "#122#")
    reply = b'{"session": "j", "msisdn": "0701020304", "code": "#122#", "input": "1*2"}'
    assert m.receive_json(reply) == Reply("http:j", "1*2")
    for body, reason in ((b"[", "not JSON"), (b"[" * 20000, "not JSON"), (b"[]", "expected an object"),
                         (b'{"session": "j"}', "msisdn: missing"),
                         (b'{"session": 1, "msisdn": "0701020304", "code": "#122#"}', "session: expected a string"),
                         (b'{"session": "j", "msisdn": "0701020304", "code": "#122#", "x": 1}', "unknown key 'x'"),
                         (b'{"session": "j", "msisdn": "0701020304", "code": "#5*T#*", "input": "1"}',
                          "code: '#5*T#*' is not"),
                         (b'{"session": "j", "msisdn": "12", "code": "#122#", "input": "1"}', "msisdn: '12' is not")):
        event = m.receive_json(body)
        assert isinstance(event, Bad) and event.status == 400 and reason in event.reason, (body, event)


def test_answers_are_con_or_end_and_json_says_all() -> None:
    assert form_body(Response("s", "Menu", False)) == b"CON Menu"
    assert form_body(Response("s", "Merci", True)) == b"END Merci"
    assert json.loads(json_body(Response("s", "Crédit", True, "home", 1, 2, "gsm7", 6))) == {
        "text": "Crédit", "end": True, "screen": "home", "page": 1, "pages": 2, "coding": "gsm7"}


FIELD = st.text(max_size=40) | st.sampled_from(["#122#", "*122*1#", "0701020304", "+2250701020304", "1*2", ""])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["sessionId", "serviceCode", "phoneNumber", "networkCode",
                                                 "text", "x"]), FIELD, max_size=6),
                min_size=1, max_size=6))
def test_any_sequence_of_forms_gets_an_event_and_never_an_exception(requests: list[dict[str, str]]) -> None:
    m = mapping()
    for fields in requests:
        event = m.receive_form(fields)
        assert isinstance(event, (Begin, Reply, Repeat, Bad))
        if isinstance(event, (Begin, Reply)):
            m.answered(event.session, Response(event.session, "x", False))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=MAX_FIELDS))
def test_a_form_body_reads_back_what_was_encoded(fields: dict[str, str]) -> None:
    body = urllib.parse.urlencode(fields).encode()
    assert parse_form(body) == fields == dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200) | st.lists(st.sampled_from([b"&", b"=", b"+", b"%", b"%2", b"%C3", b"%A9", b"a", b"\xe9",
                                                           b"text", b"%26"]), max_size=30).map(b"".join))
def test_any_form_body_gets_fields_or_a_reason(body: bytes) -> None:
    parsed = parse_form(body)
    if isinstance(parsed, Bad):
        assert parsed.status == 400 and parsed.reason.startswith("body: ")
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
        assert len(parsed) <= MAX_FIELDS


def test_form_bodies_refused_in_one_line() -> None:
    assert parse_form(b"a=%E9t%E9") == Bad(400, "body: not UTF-8 text (at octet 0 of a field)")
    assert parse_form(b"&".join([b"a=1"] * (MAX_FIELDS + 1))) == \
        Bad(400, f"body: {MAX_FIELDS + 1} fields, at most {MAX_FIELDS}")
    assert parse_form(b"") == {} and parse_form(b"a&&b=&c=1+2%2B3") == {"a": "", "b": "", "c": "1 2+3"}


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | st.recursive(st.none() | st.booleans() | st.integers() | FIELD,
                                              lambda inner: st.lists(inner, max_size=3)
                                              | st.dictionaries(
                                                  st.sampled_from(["session", "msisdn", "code", "input", "y"]),
                                                  inner, max_size=5), max_leaves=10)
       .map(lambda v: json.dumps(v).encode()))
def test_any_json_body_gets_an_event_and_never_an_exception(body: bytes) -> None:
    assert isinstance(mapping().receive_json(body), (Begin, Reply, Repeat, Bad))


# -- `ussd serve --http`, a real process ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*args: str, secret: str | None = "s3cret", db: str = "memory:", stop: bool = True,
            admin: str | None = None, logs: list[str] | None = None) -> Iterator[Any]:
    """``ussd serve --http`` on a free port: yields its URL (and the process, with ``stop=False``:
    the test stops it); stopped with SIGTERM after, its exit status 0 and no traceback checked.
    ``admin``: the admin secret; ``logs``: gets what the process logged."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("USSD_HTTP_SECRET", "USSD_ADMIN_SECRET")}
    if secret is not None:
        env["USSD_HTTP_SECRET"] = secret
    if admin is not None:
        env["USSD_ADMIN_SECRET"] = admin
    process = subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--http", f"127.0.0.1:{port}", "--db", db,
                                "--demo", "--at", "2026-11-25T10:00", *args], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log: list[str] = []
    try:
        for _ in range(200):  # until it listens (bounded)
            line = process.stderr.readline()
            log.append(line)
            if "HTTP on" in line or process.poll() is not None:
                break
        assert any("HTTP on" in line for line in log), log
        url = f"http://127.0.0.1:{port}"
        yield url if stop else (url, process)
    finally:
        terminate(process)
        out = process.communicate(timeout=30)[1]
        if logs is not None:
            logs.extend([*log, out])
        assert process.returncode == 0, out
        assert "Traceback" not in "".join(log) + out
        assert "s3cret" not in "".join(log) + out  # the secret is never logged, even from a query string
        assert admin is None or admin not in "".join(log) + out


def post(url: str, data: bytes | dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
    request = urllib.request.Request(url, body, {"X-Ussd-Secret": "s3cret", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_purchase_over_http_with_a_retried_confirmation_is_debited_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    with serving(db=db) as url:
        status, first = post(f"{url}/ussd", form(session="buy"))
        assert status == 200 and first.startswith("CON #122# Orange")
        texts = ["6", "6*1", "6*1*1"]
        answers = [post(f"{url}/ussd", form(text, session="buy"))[1] for text in texts]
        assert answers[-1].startswith("END ") and "acheté" in answers[-1], answers
        # the aggregator did not get the last answer and asks again: the same answer, no second debit
        assert post(f"{url}/ussd", form("6*1*1", session="buy")) == (200, answers[-1])
    with open_store(db) as store:
        debits = store.debits(SUBSCRIBER)
        balance = store.get(SUBSCRIBER).main.balance  # type: ignore[union-attr]
    before = next(s for s in read_subscribers(DEMO_ACCOUNTS, load_policy().tz) if s.msisdn == SUBSCRIBER).main.balance
    assert len(debits) == 1 and debits[0].amount > 0
    assert balance == debits[0].balance == before - debits[0].amount


def test_requests_without_the_secret_or_from_elsewhere_reach_no_subscriber() -> None:
    with serving() as url:
        assert post(f"{url}/ussd", form(), {"X-Ussd-Secret": "wrong"})[0] == 403
        request = urllib.request.Request(f"{url}/ussd", urllib.parse.urlencode(form()).encode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403 and "no valid secret" in refused.value.read().decode()
        status, text = post(f"{url}/ussd?secret=s3cret", form(), {"X-Ussd-Secret": ""})
        assert status == 403  # an empty header is a wrong secret, not a missing one
        request = urllib.request.Request(f"{url}/ussd?secret=s3cret",
                                         urllib.parse.urlencode(form(session="q")).encode())
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.read().decode().startswith("CON #122#")
    with serving("--http-allow", "10.0.0.0/8") as url:
        status, text = post(f"{url}/ussd", form())
        assert status == 403 and "outside the allowed networks" in text


def test_malformed_requests_get_a_status_and_one_line() -> None:
    with serving() as url:
        assert post(f"{url}/ussd", b"a" * 20_000)[0] == 413
        status, text = post(f"{url}/ussd", b"\xff\xfe")
        assert status == 400 and text.count("\n") == 1
        assert post(f"{url}/ussd/json", b"{")[0] == 400
        assert post(f"{url}/nowhere", form())[0] == 404
        status, text = post(f"{url}/ussd", form(phone="12"))
        assert status == 400 and text.startswith("phoneNumber:")
        with pytest.raises(urllib.error.HTTPError) as get:
            urllib.request.urlopen(f"{url}/ussd", timeout=30)
        assert get.value.code == 405
        assert post(f"{url}/ussd/notify", {"sessionId": "gone", "status": "Success"}) == (200, "OK\n")
        status, text = post(f"{url}/ussd/json", json.dumps({"session": "j", "msisdn": "0701020304",
                                                             "code": "#122#"}).encode())
        assert status == 200 and json.loads(text)["screen"] == "home"


def test_methods_other_than_get_head_and_post_are_refused_with_those_allowed() -> None:
    from twisted.web.test.requesthelper import DummyRequest

    from gateway.http import OpsResource, UssdResource, access_from

    ussd = UssdResource(None, access_from(()), mapping())  # type: ignore[arg-type]  # not reached
    for endpoints, allow in ((ussd, b"POST"), (OpsResource(None), b"GET, POST")):  # type: ignore[arg-type]
        request = DummyRequest([b"ussd"])
        request.method = b"PUT"
        body = endpoints.render(request)
        assert request.responseCode == 405 and request.responseHeaders.getRawHeaders(b"allow") == [allow]
        assert isinstance(body, bytes) and b"not allowed" in body and body.count(b"\n") == 1


def test_health_names_what_is_down_and_metrics_count_what_was_done() -> None:
    dead = free_port()  # a centre nobody runs: the bind never comes up
    with serving("--smpp", f"smpp://gw:pw@127.0.0.1:{dead}") as url:
        assert post(f"{url}/ussd", form(session="m"))[0] == 200
        assert post(f"{url}/ussd", form("1", session="m"))[0] == 200
        assert post(f"{url}/ussd", form(phone="12", session="bad"))[0] == 400
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"{url}/healthz", timeout=30)
        assert unhealthy.value.code == 503
        assert f"smpp smpp://gw@127.0.0.1:{dead} (transceiver): not bound" in unhealthy.value.read().decode()
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=")
            figures = answer.read().decode()
    values = dict(re.findall(r"^(ussd_\S+) (\S+)$", figures, re.M))
    assert float(values['ussd_dialogues_started_total{adapter="http"}']) == 1
    assert float(values['ussd_steps_total{adapter="http"}']) == 2
    assert float(values['ussd_http_responses_total{status="200"}']) == 2
    assert float(values['ussd_http_responses_total{status="400"}']) == 1
    assert float(values['ussd_step_seconds_count{adapter="http"}']) == 2
    assert float(values[f'ussd_smpp_link_up{{centre="127.0.0.1:{dead}",mode="transceiver"}}']) == 0


def test_metrics_and_health_on_a_port_of_their_own_and_not_on_the_public_one() -> None:
    ops = free_port()
    with serving("--ops", f"127.0.0.1:{ops}") as url:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/healthz", timeout=30) as answer:
            assert (answer.status, answer.read().decode()) == (200, "ok\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=30) as answer:
            assert "ussd_dialogues_started_total" in answer.read().decode()
        for path in ("/healthz", "/metrics"):
            with pytest.raises(urllib.error.HTTPError) as public:
                urllib.request.urlopen(f"{url}{path}", timeout=30)
            assert public.value.code == 405
        assert reload(url, "x")[0] == 404  # the admin endpoint is on the operations port only
        assert reload(f"http://127.0.0.1:{ops}", "x")[0] == 403


def test_a_stop_answers_the_step_in_flight_and_takes_no_new_dialogue(pg_url: str) -> None:
    """SIGTERM while a purchase waits on a row lock: the port stops taking connections, the
    purchase is answered when the lock goes, the process exits 0, and the debit is made once."""
    import threading
    import time

    import psycopg

    with serving(db=pg_url, stop=False) as (url, process):
        for text in ("", "6", "6*1"):
            assert post(f"{url}/ussd", form(text, session="stop"))[0] == 200
        with psycopg.connect(pg_url) as holder:
            holder.execute("SELECT balance FROM subscribers WHERE msisdn = %s FOR UPDATE", (SUBSCRIBER,))
            answers: list[tuple[int, str]] = []
            buying = threading.Thread(target=lambda: answers.append(post(f"{url}/ussd", form("6*1*1", session="stop"))))
            buying.start()
            time.sleep(0.5)  # the step is waiting on the lock
            process.terminate()
            for _ in range(100):  # the port stops listening first (bounded wait)
                try:
                    socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
                except OSError:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the HTTP port still takes connections while stopping")
            holder.rollback()
        buying.join(30)
        assert process.wait(30) == 0
    assert answers and answers[0][0] == 200 and answers[0][1].startswith("END ") and "acheté" in answers[0][1]
    with open_store(pg_url) as store:
        assert len(store.debits(SUBSCRIBER)) == 1


def test_a_store_outage_shows_in_health_and_in_the_store_errors(pg_url: str) -> None:
    from tcp_proxy import TcpProxy

    proxy = TcpProxy(("127.0.0.1", 5432))  # listening
    try:
        with serving(db=proxy.url(pg_url)) as url:
            with urllib.request.urlopen(f"{url}/healthz", timeout=30) as answer:
                assert answer.status == 200
            proxy.down()
            status, text = post(f"{url}/ussd", form(session="down"))
            assert status == 200 and text.startswith("END ") and "indisponible" in text
            with pytest.raises(urllib.error.HTTPError) as unhealthy:
                urllib.request.urlopen(f"{url}/healthz", timeout=30)
            assert unhealthy.value.code == 503 and "account store:" in unhealthy.value.read().decode()
            with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
                figures = answer.read().decode()
            assert re.search(r'^ussd_store_errors_total\{kind="unreachable"\} [1-9]', figures, re.M), figures[-600:]
            proxy.up()
            with urllib.request.urlopen(f"{url}/healthz", timeout=30) as answer:
                assert answer.status == 200
    finally:
        proxy.down()


# -- menus reloaded while dialogues run -------------------------------------------------------------

def reload(url: str, secret: str | None) -> tuple[int, str]:
    return post(f"{url}/admin/reload", b"", {"X-Ussd-Admin-Secret": secret} if secret is not None else {})


def test_menus_reloaded_on_request_and_on_sighup_while_a_dialogue_runs(tmp_path: Path) -> None:
    folder = tmp_path / "menus"
    folder.mkdir()
    write_menu(folder, "v1")
    logs: list[str] = []
    with serving("--menus", str(folder), admin="adm1n-secret", logs=logs, stop=False) as (url, process):
        def dial(session: str) -> str:
            return post(f"{url}/ussd", form(session=session, code="*777#"))[1]

        assert dial("running") == "CON Accueil v1\n1. Suite"
        write_menu(folder, "v2")
        assert reload(url, None)[0] == 403 and reload(url, "wrong")[0] == 403
        assert dial("still-v1") == "CON Accueil v1\n1. Suite"  # a refused request reloaded nothing
        status, said = reload(url, "adm1n-secret")
        assert status == 200 and said.startswith("reloaded: menus ") and "1 older version(s) kept" in said, said
        assert dial("new") == "CON Accueil v2\n1. Suite"
        assert post(f"{url}/ussd", form("1", session="running", code="*777#")) == (200, "END Fin v1")
        assert post(f"{url}/ussd", form("1", session="new", code="*777#")) == (200, "END Fin v2")
        status, said = reload(url, "adm1n-secret")
        assert status == 200 and said.startswith("unchanged: menus "), said

        write_menu(folder, "v3", target="nowhere")
        status, said = reload(url, "adm1n-secret")
        lines = said.splitlines()
        assert status == 422 and re.fullmatch(r"refused: 2 problem\(s\); menus \w{12} keep serving", lines[0]), said
        assert any(re.match(r".*m\.yaml:\d+:\d+: .*nowhere", line) for line in lines[1:]), said  # file:line:column
        assert dial("after-refusal") == "CON Accueil v2\n1. Suite"

        write_menu(folder, "v3")
        process.send_signal(signal.SIGHUP)
        for attempt in range(100):  # bounded: the reload runs on a thread of its own
            if dial(f"after-sighup-{attempt}") == "CON Accueil v3\n1. Suite":
                break
            time.sleep(0.05)
        else:
            pytest.fail("SIGHUP did not reload the menus")
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
            figures = answer.read().decode()
    values = dict(re.findall(r"^(ussd_\S+) (\S+)$", figures, re.M))
    assert [float(values[f'ussd_menu_reloads_total{{outcome="{outcome}"}}'])
            for outcome in ("reloaded", "unchanged", "refused")] == [2, 1, 1]
    assert float(values["ussd_menus_kept"]) == 2
    assert len([key for key in values if key.startswith("ussd_menus_serving{")]) == 1
    said = "".join(logs)
    assert "menus NOT reloaded (POST /admin/reload): 2 problem(s)" in said and "nowhere" in said
    assert "reloading the menus (SIGHUP)" in said
    access = [json.loads(line)["message"] for line in said.splitlines() if '"ussd.http.access"' in line]
    assert '127.0.0.1 "POST /admin/reload" 422' in "\n".join(access) and len(access) >= 12, access


def test_the_admin_endpoint_is_off_without_an_admin_secret() -> None:
    with serving() as url:
        status, said = reload(url, "anything")
    assert status == 403 and "admin endpoints are off" in said


def test_a_session_the_aggregator_ends_is_offered_again_to_the_next_dial() -> None:
    with serving() as url:
        assert post(f"{url}/ussd", form(session="lost"))[0] == 200
        shown = post(f"{url}/ussd", form("1", session="lost"))[1]
        assert post(f"{url}/ussd/notify", {"sessionId": "lost", "status": "Failed"})[0] == 200  # the signal lost
        offer = post(f"{url}/ussd", form(session="back"))[1]
        assert offer == "CON Reprendre là où vous en étiez ?\n1. Reprendre\n2. Recommencer"
        assert post(f"{url}/ussd", form("1", session="back"))[1] == shown


def test_the_admin_endpoint_on_the_public_port_answers_only_the_allowed_networks() -> None:
    with serving("--http-allow", "10.0.0.0/8", admin="adm1n-secret") as url:
        status, said = reload(url, "adm1n-secret")
    assert status == 403 and "127.0.0.1 is outside the allowed networks" in said
