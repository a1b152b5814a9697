"""Engine speed: complete dialogues of the shipped #122# menu, against a hand-written baseline.

The baseline walks the same menu with a minimal dict-based state machine (a dict of screen -> key ->
next screen, a list for history, a dict for sessions) and renders with the same renderer, so both
produce the same screens (checked on the first round) and the ratio isolates what the engine adds:
the shared transitions machine, the session store, conditions, validation and bookkeeping.

Runs are interleaved (engine, baseline, engine, ...) and the median round is reported, because
these machines are noisy: the ratio holds, an absolute time does not.

The walks dial one subscriber at one instant, so after the first step the accounts providers
answer from the subscriber's kept snapshot, as they do for a real dialogue's later steps. Each
round also runs both sides with nothing kept (every step resolves the subscriber anew, as a
dialogue's first step does): ``cold_steps_s`` and ``cold_baseline_steps_s``.

    python bench/engine.py [--dialogues 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the project first, in bench/'s place: bench/http.py would hide the standard library's http
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from accounts.catalogue import Pass, load_catalogue  # noqa: E402
from accounts.model import RUBRIQUES  # noqa: E402
from simulator.clock import HandsetClock  # noqa: E402
from simulator.demo import DEMO_MSISDN, demo_engine  # noqa: E402
from ussd.engine import Engine, Scope  # noqa: E402
from ussd.expr import RenderEnv  # noqa: E402
from ussd.registry import ProviderCall  # noqa: E402
from ussd.render import content_lines, paginate_lines, shows_nav, with_error  # noqa: E402

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

#: Complete dialogues: what a subscriber types after dialling #122#.
WALKS: list[list[str]] = [
    ["1", "1", "0", "3", "0", "0", "2", "1", "0", "0", "3", "3", "0", "0"],  # each sub-account's rubriques
    ["4", "00", "5", "0", "6", "1", "2", "0"],  # offer, usage, a pass: confirm then decline
    ["9", "1", "1", "00", "7", "0"],  # a wrong key, credit monthly, favourites
]


def _pass_saves(p: Pass) -> dict[str, Any]:
    """What choosing pass ``p`` in the passes menu saves (the menu's ``save:``)."""
    return {"pass_id": p.id, "pass_name": p.name.get("fr", p.name.get("*")), "price": p.price, "days": p.days}


def _rubriques(account: str, screen: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {str(n): (screen, {"rubrique": r}) for n, r in enumerate(RUBRIQUES[account], 1)}


#: The baseline's hand-written machine for the same menu: screen -> key -> (next screen, inputs saved).
TRANSITIONS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "home": {k: (v, {}) for k, v in {"1": "bonus_credit", "2": "bonus_minutes", "3": "bonus_internet",
                                     "4": "my_offer", "5": "usage", "6": "passes", "7": "favourites"}.items()},
    "bonus_credit": _rubriques("credit", "credit_rubrique"),
    "bonus_minutes": _rubriques("minutes", "minutes_rubrique"),
    "bonus_internet": _rubriques("internet", "internet_rubrique"),
    "passes": {str(n): ("confirm_pass", _pass_saves(p)) for n, p in enumerate(load_catalogue().values(), 1)},
    "confirm_pass": {"2": ("passes", {})},
}


class Baseline:
    """The minimum that produces the same screens: dicts, a history list, the shared renderer."""

    def __init__(self, engine: Engine) -> None:
        self.service = engine.menus.services["122"]
        self.providers = dict(engine.registry.providers)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.invalid = "Choix invalide."
        phone = self.service.phone
        self.env = RenderEnv("fr", country_code=phone.country_code, national_digits=phone.national_digits)
        self.counter = 0

    def _render(self, s: dict[str, Any]) -> str:
        call = ProviderCall(s["msisdn"], AT)
        scope = Scope({"msisdn": s["msisdn"], "now": AT, "lang": "fr", "input": s["inputs"], "result": {}},
                      self.providers, call)
        env = self.env
        screen = self.service.screens[s["screen"]]
        lines = content_lines(self.service, screen, scope, env)
        pages = paginate_lines(self.service, lines, scope, env, nav=shows_nav(self.service, screen),
                               reserve=self.invalid)
        s["pages"] = len(pages)
        s["page"] = min(s["page"], len(pages) - 1)
        error, s["error"] = s["error"], None  # shown once, above the page
        return with_error(error, pages[s["page"]])

    def begin(self, msisdn: str) -> tuple[str, str]:
        self.counter += 1
        sid = str(self.counter)
        s = {"msisdn": msisdn, "screen": "home", "page": 0, "pages": 1, "history": [], "error": None, "inputs": {}}
        self.sessions[sid] = s
        return sid, self._render(s)

    def reply(self, sid: str, text: str) -> str:
        s = self.sessions[sid]
        if text == "00":
            s.update(screen="home", page=0, history=[], error=None)
        elif text == "0":
            if s["page"]:
                s["page"] -= 1
            elif s["history"]:
                s.update(screen=s["history"].pop(), page=0, error=None)
        elif text == "98" and s["page"] + 1 < s["pages"]:
            s["page"] += 1
        else:
            found = TRANSITIONS.get(s["screen"], {}).get(text)
            if found is None:
                s["error"] = self.invalid
            else:
                s["history"].append(s["screen"])
                s["inputs"].update(found[1])
                s.update(screen=found[0], page=0, error=None)
        return self._render(s)


def run(begin: Callable[[], tuple[str, str]], reply: Callable[[str, str], str], dialogues: int,
        latencies: list[float]) -> tuple[int, float, list[list[str]]]:
    steps = 0
    screens: list[list[str]] = []
    clock = time.perf_counter
    started = clock()
    for n in range(dialogues):
        walk = WALKS[n % len(WALKS)]
        t0 = clock()
        sid, text = begin()
        latencies.append(clock() - t0)
        shown = [text]
        for key in walk:
            t0 = clock()
            text = reply(sid, key)
            latencies.append(clock() - t0)
            shown.append(text)
        steps += 1 + len(walk)
        if n < len(WALKS):
            screens.append(shown)
    return steps, clock() - started, screens


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def scale(engine: Engine, live: int) -> str:
    """Open ``live`` dialogues and keep them open, then step through them: the cost of a live
    dialogue (memory) and whether steps slow down as dialogues pile up (they should not)."""
    gc.collect()
    before = _rss_bytes()
    started = time.perf_counter()
    ids = [engine.begin(DEMO_MSISDN, "#122#", AT).session for _ in range(live)]
    opened = time.perf_counter() - started
    gc.collect()
    per_dialogue = (_rss_bytes() - before) / live
    keys = ("1", "0", "4", "0")
    started = time.perf_counter()
    steps = 0
    for n, sid in enumerate(ids[:: max(1, live // 20000)]):
        engine.reply(sid, keys[n % len(keys)], AT)
        steps += 1
    rate = steps / (time.perf_counter() - started)
    assert len(engine.sessions) >= live, "the dialogues should all still be live"
    machine_models = sum(len(sm.machine.models) for sm in engine.machines.values())
    return (f"scale: {live} live dialogues opened in {opened:.1f} s, ~{per_dialogue:.0f} bytes each (RSS), "
            f"{rate:,.0f} steps/s among them, models registered on the machines: {machine_models}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialogues", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--live", type=int, default=100_000, help="live dialogues for the scale check (0: skip)")
    args = ap.parse_args()

    engine = demo_engine(db="memory:", clock=HandsetClock(AT))  # frozen: no dialogue expires
    baseline = Baseline(engine)

    def engine_begin() -> tuple[str, str]:
        r = engine.begin(DEMO_MSISDN, "#122#", AT)
        return r.session, r.text

    def engine_reply(sid: str, text: str) -> str:
        return engine.reply(sid, text, AT).text

    def baseline_begin() -> tuple[str, str]:
        return baseline.begin(DEMO_MSISDN)

    _, _, engine_screens = run(engine_begin, engine_reply, len(WALKS), [])
    _, _, baseline_screens = run(baseline_begin, baseline.reply, len(WALKS), [])
    if engine_screens != baseline_screens:
        print("baseline and engine disagree on the screens; the comparison would be meaningless", file=sys.stderr)
        return 1

    providers = engine.registry.providers["bonus"].__self__  # type: ignore[attr-defined]
    kept = providers.snapshot_limit
    rates: dict[str, list[float]] = {"engine": [], "baseline": [], "cold": [], "cold_baseline": []}
    engine_lat: list[float] = []
    for _ in range(args.rounds):
        for cold in (False, True):
            providers.snapshot_limit = 0 if cold else kept
            providers.snapshots.clear()
            lat: list[float] = []
            steps, seconds, _ = run(engine_begin, engine_reply, args.dialogues, lat)
            rates["cold" if cold else "engine"].append(steps / seconds)
            if not cold:
                engine_lat += lat
            steps, seconds, _ = run(baseline_begin, baseline.reply, args.dialogues, [])
            rates["cold_baseline" if cold else "baseline"].append(steps / seconds)
            baseline.sessions.clear()
    providers.snapshot_limit = kept
    live_line = scale(engine, args.live) if args.live else ""
    engine_lat.sort()
    rate, base, cold, cold_base = (statistics.median(rates[k]) for k in ("engine", "baseline", "cold", "cold_baseline"))
    p50 = engine_lat[len(engine_lat) // 2] * 1e6
    p99 = engine_lat[int(len(engine_lat) * 0.99)] * 1e6
    for name, label in (("engine", "engine"), ("baseline", "baseline"), ("cold", "engine, nothing kept"),
                        ("cold_baseline", "baseline, nothing kept")):
        print(f"{label + ' steps/s per round:':42s} {', '.join(f'{r:,.0f}' for r in rates[name])}")
    if live_line:
        print(live_line)
    print(f"BENCH engine steps_s={rate:.0f} baseline_steps_s={base:.0f} ratio={rate / base:.2f} "
          f"p50_us={p50:.0f} p99_us={p99:.0f} cold_steps_s={cold:.0f} cold_baseline_steps_s={cold_base:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
