"""The gateway's runtime parts: steps of one dialogue in order on the worker pool, others beside
them; JSON log lines with numbers masked."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from gateway.logs import AccessLog, JsonLines, json_line, mask
from gateway.steps import WATCH_S, Redo, StepRunner


class ImmediateReactor(Clock):
    """Enough of a reactor for the step runner: callFromThread runs at once (under a lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def callFromThread(self, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            f(*args, **kwargs)


def test_steps_of_one_dialogue_run_in_order_and_others_beside_them() -> None:
    reactor = ImmediateReactor()
    runner = StepRunner(reactor, workers=4)
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
        for _ in range(3000):  # the other dialogue's step is not held up by the slow one: the
            if "b1" in seen:  # ready queue made no progress for a watch, so a second worker took it
                break
            with reactor.lock:
                reactor.advance(WATCH_S)
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


def test_quick_steps_keep_one_worker_busy_instead_of_waking_them_all() -> None:
    """Only one thread runs Python at a time: a worker woken for a step another awake worker
    would take as soon is a context switch for nothing, so none is woken while steps move."""
    reactor = ImmediateReactor()
    runner = StepRunner(reactor, workers=8)
    runner.start()
    ran_on: list[str] = []
    done: list[object] = []
    try:
        for n in range(300):
            runner.run(f"dialogue-{n}", lambda: ran_on.append(threading.current_thread().name)).addBoth(done.append)
        for _ in range(3000):
            if len(done) == 300:
                break
            time.sleep(0.01)
        assert len(done) == 300 and runner.pending == 0
        assert len(set(ran_on)) == 1, sorted(set(ran_on))
    finally:
        runner.stop()


class RecordingIO:
    """A step's I/O around it that says what ran when (the reactor's part: ``before``, ``after``;
    the worker's: ``within``); ``redo`` makes its ``after`` ask for that work instead."""

    def __init__(self, name: str, log: list[str], redo: Redo | None = None) -> None:
        self.name, self.log, self.redo = name, log, redo
        self.later: list[Any] = []

    def before(self, then: Any) -> None:
        self.log.append(f"{self.name}:before")
        self.later.append(then)  # answered later, as a Redis reply is

    def within(self, work: Any) -> Any:
        self.log.append(f"{self.name}:within")
        return work()

    def after(self, value: Any, then: Any) -> None:
        self.log.append(f"{self.name}:after")
        self.later.append(lambda: then(self.redo if self.redo is not None else value))


def test_a_steps_io_runs_around_it_and_the_dialogues_next_step_waits_for_its_writes() -> None:
    reactor = ImmediateReactor()
    runner = StepRunner(reactor, workers=2)
    runner.start()
    log: list[str] = []
    retried = RecordingIO("retry", log)
    first = RecordingIO("first", log, redo=Redo(lambda: log.append("shown") or "shown", retried))
    second = RecordingIO("second", log)
    results: list[Any] = []

    def settle(*ios: RecordingIO) -> None:
        for _ in range(3000):  # each reply in turn, once it is asked for (bounded)
            pending = [stage for stage in ios if stage.later]
            if not pending:
                if len(results) == 2:
                    return
                time.sleep(0.01)
                continue
            with reactor.lock:
                pending[0].later.pop(0)()

    try:
        runner.run("d", lambda: log.append("step 1") or "lost", first).addCallback(results.append)
        runner.run("d", lambda: log.append("step 2") or "next", second).addCallback(results.append)
        settle(first, retried, second)
        assert results == ["shown", "next"]  # the lost step's answer is the redo's
        assert log == ["first:before", "first:within", "step 1", "first:after",
                       "retry:before", "retry:within", "shown", "retry:after",
                       "second:before", "second:within", "step 2", "second:after"]
        assert runner.pending == 0
    finally:
        runner.stop()


def test_numbers_are_masked_but_their_last_four_digits() -> None:
    assert mask("from 2250701020304 to 122, +2250505050505") == "from *********0304 to 122, **********0505"
    assert mask("command_id 0x00000007, seq 12345678") == "command_id 0x00000007, seq ****5678"
    record = logging.LogRecord("ussd.smpp", logging.INFO, __file__, 1, "dialogue of %s", ("2250701020304",), None)
    record.fields = {"msisdn": "0701020304", "status": 88}
    line = json.loads(JsonLines().format(record))
    assert (line["message"], line["msisdn"], line["status"], line["level"]) == (
        "dialogue of *********0304", "******0304", 88, "info")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=60))
