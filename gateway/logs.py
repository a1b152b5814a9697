"""The gateway's log: one JSON object a line, subscribers' numbers masked but for their last four
digits (a log is read by more people than the subscriber data is)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from twisted.logger import ILogObserver
    from twisted.python.failure import Failure

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
        fields = getattr(record, "fields", None)
        if record.exc_info:
            fields = {**(fields if isinstance(fields, dict) else {}),
                      "error": self.formatException(record.exc_info).splitlines()[-1]}
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(),
                         fields if isinstance(fields, dict) else None)


def error_name(failure: Failure) -> str:
    """The class of the error ``failure`` holds, as a log line names it."""
    return type(failure.value).__name__


def stamp(created: float) -> str:
    """The log's instant: UTC, to the millisecond."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created * 1000) % 1000:03d}Z"


def json_line(created: float, level: str, logger: str, message: str, fields: Mapping[str, Any] | None = None) -> str:
    """One log line: the instant (``time.time()``), level, logger, message and fields, numbers masked."""
    out: dict[str, Any] = {
        "at": stamp(created),
        "level": level,
        "logger": logger,
        "message": mask(message),
    }
    if fields:
        out.update({key: mask(value) if isinstance(value, str) else value for key, value in fields.items()})
    return json.dumps(out, ensure_ascii=False, default=str)


class AccessLog:
    """The HTTP access log: lines like the rest of the log's, written to ``fd`` in batches of at
    most :attr:`BATCH` octets (whole lines: a batch stays one atomic write on a pipe) when a batch
    fills, when :meth:`flush` is called (a timer of the server's, its stop). A line a request
    through the logging module cost as much as the engine's step (a record, a handler's lock, a
    formatter, a write each): about a quarter of a request's time on the reactor's thread.
    Written from one thread (the reactor's)."""

    BATCH = 4096
    LOGGER = "ussd.http.access"

    def __init__(self, fd: int = 2, clock: Callable[[], float] = time.time) -> None:
        self.fd = fd
        self.clock = clock
        self._lines: list[bytes] = []
        self._size = 0

    def write(self, message: str) -> None:
        """``message``, a line as :func:`json_line` makes it, with the keys written out here (the
        whole line through a dictionary and ``json.dumps`` cost more than the rest of it)."""
        line = (f'{{"at": "{stamp(self.clock())}", "level": "info", "logger": "{self.LOGGER}", '
                f'"message": {json.dumps(mask(message), ensure_ascii=False)}}}\n').encode()
        if self._size + len(line) > self.BATCH:
            self.flush()
        self._lines.append(line)
        self._size += len(line)

    def flush(self) -> None:
        if not self._lines:
            return
        batch, self._lines, self._size = b"".join(self._lines), [], 0
        try:
            while batch:
                batch = batch[os.write(self.fd, batch):]
        except OSError:  # a log that cannot be written must not stop the service
            pass


def log_to(stream: TextIO = sys.stderr, level: int = logging.INFO) -> logging.Handler:
    """Send every log record to ``stream`` as JSON lines (what ``ussd serve`` and ``ussd centre`` do)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # transitions logs every transition at INFO: a line per step of every dialogue
    logging.getLogger("transitions").setLevel(max(level, logging.WARNING))
    # Twisted's own log (an unhandled error in a Deferred, a protocol's exception) goes the same
    # way, masked, instead of plain-text tracebacks on stderr.
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    # an ILogObserver, which mypy cannot see without the mypy-zope plugin (see gateway.reactor)
    observer = cast("ILogObserver", STDLibLogObserver())
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    return handler
