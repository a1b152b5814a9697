"""``ussd web``: the handset page, driven end to end in real headless Chromium (Selenium, with
Debian's /usr/bin/chromium and /usr/bin/chromedriver), its endpoints' refusals (one line each),
its loopback-only listening, and its decoders fuzzed.

Every test starts ``ussd web`` as a real process on a port of its choosing (``--port 0``: the line
it prints says which) over a SQLite store of the demo population, in which the demo subscriber
has four more Bonus Mensuel lines than in ``accounts/demo.yaml``: that rubrique then runs to two
pages, so the walk pages with 98. Screenshots go to ``tests/artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import json
import queue
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import terminate

from accounts.demo import DEMO_ACCOUNTS
from accounts.importer import read_subscribers
from accounts.model import Bucket, to_instant
from accounts.policy import load_policy
from accounts.store import open_store
from gateway.ussd_http import Bad
from simulator.web import MAX_WEB_BODY, AdapterStep, WalkAsked, adapter_step, read_move, read_search, read_walk
from ussd.gsm import measure

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SUBSCRIBER = "2250701020304"
#: How long anything the page or the server does may take before the test fails (a bound, never
#: a pause: the waits below return as soon as the condition holds).
WAIT_S = 30


def paged_store(path: Path) -> str:
    """A SQLite store of the demo population, the demo subscriber given four more Bonus Mensuel
    lines (seven in all: two pages). Returns its URL."""
    policy = load_policy()
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        store.put_many(read_subscribers(DEMO_ACCOUNTS, policy.tz))
        for day, amount in ((1, 100), (2, 200), (3, 300), (4, 400)):
            expires = to_instant(datetime(2026, 12, day, 23, 59, 59), policy.tz)
            store.grant(SUBSCRIBER, Bucket("credit", "monthly", amount, expires, "intra"))
    finally:
        store.close()
    return url


@contextmanager
def web(tmp_path: Path, *args: str) -> Iterator[str]:
    """``ussd web --port 0`` over the paged store: yields its URL; stopped with SIGTERM after, its
    exit status 0 and no traceback in its log checked."""
    db = paged_store(tmp_path / "accounts.sqlite3")
    process = subprocess.Popen([sys.executable, "-m", "ussd122", "web", "--port", "0", "--db", db,
                                "--at", "2026-11-25T10:00", *args], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    announced: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # the log, read as it comes, so the process never blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if line.startswith("ussd web: "):
                announced.put(line)
        announced.put("")

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        line = announced.get(timeout=WAIT_S)
        assert "http://127.0.0.1:" in line, "".join(lines)
        yield re.search(r"http://127\.0\.0\.1:[0-9]+", line).group()  # type: ignore[union-attr]
    finally:
        terminate(process)
        process.wait(WAIT_S)
        reader.join(WAIT_S)
        assert process.returncode == 0, "".join(lines)
        assert "Traceback" not in "".join(lines)


def request(url: str, data: bytes | None = None, method: str | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    asked = urllib.request.Request(url, data, headers or {}, method=method)
    try:
        with urllib.request.urlopen(asked, timeout=WAIT_S) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def post(url: str, body: Any) -> tuple[int, str]:
    return request(url, body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"), "POST")


# -- the page in a real browser ------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium through Debian's chromedriver. Missing, the test FAILS (CI installs them:
    .ci/run); Selenium Manager never downloads a browser or a driver (SE_OFFLINE)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver, as .ci/run does)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]'")
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--lang=en-GB", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The handset page, as a tester uses it."""

    def __init__(self, driver: Any) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_S)

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        return str(self.find(selector).text)

    def idle_after(self, steps: int) -> None:
        """Until the walk has ``steps`` screens and the page waits for nothing."""
        body = self.find("body")
        self.wait.until(lambda _: body.get_attribute("data-steps") == str(steps)
                        and body.get_attribute("data-busy") == "0")

    def keypad(self, keys: str) -> None:
        for key in keys:
            self.find(f'.key[data-key="{key}"]').click()

    def screen(self) -> dict[str, Any]:
        """The adapter's answer, as the page shows it raw."""
        return dict(json.loads(self.text("#raw-answer")))

    def shoot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        assert self.driver.save_screenshot(str(ARTIFACTS / f"web-{name}.png"))


