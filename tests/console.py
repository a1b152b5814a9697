"""Running the real ``ussd`` console script from tests: one place for how it is started.

Each run gets a private XDG_DATA_HOME (so the embedded SQLite file is never the user's own) and no
USSD_MENUS / USSD_DB from the caller's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USSD = str(Path(sys.executable).with_name("ussd"))
DATA_HOME = tempfile.mkdtemp(prefix="ussd-tests-")


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def no_traceback(self) -> bool:
        return "Traceback" not in self.out and "Traceback" not in self.err


def console_env(data_home: str | Path = DATA_HOME) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("USSD_MENUS", "USSD_DB")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["XDG_DATA_HOME"] = str(data_home)
    return env


def ussd(*args: str, stdin: str = "", cwd: Path = ROOT, data_home: str | Path = DATA_HOME) -> Run:
    done = subprocess.run([USSD, *args], input=stdin.encode(), capture_output=True, cwd=cwd, timeout=60,
                          env=console_env(data_home))
    return Run(done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))
