"""The gateway's log: one JSON object a line, subscribers' numbers masked but for their last four
digits (a log is read by more people than the subscriber data is)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

#: Runs of digits long enough to be a phone number (the short code 122, counts, and hex values
#: such as 0x00000007 are left alone).
_NUMBER = re.compile(r"(?<![0-9A-Za-z])\+?\d{8,}(?![0-9A-Za-z])")


def mask(text: str) -> str:
    """Every phone number in ``text`` with all but its last four digits hidden."""
    return _NUMBER.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)


class JsonLines(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, and the fields given in
    ``extra={"fields": {...}}``; numbers masked in all of them."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({key: mask(value) if isinstance(value, str) else value for key, value in fields.items()})
        if record.exc_info:
            out["error"] = mask(self.formatException(record.exc_info).splitlines()[-1])
        return json.dumps(out, ensure_ascii=False, default=str)


def log_to(stream: TextIO = sys.stderr, level: int = logging.INFO) -> logging.Handler:
    """Send every log record to ``stream`` as JSON lines (what ``ussd serve`` and ``ussd centre`` do)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Twisted's own log (an unhandled error in a Deferred, a protocol's exception) goes the same
    # way, masked, instead of plain-text tracebacks on stderr.
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    return handler
