"""The gateway's runtime parts: steps of one dialogue in order on the worker pool, others beside
them; JSON log lines with numbers masked."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

from twisted.internet.task import Clock

from gateway.esme import StepRunner
from gateway.logs import JsonLines, mask


class ImmediateReactor(Clock):
    """Enough of a reactor for deferToThreadPool: callFromThread runs at once (under a lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def callFromThread(self, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            f(*args, **kwargs)


def test_steps_of_one_dialogue_run_in_order_and_others_beside_them() -> None:
    runner = StepRunner(ImmediateReactor(), workers=4)
    runner.start()
    seen: list[str] = []
    slow_started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        slow_started.set()
        release.wait(30)
        seen.append("a1")
        return "a1"

    try:
        first = runner.run("a", slow)
        second = runner.run("a", lambda: seen.append("a2") or "a2")
        assert slow_started.wait(30)
        other = runner.run("b", lambda: seen.append("b1") or "b1")
        for _ in range(3000):  # the other dialogue's step is not held up by the slow one
            if "b1" in seen:
                break
            time.sleep(0.01)
        assert seen == ["b1"] and runner.pending == 2
        release.set()
        for _ in range(3000):
            if len(seen) == 3:
                break
            time.sleep(0.01)
        assert seen == ["b1", "a1", "a2"] and runner.pending == 0
        results: list[str] = []
        for d in (first, second, other):
            d.addCallback(results.append)
        assert results == ["a1", "a2", "b1"]
    finally:
        release.set()
        runner.stop()


def test_numbers_are_masked_but_their_last_four_digits() -> None:
    assert mask("from 2250701020304 to 122, +2250505050505") == "from *********0304 to 122, **********0505"
    assert mask("command_id 0x00000007, seq 12345678") == "command_id 0x00000007, seq ****5678"
    record = logging.LogRecord("ussd.smpp", logging.INFO, __file__, 1, "dialogue of %s", ("2250701020304",), None)
    record.fields = {"msisdn": "0701020304", "status": 88}
    line = json.loads(JsonLines().format(record))
    assert (line["message"], line["msisdn"], line["status"], line["level"]) == (
        "dialogue of *********0304", "******0304", 88, "info")
