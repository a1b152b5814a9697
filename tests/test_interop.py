"""Interop: our gateway against an SMPP implementation that is not ours (Debian's Net::SMPP plays
the centre), with the traffic captured and decoded by Wireshark's tshark: the right
ussd_service_op and its_session_info on every PDU, and no malformed one."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBSCRIBER = "2250701020304"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lines_until(stream, done, limit: int = 200) -> list[str]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    for _ in range(limit):
        line = stream.readline()
        if not line:
            break
        out.append(line.rstrip("\n"))
        if done(line):
            break
    return out


def start_capture(port: int, path: Path) -> subprocess.Popen[str]:
    tshark = subprocess.Popen(["tshark", "-i", "lo", "-f", f"tcp port {port}", "-w", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines_until(tshark.stderr, lambda line: "Capturing on" in line, limit=20)
    return tshark


def test_net_smpp_as_the_centre_and_tshark_decoding_the_link(tmp_path: Path) -> None:
    assert shutil.which("perl") and shutil.which("tshark"), ".ci/run installs libnet-smpp-perl and tshark"
    port = free_port()
    capture = tmp_path / "smpp.pcapng"
    tshark = start_capture(port, capture)
    centre = subprocess.Popen(["perl", str(HERE / "interop" / "netsmpp_centre.pl"), str(port), SUBSCRIBER,
                               "6", "1", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert lines_until(centre.stdout, lambda line: "listening" in line) == ["listening"]
        serve = subprocess.Popen([sys.executable, "-m", "ussd122", "serve", "--smpp", f"smpp://gw:pw@127.0.0.1:{port}",
                                  "--db", "memory:", "--demo", "--at", "2026-11-25T10:00"], cwd=HERE.parent,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            seen = lines_until(centre.stdout, lambda line: "end=1" in line)
            serve.send_signal(signal.SIGTERM)
            seen += lines_until(centre.stdout, lambda line: "unbound" in line)
            assert serve.wait(30) == 0
        finally:
            if serve.poll() is None:
                serve.kill()
    finally:
        centre.kill()
        time.sleep(1)  # the last packets reach the capture
        tshark.send_signal(signal.SIGINT)
        tshark.wait(30)
    screens = [line for line in seen if line.startswith("submit_sm")]
    assert seen[0] == "bind system_id=gw password=pw"
    assert [s.split()[1:5] for s in screens] == [
        ["op=2", "session=7", "sequence=1", "end=0"], ["op=2", "session=7", "sequence=3", "end=0"],
        ["op=2", "session=7", "sequence=5", "end=0"], ["op=17", "session=7", "sequence=7", "end=1"]], seen
    assert "Vous avez achet" in screens[-1] and f"to={SUBSCRIBER}" in screens[-1] and "unbound" in seen
    assert all("deliver_sm_resp status=0" == line for line in seen if line.startswith("deliver_sm_resp"))

    fields = subprocess.run(
        ["tshark", "-r", str(capture), "-d", f"tcp.port=={port},smpp", "-Y", "smpp", "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=|", "-e", "smpp.command_id", "-e", "smpp.ussd_service_op",
         "-e", "smpp.its_session.number", "-e", "smpp.its_session.sequence", "-e", "smpp.its_session.ind"],
        capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    ussd = [line.split("\t") for line in fields if line.split("\t")[1]]
    submits = [row for row in ussd if row[0].startswith("0x00000004")]
    assert [row[1:] for row in submits] == [["2", "7", "0x01", "0x00"], ["2", "7", "0x03", "0x00"],
                                            ["2", "7", "0x05", "0x00"], ["17", "7", "0x07", "0x01"]], fields
    delivers = [row for row in ussd if row[0].startswith("0x00000005")]
    assert [row[1] for row in delivers] == ["1", "18", "18", "18"], fields
    malformed = subprocess.run(
        ["tshark", "-r", str(capture), "-d", f"tcp.port=={port},smpp", "-Y",
         f"_ws.malformed || _ws.expert.severity >= \"warning\" || (tcp.port=={port} && tcp.len>0 && !smpp)"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert malformed.strip() == "", malformed


def test_net_smpp_as_the_esme_against_our_centre() -> None:
    import re

    from simulator.centre_client import CentreHandset

    centre = subprocess.Popen([sys.executable, "-m", "ussd122", "centre", "--port", "0"], cwd=HERE.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    esme = None
    try:
        port = int(re.search(r":(\d+) ", centre.stdout.readline()).group(1))  # type: ignore[union-attr]
        esme = subprocess.Popen(["perl", str(HERE / "interop" / "netsmpp_esme.pl"), str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert lines_until(esme.stdout, lambda line: "bound" in line) == ["bound status=0"]
        with CentreHandset("127.0.0.1", port, timeout=30) as handset:
            first = handset.begin(SUBSCRIBER, "#122#")
            assert (first.text, first.end) == ("Menu Perl\n1. Suite", False)
            last = handset.reply("1")
            assert (last.text, last.end) == ("Merci, au revoir", True)
        centre.send_signal(signal.SIGTERM)  # the centre unbinds its ESMEs as it stops
        seen = lines_until(esme.stdout, lambda line: "unbound" in line)
        assert centre.wait(30) == 0
    finally:
        for process in (esme, centre):
            if process is not None and process.poll() is None:
                process.kill()
    assert seen[:4] == ["deliver_sm op=1 session=0 sequence=0 end=0 text=#122#", "submit_sm_resp status=0",
                        "deliver_sm op=18 session=0 sequence=2 end=0 text=1", "submit_sm_resp status=0"], seen
    assert seen[-1] == "unbound"
    assert "violation" not in centre.stderr.read()
