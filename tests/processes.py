"""Processes a test starts: stopped as an operator stops them (SIGTERM), killed if they hang."""

from __future__ import annotations

import signal
import subprocess


def terminate(process: subprocess.Popen[str], grace: float = 30.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)
