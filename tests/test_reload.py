"""Menus reloaded under running dialogues (sans-IO): new dialogues begin on the new version, those
already running finish on the one they began on, and versions nobody can still be on are dropped."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import AT, FakeClock

from ussd.engine import RETIRED_VERSIONS, Engine
from ussd.loader import load_menus, load_menus_or_raise
from ussd.model import MenuSet
from ussd.registry import Registry
from ussd.sessions import MemorySessionStore

CALLER = "2250701020304"
MAX_DURATION = 180.0


def write_menu(folder: Path, tag: str, *, code: str = "*777#", target: str = "next") -> None:
    """A two-screen service whose words carry ``tag``, in ``folder``/m.yaml (``target``: where its
    one option goes; another name than ``next`` makes it fail the checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.yaml").write_text(f"""service:
  code: "{code}"
  entry: home
screens:
  home:
    type: menu
    text: "Accueil {tag}"
    options:
      - label: "Suite"
        goto: {target}
  next:
    type: end
    text: "Fin {tag}"
""", encoding="utf-8")


def menu(folder: Path, tag: str, *, code: str = "*777#") -> MenuSet:
    """:func:`write_menu`'s service, loaded."""
    write_menu(folder, tag, code=code)
    return load_menus_or_raise([folder], Registry())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def engine_on(menus: MenuSet, clock: FakeClock) -> Engine:
    return Engine(menus, Registry(), MemorySessionStore(clock, 60.0, MAX_DURATION), clock=lambda: AT)


def test_the_version_is_what_the_files_hold(tmp_path: Path) -> None:
    one = menu(tmp_path / "a", "v1")
    assert one.version == menu(tmp_path / "a", "v1").version != ""
    assert menu(tmp_path / "a", "v2").version != one.version
    broken = load_menus([tmp_path / "none"], Registry())
    assert broken.problems and broken.menus.version != one.version


def test_a_running_dialogue_finishes_on_the_menus_it_began_on(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v1"), clock)
    running = engine.begin(CALLER, "*777#")
    assert "Accueil v1" in running.text
    assert engine.reload(menu(tmp_path, "v2"))
    fresh = engine.begin(CALLER, "*777#")
    assert "Accueil v2" in fresh.text
    assert engine.reply(running.session, "1").text == "Fin v1"
    assert engine.reply(fresh.session, "1").text == "Fin v2"
    assert engine.retired() == [menu(tmp_path, "v1").version]


def test_a_service_the_new_menus_drop_still_serves_its_running_dialogues(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v1"), clock)
    running = engine.begin(CALLER, "*777#")
    engine.reload(menu(tmp_path, "v2", code="*778#"))
    assert engine.begin(CALLER, "*777#").end  # no longer served to new dialogues
    assert engine.reply(running.session, "1").text == "Fin v1"


def test_the_same_files_again_change_nothing(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v1"), clock)
    current = engine.current
    assert not engine.reload(menu(tmp_path, "v1"))
    assert engine.current is current and engine.retired() == []


def test_going_back_to_an_older_version_serves_both_its_old_and_new_dialogues(tmp_path: Path,
                                                                               clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v1"), clock)
    on_one = engine.begin(CALLER, "*777#")
    engine.reload(menu(tmp_path, "v2"))
    on_two = engine.begin(CALLER, "*777#")
    engine.reload(menu(tmp_path, "v1"))
    assert engine.retired() == [menu(tmp_path, "v2").version]
    assert engine.reply(on_one.session, "1").text == "Fin v1"
    assert engine.reply(on_two.session, "1").text == "Fin v2"


def test_versions_are_dropped_once_no_dialogue_can_be_on_them(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v1"), clock)
    engine.reload(menu(tmp_path, "v2"))
    clock.advance(MAX_DURATION + 1)  # every dialogue begun on v1 is past its longest life
    engine.reload(menu(tmp_path, "v3"))
    assert engine.retired() == [menu(tmp_path, "v2").version]


def test_past_the_limit_a_dialogue_goes_on_with_the_menus_served_if_they_hold_its_screen(tmp_path: Path,
                                                                                         clock: FakeClock) -> None:
    engine = engine_on(menu(tmp_path, "v0"), clock)
    oldest = engine.begin(CALLER, "*777#")
    for n in range(1, RETIRED_VERSIONS + 2):
        engine.reload(menu(tmp_path, f"v{n}"))
    assert len(engine.retired()) == RETIRED_VERSIONS
    assert engine.reply(oldest.session, "1").text == f"Fin v{RETIRED_VERSIONS + 1}"  # its screen is still there


def test_a_version_this_node_never_loaded_goes_on_with_the_menus_served_or_says_expired(tmp_path: Path,
                                                                                          clock: FakeClock) -> None:
    """As with a rolling reload: a dialogue begun on a node already on new menus steps on one not
    yet reloaded."""
    sessions = MemorySessionStore(clock, 60.0, MAX_DURATION)
    new = Engine(menu(tmp_path / "new", "v2"), Registry(), sessions, clock=lambda: AT)
    old = Engine(menu(tmp_path / "old", "v1"), Registry(), sessions, clock=lambda: AT)
    begun = new.begin(CALLER, "*777#")
    assert old.reply(begun.session, "1").text == "Fin v1"
    gone = Engine(menu(tmp_path / "gone", "v3", code="*778#"), Registry(), sessions, clock=lambda: AT)
    again = new.begin(CALLER, "*777#")
    ended = gone.reply(again.session, "1")
    assert ended.end and "Fin" not in ended.text and ended.text  # no such service here: expired, not a crash


def test_the_version_does_not_depend_on_where_the_files_lie(tmp_path: Path) -> None:
    assert menu(tmp_path / "here", "v1").version == menu(tmp_path / "there" / "deeper", "v1").version


def test_steps_on_worker_threads_while_the_menus_are_reloaded(tmp_path: Path, clock: FakeClock) -> None:
    """Each dialogue sees one version from its dial to its end, whatever reloads run meanwhile."""
    versions = [menu(tmp_path / f"v{n}", f"v{n}") for n in range(3)]
    engine = engine_on(versions[0], clock)
    failures: list[str] = []
    stop = threading.Event()

    def reloader() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            engine.reload(versions[n % 3])

    def caller(worker: int) -> None:
        for n in range(300):
            home = engine.begin(CALLER, "*777#", session_id=f"{worker}-{n}")
            tag = home.text.split("\n")[0].removeprefix("Accueil ")
            end = engine.reply(home.session, "1")
            if end.text != f"Fin {tag}":
                failures.append(f"{home.text!r} then {end.text!r}")

    reloading = threading.Thread(target=reloader)
    reloading.start()
    callers = [threading.Thread(target=caller, args=(worker,)) for worker in range(4)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(timeout=120)
    stop.set()
    reloading.join(timeout=60)
    assert not failures, failures[:3]
    assert not any(thread.is_alive() for thread in [reloading, *callers])
    assert len(engine.sessions) == 0


def test_a_reload_asked_while_one_runs_is_refused_not_queued(tmp_path: Path) -> None:
    from twisted.internet import reactor

    from gateway.config import ServerConfig
    from gateway.server import ReloadRunning, Server
    from gateway.service import build

    write_menu(tmp_path, "v1")
    server = Server(build(ServerConfig(db="memory:", menus=(str(tmp_path),))), reactor)
    try:
        server._reloading = True  # one is running
        refused: list[Any] = []
        server.reload("again").addErrback(refused.append)
        assert refused and refused[0].check(ReloadRunning) and "already running" in refused[0].getErrorMessage()
    finally:
        server.service.close()
