"""Several gateway nodes for real: `ussd serve` processes sharing one Redis (dialogues) and one
PostgreSQL (accounts), answering the steps of one dialogue in turn."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from typing import Any

from processes import terminate
from test_http import ROOT, free_port, post, serving

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.policy import load_policy
from accounts.store import open_store

SUBSCRIBER = "2250701020304"


def json_step(url: str, session: str, reply: str | None = None) -> dict[str, Any]:
    body = {"session": session, "msisdn": SUBSCRIBER, "code": "#122#"}
    if reply is not None:
        body["input"] = reply
    status, text = post(f"{url}/ussd/json", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert status == 200, text
    return json.loads(text)


def test_a_dialogue_stepped_on_two_nodes_in_turn_shows_what_one_node_shows(pg_url: str, redis_url: str) -> None:
    with open_store(pg_url) as store:
        store.migrate()
        store.put_many(read_subscribers(DEMO_ACCOUNTS, load_policy().tz))
    replies = ["6", "1", "1"]  # a pass bought: the debit is made on whichever node confirms
    with ExitStack() as nodes:
        one = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        two = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        alone = [json_step(one, "alone")] + [json_step(one, "alone", r) for r in ["1", "1", "0", "0"]]
        turns = [json_step(one, "turns")] + [json_step((two, one)[n % 2], "turns", r)
                                             for n, r in enumerate(["1", "1", "0", "0"])]
        assert turns == alone
        bought = [json_step(two, "buy")] + [json_step((one, two)[n % 2], "buy", r) for n, r in enumerate(replies)]
        assert bought[-1]["end"] and bought[-1]["screen"] == "pass_bought", bought[-1]
        late = json_step(two, "buy", "1")  # a step after the end, on the other node: told so, once
        assert late["end"] and "pass_bought" != late["screen"]
        for url in (one, two):
            with urllib.request.urlopen(f"{url}/healthz", timeout=30) as answer:
                assert answer.read().decode() == "ok\n"
    with open_store(pg_url) as store:
        assert len(store.debits(SUBSCRIBER)) == 1


def test_health_names_the_session_store_when_redis_is_away() -> None:
    with serving("--sessions", "redis://127.0.0.1:1/0") as url:  # nothing listens on port 1
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=30)
        except urllib.error.HTTPError as exc:
            status, said = exc.code, exc.read().decode()
        else:
            raise AssertionError("healthy without its session store")
        step = json.loads(post(f"{url}/ussd/json", json.dumps(
            {"session": "x", "msisdn": SUBSCRIBER, "code": "#122#"}).encode())[1])
    assert status == 503 and re.search(r"session store: the session store \(Redis\) is unavailable", said), said
    assert step["end"] and "indisponible" in step["text"]


def form(text: str, session: str) -> dict[str, str]:
    return {"sessionId": session, "serviceCode": "#122#", "phoneNumber": "0701020304", "networkCode": "61201",
            "text": text}


def test_form_requests_alternating_between_two_nodes_read_the_replies_where_the_dialogue_is(
        pg_url: str, redis_url: str) -> None:
    with open_store(pg_url) as store:
        store.migrate()
        store.put_many(read_subscribers(DEMO_ACCOUNTS, load_policy().tz))
    texts = ["", "1", "1*1", "1*1*0", "1*1*0*0", "1*1*0*0*6", "1*1*0*0*6*1", "1*1*0*0*6*1*1"]
    with ExitStack() as nodes:
        one = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        two = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        alone = [post(f"{one}/ussd", form(text, "alone")) for text in texts[:-2]]
        turns = [post(f"{(one, two)[n % 2]}/ussd", form(text, "turns")) for n, text in enumerate(texts)]
        assert turns[:len(alone)] == alone
        assert turns[-1][0] == 200 and turns[-1][1].startswith("END Vous avez acheté"), turns[-1]
        retried = post(f"{one}/ussd", form(texts[-1], "turns"))  # the last step again, on the other node
        assert retried[0] == 200 and retried[1].startswith("END ") and "acheté" not in retried[1]
    with open_store(pg_url) as store:
        assert len(store.debits(SUBSCRIBER)) == 1


def ussd(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ussd122", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def metrics(ops_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/metrics", timeout=30) as answer:
        return answer.read().decode()


def steps_served(ops_port: int) -> float:
    return float(re.search(r'^ussd_steps_total\{adapter="smpp"\} (\S+)$', metrics(ops_port), re.M).group(1))  # type: ignore[union-attr]


def nodes_bound(*ops_ports: int) -> None:
    """Wait (bounded) until every node's SMPP bind is up."""
    for _ in range(200):
        try:
            if all(re.search(r"^ussd_smpp_link_up\{[^}]*\} 1\.0$", metrics(p), re.M) for p in ops_ports):
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.05)
    raise AssertionError("the nodes never bound to the centre")