def test_a_walk_in_chromium_pages_a_bonus_rubrique_goes_back_and_records_a_passing_transcript(
        tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    records = tmp_path / "records"
    records.mkdir()
    with web(tmp_path, "--record-dir", str(records)) as url:
        browser.get(f"{url}/")
        page = Page(browser)
        page.wait.until(lambda _: page.text("#results"))  # the first subscribers of the store
        page.find("#search").send_keys("0304")  # searchable: digits anywhere in the number
        page.wait.until(lambda _: page.text("#results").split()[:1] == [SUBSCRIBER]
                        and len(browser.find_elements("css selector", "#results li[data-msisdn]")) == 1)
        page.find(f'#results li[data-msisdn="{SUBSCRIBER}"]').click()
        assert page.text("#dial-string") == "#122#"
        page.shoot("1-ready")

        page.find("#call").click()  # dial
        page.idle_after(1)
        home = page.screen()
        assert set(home) == {"text", "end", "screen", "page", "pages", "coding"}
        assert home["screen"] == "home" and home["end"] is False
        assert page.text("#ussd-text") == home["text"]
        measured = measure(home["text"])  # the septets the page shows are ussd/gsm.py's count
        assert page.text("#fact-units") == f"{measured.units}/{measured.limit} septets"
        assert measured.coding == home["coding"] == page.text("#fact-coding") == "gsm7"

        page.keypad("1")  # on the on-screen keypad
        page.find("#call").click()
        page.idle_after(2)
        assert page.screen()["screen"] == "bonus_credit"

        ActionChains(browser).send_keys("1").send_keys(Keys.ENTER).perform()  # on the keyboard
        page.idle_after(3)
        first = page.screen()
        assert (first["screen"], first["page"], first["pages"]) == ("credit_rubrique", 1, 2)
        assert "98. Suite" in first["text"].split("\n")
        assert page.text("#fact-page") == "1/2"
        page.shoot("2-rubrique-page-1")

        page.find('[data-move="+30s"]').click()  # the clock moves for the next step
        page.wait.until(lambda _: page.text("#fact-at") == "2026-11-25 10:00:30")
        page.keypad("98")
        page.find("#send").click()
        page.idle_after(4)
        second = page.screen()
        assert (second["screen"], second["page"]) == ("credit_rubrique", 2)
        assert "Intra: 400 F exp. 04/12/2026 23:59" in second["text"].split("\n")
        page.shoot("3-rubrique-page-2")

        page.keypad("0")  # back: the rubrique's first page, then the sub-account
        page.find("#call").click()
        page.idle_after(5)
        assert (page.screen()["screen"], page.screen()["page"]) == ("credit_rubrique", 1)
        page.keypad("0")
        page.find("#call").click()
        page.idle_after(6)
        assert page.screen()["screen"] == "bonus_credit"
        page.shoot("4-back")

        page.find("#save").click()  # recorded under --record-dir
        page.wait.until(lambda _: page.text("#saved").startswith("saved: "))
        saved = Path(page.text("#saved").removeprefix("saved: "))
        page.shoot("5-saved")
        assert saved.parent == records
        status, downloaded = request(page.find("#download").get_attribute("href"))
    assert status == 200
    text = saved.read_text(encoding="utf-8")
    body = [line for line in text.splitlines() if not line.startswith("# Recorded with")]
    assert [line for line in downloaded.splitlines() if not line.startswith("# Recorded with")] == body
    recorded = yaml.safe_load(text)
    assert (recorded["subscriber"], recorded["code"], recorded["at"]) == (SUBSCRIBER, "#122#", "2026-11-25T10:00:00")
    assert [step.get("reply") for step in recorded["steps"]] == [None, "1", "1", "98", "0", "0"]
    assert recorded["steps"][3]["at"] == "2026-11-25T10:00:30"  # the clock move, as a step's at
    assert len(recorded["subscribers"][0]["buckets"]) == 14  # the fixture as the store held it
    replay = subprocess.run([sys.executable, "-m", "ussd122", "transcript", str(saved)], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    assert replay.returncode == 0 and replay.stdout.splitlines()[-1] == "1 passed, 0 failed", replay.stdout


# -- the endpoints: refusals in one line, loopback only ------------------------------------------

def one_line(answer: tuple[int, str], status: int, start: str = "") -> None:
    code, text = answer
    assert code == status, answer
    assert text.endswith("\n") and text.count("\n") == 1 and "Traceback" not in text, answer
    assert text.startswith(start), answer


def test_endpoints_answer_bad_input_with_a_status_and_one_line(tmp_path: Path) -> None:
    with web(tmp_path) as url:
        status, found = request(f"{url}/web/subscribers?q=0701&limit=5")
        assert status == 200 and [s["msisdn"] for s in json.loads(found)["subscribers"]] == [SUBSCRIBER]
        one_line(request(f"{url}/web/subscribers?q=abc"), 400, "q:")
        one_line(request(f"{url}/web/subscribers?q={'1' * 33}"), 400, "q:")
        one_line(request(f"{url}/web/subscribers?limit=999"), 400, "limit:")
        one_line(request(f"{url}/web/subscribers?limit=%C2%B2"), 400, "limit:")
        one_line(request(f"{url}/web/subscribers?q=%FF"), 400, "query:")
        one_line(request(f"{url}/web/subscribers?other=1"), 400, "query:")

        walks = f"{url}/web/walks"
        good = {"code": "#122#", "msisdn": "07 01 02 03 04", "lang": None, "at": "2026-11-25T10:00"}
        refused: list[tuple[Any, int, str]] = [
            (b"{", 400, "body:"), (b"[]", 400, "body:"), (b"\xff", 400, "body:"), ({**good, "x": 1}, 400, "body:"),
            (b" " * (MAX_WEB_BODY + 1), 413, "body"), (b"x" * 20_000, 413, "body"), (b"[" * 2000, 400, "body:"),
            ({**good, "code": 5}, 400, "code:"), ({**good, "code": "#999#"}, 404, "code:"),
            ({**good, "msisdn": "12"}, 400, "msisdn:"), ({**good, "msisdn": "07\n01"}, 400, "msisdn:"),
            ({**good, "at": None}, 400, "at:"), ({**good, "at": "25/11/2026"}, 400, "at:"),
            ({**good, "lang": "de"}, 400, "lang:")]
        for body, status, start in refused:
            one_line(post(walks, body), status, start)
        one_line(request(walks), 405)
        one_line(request(f"{url}/web/setup", b"{}", "PUT"), 405)
        one_line(request(f"{url}/nowhere"), 404)
        one_line(request(f"{url}/web/walks/nothex"), 400, "walk:")
        one_line(request(f"{url}/web/walks/{'0' * 16}"), 404, "walk:")
        one_line(request(f"{url}/web/setup", headers={"Host": "attacker.example:80"}), 400, "Host:")

        status, made = post(walks, good)
        assert status == 201
        walk = json.loads(made)
        step = {"session": walk["session"], "msisdn": walk["msisdn"], "code": walk["code"]}
        one_line(post(f"{url}/ussd/json", {**step, "input": "1"}), 409)  # a reply before the dial
        one_line(request(f"{url}/web/walks/{walk['walk']}/transcript"), 409)  # nothing to record yet
        one_line(post(f"{url}/ussd/json", {**step, "msisdn": "2250709080706"}), 409)  # another subscriber
        one_line(post(f"{url}/ussd/json", b"{"), 400, "body:")  # the adapter's own refusal
        assert post(f"{url}/ussd/json", step)[0] == 200
        one_line(post(f"{url}/ussd/json", step), 409)  # a second dial in one walk
        clock = f"{url}/web/walks/{walk['walk']}/clock"
        one_line(post(clock, {"at": "+1m1h"}), 400, "at:")
        one_line(post(clock, {"at": "2026-11-24T10:00"}), 400, "at:")  # time only moves on
        one_line(post(clock, {"at": 90}), 400, "at:")
        assert json.loads(post(clock, {"at": "+1d"})[1])["at"] == "2026-11-26T10:00:00+00:00"
        one_line(post(f"{url}/web/walks/{walk['walk']}/transcript", b""), 409, "no --record-dir")
        assert request(f"{url}/openapi.json")[0] == 200


def test_walks_stepping_at_once_each_run_at_their_own_instant_and_language(tmp_path: Path) -> None:
    """The server has one clock and one dial language: walks at different instants and languages,
    their steps sent all at once, each see their own (the steps take turns)."""
    from concurrent.futures import ThreadPoolExecutor

    kinds = {("2026-11-25T10:00", None): "Bonus Crédit: 2 050 F (+1 000 F utilisable le week-end)",
             ("2026-11-28T10:00", "en"): "Credit bonus: 3,050 F", ("2026-11-28T10:00", None): "Bonus Crédit: 3 050 F",
             ("2026-11-25T10:00", "en"): "Credit bonus: 2,050 F (+1,000 F usable at the weekend)"}
    with web(tmp_path) as url:
        walks = []
        for n in range(12):
            at, lang = list(kinds)[n % len(kinds)]
            status, made = post(f"{url}/web/walks", {"code": "*122*1#", "msisdn": SUBSCRIBER, "lang": lang, "at": at})
            assert status == 201, made
            walks.append(((at, lang), json.loads(made)))

        def dial(walk: dict[str, Any]) -> tuple[int, str]:
            return post(f"{url}/ussd/json", {key: walk[key] for key in ("session", "msisdn", "code")})

        with ThreadPoolExecutor(len(walks)) as pool:
            answers = list(pool.map(dial, [walk for _, walk in walks]))
        for (kind, walk), (status, answer) in zip(walks, answers, strict=True):
            assert status == 200, answer
            assert json.loads(answer)["text"].split("\n")[0] == kinds[kind]
            recorded = json.loads(request(f"{url}/web/walks/{walk['walk']}")[1])["steps"]
            assert [step["at"][:16] for step in recorded] == [kind[0]]


def listening_addresses(port: int) -> list[str]:
    """The local addresses of the TCP sockets listening on ``port`` (Linux's /proc/net tables)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.append(address)
    return found


def test_the_page_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    with web(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, and no other socket
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", port), timeout=WAIT_S):
            pass  # another loopback address: nobody listens there
        status, page = request(f"{url}/")
        assert status == 200 and "<title>ussd122 · handset</title>" in page


def test_misuse_of_the_command_is_one_line(tmp_path: Path) -> None:
    def web_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ussd122", "web", *args], cwd=ROOT, text=True,
                              capture_output=True, timeout=120)

    bad_port = web_command("--port", "70000")
    assert bad_port.returncode == 2 and bad_port.stderr.startswith("--port 70000:")
    no_folder = web_command("--record-dir", str(tmp_path / "nowhere"))
    assert no_folder.returncode == 1 and "no such folder" in no_folder.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = web_command("--port", str(taken.getsockname()[1]), "--db", "memory:")
    assert busy.returncode == 1 and "cannot listen" in busy.stderr and "Traceback" not in busy.stderr


# -- the decoders, fuzzed ---------------------------------------------------------------------------

def refused_in_one_line(value: object) -> bool:
    return isinstance(value, Bad) and value.status in (400, 404, 409, 413) and "\n" not in value.reason


TEXT = st.text(max_size=50) | st.sampled_from(["#122#", "0701020304", "+2250701020304", "2026-11-25T10:00", "+90s",
                                              "fr", "en", ""])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(["code", "msisdn", "lang", "at", "session", "input", "x"]),
                                         inner, max_size=6), max_leaves=12)
BODIES = st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode("utf-8"))


@settings(max_examples=400, deadline=None)
@given(BODIES)
def test_any_body_is_read_or_refused_in_one_line_never_an_exception(body: bytes) -> None:
    walk = read_walk(body)
    assert isinstance(walk, WalkAsked) or refused_in_one_line(walk)
    if isinstance(walk, WalkAsked):
        assert len(walk.code) <= 64 and len(walk.msisdn) <= 32 and len(walk.at) <= 40
    move = read_move(body)
    assert isinstance(move, str) or refused_in_one_line(move)
    assert isinstance(adapter_step(body), AdapterStep)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([b"q", b"limit", b"other"]),
                       st.lists(st.binary(max_size=40) | TEXT.map(str.encode), min_size=1, max_size=2), max_size=3))
def test_any_query_is_read_or_refused_in_one_line_never_an_exception(args: dict[bytes, list[bytes]]) -> None:
    asked = read_search(args)
    if isinstance(asked, Bad):
        assert refused_in_one_line(asked)
    else:
        digits, limit = asked
        assert digits.isdigit() or digits == ""
        assert len(digits) <= 32 and 1 <= limit <= 50


def test_the_decoders_read_what_the_page_sends() -> None:
    assert read_walk(b'{"code": "#122#", "msisdn": "0701020304", "lang": "en", "at": "2026-11-25T10:00"}') == \
        WalkAsked("#122#", "0701020304", "en", "2026-11-25T10:00")
    assert read_move(b'{"at": "+90s"}') == "+90s"
    assert read_move(b"[" * 2000) == Bad(400, "body: not JSON")  # nested past Python's depth: refused, not raised
    assert adapter_step(b"[" * 2000) == AdapterStep()
    assert read_search({b"q": [b"07 01"], b"limit": [b"5"]}) == ("0701", 5)
    assert read_search({}) == ("", 10)
    said = adapter_step(b'{"session": "s", "msisdn": "m", "code": "c", "input": "1"}')
    assert said == AdapterStep("s", "1", "m", "c")
    assert adapter_step(b'{"session": 5}') == AdapterStep(msisdn=None)
