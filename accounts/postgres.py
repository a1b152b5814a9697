"""The store for several gateway nodes: PostgreSQL through psycopg 3.

A debit locks the subscriber's row (``SELECT ... FOR UPDATE``) for the length of its transaction,
so concurrent debits of one subscriber from any number of nodes apply one after the other.
The schema is created by ``ussd accounts migrate --db URL``.

Faults: no operation waits longer than the store's ``timeout``: ``lock_timeout`` and
``statement_timeout`` on the server, TCP keepalives and ``tcp_user_timeout`` for a host that
vanishes, and a watchdog (:mod:`accounts.watchdog`) for a server that stops answering. A lost
connection is dropped and the thread's next operation opens another, so a restart or a failover
costs no process restart; an operation that had sent nothing yet (a read, or a write's ``BEGIN``)
is tried once more on the new connection. Every driver error becomes one of the store's errors.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import psycopg

from .backend import (
    DEFAULT_TIMEOUT_S,
    StoreConflict,
    StoreDenied,
    StoreError,
    StoreRefused,
    StoreSchemaMissing,
    StoreTimeout,
    StoreUnreachable,
    redact,
    scrub,
)
from .sql import Cursor, SqlAccountStore
from .watchdog import Armed, Watchdog

T = TypeVar("T")

#: libpq counts its connect timeout in whole seconds, and treats less than 2 as 2.
MIN_CONNECT_TIMEOUT_S = 2

#: SQLSTATEs -> the store's error (then by class, the first two characters; see the manual's
#: appendix A, "PostgreSQL Error Codes").
_BY_STATE: dict[str, type[StoreError]] = {
    "42P01": StoreSchemaMissing,  # undefined_table
    "55P03": StoreTimeout,  # lock_not_available: lock_timeout
    "57014": StoreTimeout,  # query_canceled: statement_timeout
    "25P03": StoreTimeout,  # idle_in_transaction_session_timeout
    "40001": StoreConflict,  # serialization_failure
    "40P01": StoreConflict,  # deadlock_detected
    "42501": StoreDenied,  # insufficient_privilege
    "25006": StoreDenied,  # read_only_sql_transaction (a standby)
    "57P01": StoreUnreachable,  # admin_shutdown (pg_terminate_backend, a restart)
    "57P02": StoreUnreachable,  # crash_shutdown
    "57P03": StoreUnreachable,  # cannot_connect_now (starting up, shutting down)
}
_BY_CLASS: dict[str, type[StoreError]] = {
    "08": StoreUnreachable,  # connection exception
    "53": StoreUnreachable,  # insufficient resources (too many connections, disk full)
    "28": StoreDenied,  # invalid authorization
    "22": StoreRefused,  # data exception
    "23": StoreRefused,  # integrity constraint violation
}


def _shut(fd: int) -> None:
    """End the TCP connection on ``fd`` (both ways): a driver blocked on it wakes up at once."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()


class PostgresAccountStore(SqlAccountStore):
    placeholder = "%s"

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(url, timeout)
        self._schema_ready = False
        self._migrating = False
        self._watchdog = Watchdog(tick=min(0.05, timeout / 20))
        self._connection()  # a wrong URL or a server down fails here, not at the first step

    # -- connections -------------------------------------------------------------------------

    def _open(self) -> psycopg.Connection[Any]:
        bound = f"{max(1, int(self.timeout * 1000))}ms"
        try:
            conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(MIN_CONNECT_TIMEOUT_S, math.ceil(self.timeout)),
                keepalives=1, keepalives_idle=1, keepalives_interval=1,
                keepalives_count=max(1, math.ceil(self.timeout)), tcp_user_timeout=int(self.timeout * 1000))
        except psycopg.Error as exc:
            raise self._error(exc, "cannot connect to ") from exc
        try:
            conn.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false), "
                         "set_config('idle_in_transaction_session_timeout', %s, false)", (bound, bound, bound))
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _attempt(self, op: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``op`` on this thread's connection, bounded; tried once more on a new connection if the
        one it had was found lost (``op`` must be safe to repeat: a read, a ``BEGIN``)."""
        for again in (True, False):
            conn = self._connection()
            armed = self._watchdog.arm(self.timeout, partial(_shut, conn.pgconn.socket))
            try:
                result = op(conn)
            except psycopg.Error as exc:
                error = self._failed(conn, armed, exc)
                if again and type(error) is StoreUnreachable:
                    continue
                raise error from exc
            self._done(conn, armed)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _done(self, conn: psycopg.Connection[Any], armed: Armed) -> None:
        """The operation succeeded; if the watchdog cut its connection just as it ended, the
        result stands but the connection goes."""
        if not self._watchdog.disarm(armed):
            self._discard(conn)

    def _failed(self, conn: psycopg.Connection[Any], armed: Armed, exc: psycopg.Error) -> StoreError:
        """The store's error for a failed operation; a connection that cannot go on is dropped."""
        cut = not self._watchdog.disarm(armed)
        if cut or conn.broken or conn.closed:
            self._discard(conn)
        if cut:
            return StoreTimeout(f"{redact(self.url)}: no answer within {self.timeout:g} s")
        return self._error(exc)

    def _error(self, exc: psycopg.Error, prefix: str = "") -> StoreError:
        state = exc.sqlstate or ""
        kind = _BY_STATE.get(state) or _BY_CLASS.get(state[:2])
        if kind is None:
            kind = StoreUnreachable if isinstance(exc, psycopg.OperationalError) and not state else StoreError
        if kind is StoreSchemaMissing:
            return kind(f"{redact(self.url)} has no schema: run `ussd accounts migrate --db URL`")
        return kind(f"{prefix}{redact(self.url)}: {scrub(' '.join(str(exc).split()), self.url)}")

    # -- the dialect -------------------------------------------------------------------------

    def _read(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._attempt(lambda conn: conn.execute(query, params, prepare=True).fetchall())

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        if not self._schema_ready and not self._migrating:
            self._check_schema()
        conn = self._attempt(lambda conn: (conn.execute("BEGIN"), conn)[1])
        armed = self._watchdog.arm(self.timeout, partial(_shut, conn.pgconn.socket))
        try:
            with conn.cursor() as cur:
                yield cur
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            error = self._failed(conn, armed, exc)
            self._abandon(conn)
            raise error from exc
        except BaseException:
            self._abandon(conn)
            self._done(conn, armed)
            raise
        self._done(conn, armed)

    def _abandon(self, conn: psycopg.Connection[Any]) -> None:
        """Roll back a transaction that failed half-way, or drop its connection if even that fails."""
        if conn.closed:
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            self._discard(conn)

    def _check_schema(self) -> None:
        """Refuse writes to a database without the schema before starting one: a batch written in
        pipeline mode would otherwise fail half-way and leave psycopg complaining on stderr."""
        row = self._read("SELECT to_regclass('subscribers')", ())
        if not row or row[0][0] is None:
            raise StoreSchemaMissing(f"{redact(self.url)} has no schema: run `ussd accounts migrate --db URL`")
        self._schema_ready = True

    def migrate(self) -> None:
        self._migrating = True
        try:
            super().migrate()
        finally:
            self._migrating = False
        self._schema_ready = True

    def _lock_subscriber(self, cur: Cursor, msisdn: str) -> tuple[Any, ...] | None:
        cur.execute("SELECT balance, buckets, main_expires FROM subscribers WHERE msisdn = %s FOR UPDATE", (msisdn,))
        return cur.fetchone()

    def close(self) -> None:
        self._watchdog.close()
        super().close()