def centre_port(centre: subprocess.Popen[str]) -> int:
    match = re.search(r"listening on [\d.]+:(\d+)", centre.stdout.readline())  # type: ignore[union-attr]
    assert match, centre.stderr.read() if centre.poll() is not None else "no port"  # type: ignore[union-attr]
    return int(match.group(1))


def smpp_nodes(port: int, pg_url: str, redis_url: str) -> tuple[list[subprocess.Popen[str]], list[int]]:
    """Two `ussd serve` nodes bound to the centre on ``port``, sharing the stores; their ops ports."""
    ops = [free_port(), free_port()]
    nodes = [ussd("serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}", "--db", pg_url, "--sessions", redis_url,
                  "--at", "2026-11-25T10:00", "--ops", f"127.0.0.1:{ops_port}") for ops_port in ops]
    nodes_bound(*ops)
    return nodes, ops


def test_through_smpp_a_centre_spreading_steps_over_two_nodes_loses_nothing(pg_url: str, redis_url: str) -> None:
    with open_store(pg_url) as store:
        store.migrate()
        store.put_many(read_subscribers(DEMO_ACCOUNTS, load_policy().tz))
    centre = ussd("centre", "--port", "0", "--spread", "steps")
    nodes: list[subprocess.Popen[str]] = []
    try:
        port = centre_port(centre)
        nodes, ops = smpp_nodes(port, pg_url, redis_url)
        before = [steps_served(p) for p in ops]
        load = subprocess.run([sys.executable, "-m", "ussd122", "load", "--via", f"smpp://127.0.0.1:{port}",
                               "--dialogues", "60", "--concurrency", "12"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert load.returncode == 0, load.stdout + load.stderr
        summary = dict(field.split("=") for field in load.stdout.split())
        assert (summary["completed"], summary["lost"], summary["aborted"]) == ("60", "0", "0"), summary
        served = [steps_served(p) - b for p, b in zip(ops, before, strict=True)]
        assert sum(served) == int(summary["steps"]) and min(served) > int(summary["steps"]) / 4, served
    finally:
        for process in [*nodes, centre]:
            terminate(process)
            said = process.communicate(timeout=30)[1]
            assert "Traceback" not in said, said


def test_a_node_killed_mid_load_loses_only_its_steps_in_flight_and_no_franc(pg_url: str, redis_url: str) -> None:
    """Purchases spread over two nodes by dialogue; one node is SIGKILLed in the middle. The
    other carries on every dialogue it can reach (the centre sends their next steps to it); what
    was lost is only what was in flight on the killed node (the centre's step timer ends those
    dialogues: aborted_step_timeout); the money adds up to the franc."""
    from dataclasses import replace

    from accounts.model import MainAccount

    dialogues = 200
    template = next(s for s in read_subscribers(DEMO_ACCOUNTS, load_policy().tz) if s.msisdn == SUBSCRIBER)
    # a subscriber per dialogue: one whose dialogue the kill dropped is offered to resume it at
    # the next dial, and a walk typed blind into that offer may end without buying
    rich = [replace(template, msisdn=f"2250799{n:06d}", main=MainAccount(100_000, template.main.expires))
            for n in range(dialogues)]
    with open_store(pg_url) as store:
        store.migrate()
        store.put_many(rich)
    centre = ussd("centre", "--port", "0", "--step-timeout", "3")
    nodes: list[subprocess.Popen[str]] = []
    try:
        port = centre_port(centre)
        nodes, ops = smpp_nodes(port, pg_url, redis_url)
        load = subprocess.Popen([sys.executable, "-m", "ussd122", "load", "--via", f"smpp://127.0.0.1:{port}",
                                 "--dialogues", str(dialogues), "--concurrency", "20", "--think", "0.05-0.15",
                                 "--walk", "6*1*1", "--step-timeout", "20",
                                 *[arg for s in rich for arg in ("--msisdn", s.msisdn)]],
                                cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(200):  # until the load is well under way (bounded)
            if steps_served(ops[0]) >= 60:
                break
            time.sleep(0.05)
        at_kill = steps_served(ops[1])
        nodes[0].kill()
        out, err = load.communicate(timeout=180)
        print(out)
        summary = dict(field.split("=") for field in out.split())
        completed, aborted = int(summary["completed"]), int(summary["aborted"])
        assert completed + aborted == dialogues and summary["lost"] == "0", out + err
        # lost: at most the steps in flight on the killed node (one per dialogue, 20 at once)
        assert aborted == int(summary.get("aborted_step_timeout", 0)) <= 20, out
        assert steps_served(ops[1]) - at_kill >= int(summary["steps"]) // 3, out  # the other node carried on
    finally:
        for process in [*nodes, centre]:
            terminate(process)
            process.communicate(timeout=30)
    with open_store(pg_url) as store:
        debits = [record for s in rich for record in store.debits(s.msisdn)]
        spent = sum(100_000 - store.get(s.msisdn).main.balance for s in rich)  # type: ignore[union-attr]
    assert spent == 500 * len(debits)  # to the franc: each debit recorded is the money taken, once
    assert completed <= len(debits) <= completed + aborted  # every purchase seen was debited; none twice


def test_a_session_ended_by_the_aggregator_on_one_node_is_offered_again_on_the_other(pg_url: str,
                                                                                       redis_url: str) -> None:
    with open_store(pg_url) as store:
        store.migrate()
        store.put_many(read_subscribers(DEMO_ACCOUNTS, load_policy().tz))
    with ExitStack() as nodes:
        one = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        two = nodes.enter_context(serving("--sessions", redis_url, db=pg_url))
        post(f"{one}/ussd", form("", "lost"))
        shown = post(f"{one}/ussd", form("1", "lost"))[1]
        assert post(f"{two}/ussd/notify", {"sessionId": "lost", "status": "Failed"})[0] == 200  # told elsewhere
        assert post(f"{two}/ussd", form("", "back"))[1].startswith("CON Reprendre")
        assert post(f"{one}/ussd", form("1", "back"))[1] == shown


def test_a_node_whose_redis_goes_away_answers_unavailable_at_once_then_serves_again(redis_url: str) -> None:
    """The node's own Redis client (on its reactor) meets the outage with words, within its
    bounds, and reconnects by itself once Redis is back."""
    from tcp_proxy import TcpProxy

    proxy = TcpProxy(("127.0.0.1", 6379))
    prefix = redis_url.partition("prefix=")[2]
    try:
        with serving("--sessions", f"redis://127.0.0.1:{proxy.port}/0?prefix={prefix}") as url:
            assert not json_step(url, "before")["end"]
            proxy.down()
            started = time.monotonic()
            for answer in (json_step(url, "before", "1"), json_step(url, "during")):
                assert answer["end"] and "indisponible" in answer["text"], answer
            assert time.monotonic() - started < 10  # bounded by the client's timeout, not hung
            proxy.up()
            for n in range(100):  # reconnected on a later step, after the retry delay (bounded)
                answer = json_step(url, f"after-{n}")
                if not answer["end"]:
                    break
                time.sleep(0.1)
            assert answer["screen"] == "home" and n < 50, (n, answer)
            assert json_step(url, f"after-{n}", "1")["screen"] == "bonus_credit"
    finally:
        proxy.down()


def test_a_node_reaches_redis_on_its_unix_socket(tmp_path: Any) -> None:
    """``sessions: unix:///path`` (a Redis beside the node), for the store and the node's client."""
    import shutil

    from ussd.redis_sessions import RedisSessionStore, redis_client

    socket_path = tmp_path / "redis.sock"
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", "0", "--unixsocket",
                               str(socket_path), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it listens (bounded)
            if socket_path.exists():
                break
            time.sleep(0.05)
        url = f"unix://{socket_path}?prefix=unix-test:"
        client, prefix = redis_client(url)
        assert prefix == "unix-test:" and client.ping()
        with serving("--sessions", url) as node:
            assert json_step(node, "u")["screen"] == "home"
            assert json_step(node, "u", "1")["screen"] == "bonus_credit"
            with urllib.request.urlopen(f"{node}/healthz", timeout=30) as answer:
                assert answer.read().decode() == "ok\n"
        assert len(RedisSessionStore(client, prefix=prefix)) == 1  # the dialogue is in that Redis
        client.close()
    finally:
        terminate(server)  # type: ignore[arg-type]