def test_access_lines_go_out_whole_in_batches_as_the_log_writes_them(messages: list[str]) -> None:
    """Each batch is one write of whole lines within the batch size (one atomic write on a pipe,
    never torn by another thread's log line); each line is what the log's formatter makes."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    access = AccessLog(write, clock=lambda: 1764064800.25)
    try:
        writes: list[bytes] = []
        for message in messages:
            access.write(message)
            with contextlib.suppress(BlockingIOError):
                writes.append(os.read(read, 1 << 20))
        access.flush()
        with contextlib.suppress(BlockingIOError):
            writes.append(os.read(read, 1 << 20))
    finally:
        os.close(read)
        os.close(write)
    lines = b"".join(writes).decode("utf-8").split("\n")[:-1]
    assert lines == [json_line(1764064800.25, "info", AccessLog.LOGGER, message) for message in messages]
    longest = max((len(line.encode()) + 1 for line in lines), default=0)
    assert all(w.endswith(b"\n") and len(w) <= max(AccessLog.BATCH, longest) for w in writes)


def test_a_stop_past_its_deadline_skips_the_steps_not_started_and_cancels_none() -> None:
    from gateway.steps import StepSkipped

    clock = ImmediateReactor()
    runner = StepRunner(clock, workers=1)
    runner.start()
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def slow() -> str:
        started.set()
        release.wait(30)
        ran.append("slow")
        return "slow"

    outcomes: list[object] = []
    try:
        runner.run("a", slow).addBoth(outcomes.append)
        runner.run("a", lambda: ran.append("next") or "next").addBoth(outcomes.append)
        assert started.wait(30)
        drained: list[bool] = []
        runner.drained(5.0).addCallback(drained.append)
        clock.advance(5.0)  # the deadline passes with the slow step still running
        assert drained == [False] and outcomes == []  # nothing cancelled, nothing run out of order
        runner.closing = True
        release.set()
        for _ in range(3000):
            if len(outcomes) == 2:
                break
            time.sleep(0.01)
        assert outcomes[0] == "slow" and ran == ["slow"]
        assert getattr(outcomes[1], "type", None) is StepSkipped  # its turn came after the stop: skipped
    finally:
        release.set()
        runner.stop()


def test_a_bind_left_unanswered_drops_the_link() -> None:
    from twisted.internet.testing import StringTransport

    from gateway.config import SmppLink
    from gateway.esme import EsmeProtocol, Gateway

    clock = Clock()
    link = EsmeProtocol(Gateway(None, StepRunner(clock, 1)), SmppLink("127.0.0.1", response_timeout=2.0),  # type: ignore[arg-type]
                        "transceiver", clock)
    transport = StringTransport()
    link.makeConnection(transport)
    assert transport.value()[4:8] == b"\x00\x00\x00\x09"  # bind_transceiver sent
    clock.advance(1.9)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting, "a centre that never answers the bind must not hold the link"


def test_a_step_that_fails_ends_the_dialogue_with_words_not_silence() -> None:
    from twisted.internet.testing import StringTransport

    from gateway import pdu
    from gateway.config import SmppLink
    from gateway.esme import EsmeProtocol, Gateway
    from gateway.smpp_session import Request, SmppSession
    from gateway.ussd_smpp import UssdSmpp
    from simulator.demo import demo_engine
    from ussd import gsm

    engine = demo_engine()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a provider")

    engine.begin = broken  # type: ignore[method-assign]

    clock = ImmediateReactor()
    runner = StepRunner(clock, 1)
    runner.start()
    try:
        config = SmppLink("127.0.0.1")
        gateway = Gateway(engine, runner, {config.centre: UssdSmpp(peer=config.centre)})
        link = EsmeProtocol(gateway, config, "transceiver", clock)
        transport = StringTransport()
        link.makeConnection(transport)
        centre = SmppSession("smsc")
        [bind] = centre.receive(transport.value())
        transport.clear()
        centre.accept_bind(bind.pdu)
        link.dataReceived(centre.data_to_send())
        centre.request("deliver_sm", source_addr="2250701020304", destination_addr="122", short_message=b"#122#",
                       ussd_service_op=1, its_session_info=0x0100)
        link.dataReceived(centre.data_to_send())
        submits: list[pdu.Pdu] = []
        read = 0
        for _ in range(3000):
            data = transport.value()
            submits += [e.pdu for e in centre.receive(data[read:]) if isinstance(e, Request)]
            read = len(data)
            if submits:
                break
            time.sleep(0.01)
        [screen] = submits
        assert screen.get("ussd_service_op") == 17 and screen.get("its_session_info") & 1
        assert gsm.decode_gsm7(screen.get("short_message")).startswith("Service momentan")
        assert gateway.stats["faults"] == 1
    finally:
        runner.stop()


def test_screens_that_go_with_a_dropped_link_are_counted_lost() -> None:
    from twisted.internet.testing import StringTransport

    from gateway.config import SmppLink
    from gateway.esme import EsmeProtocol, Gateway
    from gateway.smpp_session import SmppSession

    clock = Clock()
    gateway = Gateway(None, StepRunner(clock, 1))  # type: ignore[arg-type]
    link = EsmeProtocol(gateway, SmppLink("127.0.0.1", window=1), "transceiver", clock)
    transport = StringTransport()
    link.makeConnection(transport)
    centre = SmppSession("smsc")
    [bind] = centre.receive(transport.value())
    centre.accept_bind(bind.pdu)
    link.dataReceived(centre.data_to_send())
    for _ in range(3):  # one in flight, two waiting for the window
        link.submit({"source_addr": "122", "destination_addr": "2250701020304", "short_message": b"x"})
    link.connectionLost()
    assert gateway.stats["lost"] == 3
