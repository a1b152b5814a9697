"""Dialogues in Redis, for several gateway nodes sharing them.

Each dialogue is a hash ``{prefix}s:{id}``: ``v`` (the record's format), ``rev`` (bumped by every
store) and ``rec`` (the record: its fields as a JSON array, :data:`FORMAT`). Redis forgets it by
itself: its TTL is what is left of the dialogue's life (the idle timeout from the last step, or the
total limit from its start, whichever comes first). The last record also stays under
``{prefix}e:{id}`` a while longer, so that a late reply is answered in the dialogue's language on
any node; ``{prefix}live`` (a sorted set of ids by deadline) lets a sweep count what timed out
without scanning keys.

Two steps of one dialogue arriving at two nodes at once (an impatient subscriber, an aggregator's
retry) never both apply: a store is a compare-and-set on ``rev`` (one Lua script), and the step
that lost raises :class:`SessionConflict`; the engine then answers with the screen the winner
left (see ``docs/deployment.md``). In a gateway node the reactor does a step's I/O around it
(:class:`StagedStep`), and the lost race is found after the step.

A record is refused, never misread, when its format is not one this release reads (``v``) or its
fields are not a dialogue's: the dialogue is then treated as gone (the subscriber is told it expired).
Time is the nodes' wall clock (``time.time``): they must agree on it (NTP), as they do on TTLs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import StepAborted, Unavailable
from .sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION, ROW_FIELDS, Dialogue, SessionConflict, SessionStore

log = logging.getLogger("ussd.sessions")
T = TypeVar("T")

#: The format of the records this release writes: 2, the dialogue's fields as a JSON array in
#: :data:`ussd.sessions.ROW_FIELDS`' order. It also reads 1 (a JSON object: the release before),
#: so dialogues running across a rolling upgrade carry on; any other is refused, never misread.
FORMAT = 2
READS: frozenset[bytes] = frozenset({b"1", b"2"})
#: How long an ended or expired dialogue is remembered after its last step (late replies).
ENDED_TTL_S = 600.0
#: How long one Redis operation may take before the step is told the sessions are unavailable.
DEFAULT_TIMEOUT_S = 2.0

#: How long a dialogue that dropped is kept after it dropped, for resuming (the longest window a
#: menu may give: ``ussd.loader.MAX_RESUME_S``).
RESUME_KEEP_S = 3600.0

#: KEYS: the dialogue's hash, its ended copy, the live index, its subscriber's resumable copy.
#: ARGV: the rev expected (0: a new dialogue, stored whatever was there), the new rev, the record,
#: its TTL (ms), the ended copy's TTL (ms), its deadline (the index's score), its id, the
#: resumable copy's TTL (ms). Returns 1, or 0 when ``rev`` has moved on. The resumable copy says
#: the deadline as when it drops: Redis forgets the dialogue then, unasked.
_STORE = f"""
if ARGV[1] ~= '0' and redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', '{FORMAT}', 'rev', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], '{FORMAT}:' .. ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
redis.call('SET', KEYS[4], '{FORMAT}:' .. ARGV[6] .. ':' .. ARGV[3], 'PX', ARGV[8])
return 1
"""


#: KEYS: the live index. ARGV: now, the keys' prefix, the most to forget in one go. Forgets the
#: dialogues due by ``now`` and returns how many: at once, so that no step of another node can
#: store one of them between its being found due and its being dropped.
_SWEEP = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[2] .. 's:' .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #ids
"""
#: KEYS: the dialogue's hash, the live index. ARGV: its id, the keys' prefix, now, how long the
#: dropped copy is kept (ms). The dialogue is forgotten and kept as its subscriber's dropped one,
#: at once: a step another node stores meanwhile cannot be lost between the read and the drop.
_DROP = f"""
local found = redis.call('HMGET', KEYS[1], 'v', 'rec')
local v, rec = found[1], found[2]
if rec and (v == '1' or v == '2') then
  local ok, d = pcall(cjson.decode, rec)
  local service, msisdn
  if ok and type(d) == 'table' then
    if v == '1' then
      service, msisdn = d['service'], d['msisdn']
    else
      service, msisdn = d[{ROW_FIELDS.index('service') + 1}], d[{ROW_FIELDS.index('msisdn') + 1}]
    end
  end
  if type(service) == 'string' and type(msisdn) == 'string' then
    redis.call('SET', ARGV[2] .. 'r:' .. service .. ':' .. msisdn, v .. ':' .. ARGV[3] .. ':' .. rec, 'PX', ARGV[4])
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""
#: Dialogues forgotten by one run of the sweep script (it runs again while it finds that many).
SWEEP_BATCH = 1000


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class RecordNotStorable(StepAborted):
    """A value the menu saved in the dialogue (an input, an action's result) has no JSON form, so
    no other node could read it: the step ends on the "unavailable" screen and the operator is
    told which (in memory such a value would pass, and fail only once the dialogues are shared)."""


class SessionsUnavailable(Unavailable):
    """Redis cannot be reached or did not answer in time: the step ends on the service's
    "momentarily unavailable" screen."""

    kind = "sessions"


def redis_client(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[Any, str]:
    """(a client, the key prefix) for ``redis://HOST:PORT/DB?prefix=ussd:`` (``rediss://`` for
    TLS, ``unix://``), or ``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/PRIMARY[/DB]``:
    the primary the Sentinels name, found again after a failover. The client reconnects by itself
    after an outage; every operation is bounded."""
    import redis

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["ussd:"])[0]
    if parts.scheme == "redis+sentinel":
        from redis.sentinel import Sentinel

        primary, _, db = parts.path.strip("/").partition("/")
        sentinel = Sentinel(sentinel_hosts(parts.netloc.rpartition("@")[2]), socket_timeout=timeout,
                            sentinel_kwargs={"socket_timeout": timeout})
        password = unquote(parts.password) if parts.password else None
        return sentinel.master_for(primary, db=int(db or 0), password=password, socket_timeout=timeout,
                                   socket_connect_timeout=timeout), prefix
    base, _, asked = url.partition("?")
    rest = "&".join(item for item in asked.split("&") if item and not item.startswith("prefix="))
    client = redis.Redis.from_url(f"{base}?{rest}" if rest else base, socket_timeout=timeout,
                                  socket_connect_timeout=timeout, health_check_interval=30)
    return client, prefix


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is, as a ``sessions:`` URL says it (what a client of the gateway's own needs to
    connect: see ``gateway.redis_async``)."""

    host: str = "127.0.0.1"
    port: int = 6379
    #: A Unix socket's path (``unix://``), instead of host and port.
    path: str | None = None
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = None
    #: ``redis+sentinel://``: the Sentinels and the name of the primary they watch.
    sentinels: tuple[tuple[str, int], ...] = ()
    primary: str = ""


def redis_address(url: str) -> RedisAddress:
    """The address in a ``sessions:`` URL (read as :func:`redis_client` reads it); raises ValueError."""
    from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

    parts = urlsplit(url)
    if parts.scheme == "redis+sentinel":
        primary, _, db = parts.path.strip("/").partition("/")
        return RedisAddress(db=int(db or 0), password=unquote(parts.password) if parts.password else None,
                            sentinels=tuple(sentinel_hosts(parts.netloc.rpartition("@")[2])), primary=primary)
    found = parse_url(url)  # type: ignore[no-untyped-call]  # redis leaves parse_url unannotated
    kind = found.get("connection_class")
    return RedisAddress(host=found.get("host", "127.0.0.1"), port=int(found.get("port", 6379)),
                        path=found.get("path") if kind is UnixDomainSocketConnection else None,
                        tls=kind is SSLConnection, db=int(found.get("db", 0) or 0),
                        username=found.get("username"), password=found.get("password"))


def find_primary(address: RedisAddress, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[str, int]:
    """(host, port) of the primary the Sentinels name now (blocking); raises SessionsUnavailable."""
    import redis
    from redis.sentinel import Sentinel

    try:
        sentinel = Sentinel(list(address.sentinels), socket_timeout=timeout,
                            sentinel_kwargs={"socket_timeout": timeout})
        # redis leaves discover_master unannotated: it answers the primary's (host, port)
        return cast("tuple[str, int]", sentinel.discover_master(address.primary))
    except (redis.RedisError, OSError) as exc:
        raise SessionsUnavailable(f"no primary {address.primary!r} from the Sentinels: {exc}") from exc


def sentinel_hosts(text: str) -> list[tuple[str, int]]:
    """``h1:26379,[::1]:26380,h3`` -> the Sentinels' addresses (port 26379 if none); raises
    ValueError."""
    hosts = []
    for address in text.split(","):
        if address.startswith("["):
            host, _, rest = address[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = address.partition(":")
        if not host or (port and not port.isdigit()) or not 0 < int(port or 26379) < 65536:
            raise ValueError(f"a Sentinel's address: expected HOST:PORT, found {address[:60]!r}")
        hosts.append((host, int(port or 26379)))
    return hosts


Command = tuple[Any, ...]


class StagedStep:
    """One step's session I/O when the gateway does it on the reactor's thread, around the step:
    what the step will read is fetched before it runs (:meth:`reads`, then :meth:`fetched`);
    what it writes is kept (:meth:`write`) and sent once it has run (:meth:`writes`, then
    :meth:`settle`). The steps of many dialogues then share each write and read of the socket, and
    a worker never waits on Redis (each wait handed the interpreter lock to the reactor and back:
    most of what Redis cost a step). A read nobody fetched goes to Redis from the worker, as
    without staging; so does what the step wrote before it, first (read your own writes).

    Sans-IO: commands out, replies in; the store fills and reads it (:meth:`RedisSessionStore.staged`)."""

    __slots__ = ("session_id", "record", "dropped", "replies", "down", "pending", "settled")

    def __init__(self, session_id: str, record: bool = True, dropped: tuple[str, str] | None = None) -> None:
        self.session_id = session_id
        #: Whether the step reads the dialogue's record (every step but a plain dial), and the
        #: (number, service) whose dropped dialogue a dial may offer to resume.
        self.record = record
        self.dropped = dropped
        #: What was fetched: command -> its reply.
        self.replies: dict[Command, Any] = {}
        #: Set when the fetch failed: every operation of the step then raises it, as it would have.
        self.down: SessionsUnavailable | None = None
        #: Writes not sent yet: (the commands of one operation, whether it is a compare-and-set).
        self.pending: list[tuple[list[Command], bool]] = []
        #: Replies of writes sent from the worker (a read after them): judged with the others.
        self.settled: list[tuple[list[Command], bool, list[Any]]] = []

    def fetched(self, commands: list[Command], replies: list[Any]) -> None:
        """The replies to :meth:`RedisSessionStore.reads`, or ``down``: the fetch failed."""
        self.replies.update(zip(commands, replies, strict=True))  # a pipeline answers each command

    def write(self, commands: list[Command], compare: bool = False) -> None:
        self.pending.append((commands, compare))

    def writes(self) -> list[Command]:
        """Every command the step wrote, in order, for one pipeline."""
        return [command for commands, _ in self.pending for command in commands]

    def sent(self, replies: list[Any]) -> None:
        """:meth:`writes` were sent and ``replies`` came back: kept with their writes, to judge."""
        at = 0
        for commands, compare in self.pending:
            self.settled.append((commands, compare, replies[at:at + len(commands)]))
            at += len(commands)
        self.pending = []

    def settle(self, replies: list[Any]) -> None:
        """Judge the replies to :meth:`writes` (and to writes sent earlier from the worker); an
        error reply is an Exception among them. Raises SessionConflict when a store lost its
        compare-and-set (another node stored the dialogue meanwhile), SessionsUnavailable when
        Redis refused a command."""
        self.sent(replies)
        judged, self.settled = self.settled, []
        conflict = False
        for commands, compare, answers in judged:
            for command, answer in zip(commands, answers, strict=True):
                if isinstance(answer, Exception):
                    raise SessionsUnavailable(f"the session store (Redis) refused {command[0]}: {answer}")
            if compare and answers and not answers[0]:
                conflict = True
        if conflict:
            raise SessionConflict(self.session_id)


class RedisSessionStore(SessionStore):
    """Dialogues in Redis (see the module's docstring). Safe from any thread: the client's pool
    gives each operation a connection; a step staged by the gateway (:meth:`staged`) is its
    worker thread's own."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.time,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_duration: float = DEFAULT_MAX_DURATION,
                 prefix: str = "ussd:", ended_ttl: float = ENDED_TTL_S) -> None:
        super().__init__(clock, idle_timeout, max_duration)
        import redis

        self.client = client
        self.prefix = prefix
        self.ended_ttl = ended_ttl
        self._live = f"{prefix}live"
        #: The scripts by their SHA-1, as EVALSHA names them.
        self.scripts = {script_sha(text): text for text in (_STORE, _SWEEP, _DROP)}
        self._store_sha, self._sweep_sha, self._drop_sha = self.scripts
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError
        self._refused: type[BaseException] = redis.ResponseError
        self._local = threading.local()

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def _ended_key(self, session_id: str) -> str:
        return f"{self.prefix}e:{session_id}"

    def _dropped_key(self, msisdn: str, service: str) -> str:
        return f"{self.prefix}r:{service}:{msisdn}"

    # -- staging (the gateway's reactor does the I/O around a step) ----------------------------

    def staged(self, step: StagedStep, work: Callable[[], T]) -> T:
        """``work()`` (a step, on this thread), its reads answered from what ``step`` fetched and
        its writes kept in it."""
        local = self._local
        local.step = step
        try:
            return work()
        finally:
            local.step = None

    def reads(self, step: StagedStep) -> list[Command]:
        """What ``step`` will read, to fetch before it runs."""
        commands: list[Command] = []
        if step.record:
            commands.append(self._record_read(step.session_id))
        if step.dropped is not None:
            commands.append(("GET", self._dropped_key(*step.dropped)))
        return commands

    def _record_read(self, session_id: str) -> Command:
        return ("HMGET", self._key(session_id), "v", "rev", "rec")

    # -- I/O: staged, or from this thread ------------------------------------------------------

    def _read(self, command: Command) -> Any:
        step: StagedStep | None = getattr(self._local, "step", None)
        if step is not None:
            if step.down is not None:
                raise step.down
            if command in step.replies:
                return step.replies[command]
            if step.pending:  # written before: sent first, judged with the others after the step
                step.sent(self._execute(step.writes()))
        return self._execute([command])[0]

    def _write(self, commands: list[Command], compare: bool = False) -> list[Any] | None:
        """The replies, or None when the step is staged (sent after it: a lost compare-and-set is
        then found by :meth:`StagedStep.settle`)."""
        step: StagedStep | None = getattr(self._local, "step", None)
        if step is not None:
            if step.down is not None:
                raise step.down
            step.write(commands, compare)
            return None
        return self._execute(commands)

    def _execute(self, commands: list[Command]) -> list[Any]:
        """``commands`` in one pipeline from this thread (one alone: as it is)."""
        try:
            if len(commands) == 1:
                return [self._one(commands[0])]
            with self.client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                replies: list[Any] = pipe.execute(raise_on_error=False)
            for n, reply in enumerate(replies):
                if isinstance(reply, self._no_script):
                    replies[n] = self._one(commands[n])
                elif isinstance(reply, self._refused):
                    raise SessionsUnavailable(f"the session store (Redis) refused {commands[n][0]}: {reply}")
            return replies
        except self._errors as exc:
            raise SessionsUnavailable(f"the session store (Redis) is unavailable: {exc}") from exc

    def _one(self, command: Command) -> Any:
        """One command; a script Redis does not know (restarted, flushed) is loaded and sent again."""
        try:
            try:
                return self.client.execute_command(*command)
            except self._no_script:
                self.client.script_load(self.scripts[command[1]])
                return self.client.execute_command(*command)
        except self._refused as exc:
            raise SessionsUnavailable(f"the session store (Redis) refused {command[0]}: {exc}") from exc

    def _script(self, sha: str, keys: list[str], args: list[Any]) -> Command:
        return ("EVALSHA", sha, len(keys), *keys, *args)

    # -- records -------------------------------------------------------------------------------

    def _decode(self, session_id: str, version: Any, rev: Any, raw: Any) -> Dialogue | None:
        """The dialogue a stored record holds, or None (logged) when it is not this release's."""
        if raw is None:
            return None
        if version not in READS:
            log.warning("dialogue %s: a record of format %r, not one of %s: refused", session_id, version,
                        ", ".join(sorted(v.decode() for v in READS)))
            return None
        try:
            data = json.loads(raw)
            if version == b"1":
                dialogue = Dialogue.from_dict(data)
                dialogue.rev = int(rev)
            else:
                dialogue = Dialogue.from_row(data, int(rev))
        except (ValueError, TypeError) as exc:
            log.warning("dialogue %s: a record that is not a dialogue (%s): refused", session_id, exc)
            return None
        return dialogue

    @staticmethod
    def _encode(dialogue: Dialogue) -> str:
        return _ENCODE(dialogue.to_row())  # rev is kept beside the record, where the compare-and-set reads it

    # -- the store -----------------------------------------------------------------------------

    def get(self, session_id: str) -> Dialogue | None:
        version, rev, raw = self._read(self._record_read(session_id))
        dialogue = self._decode(session_id, version, rev, raw)
        if dialogue is None:
            return None
        if not self.is_live(dialogue, self.clock()):
            self._forget(session_id)
            return None
        return dialogue

    def put(self, dialogue: Dialogue) -> None:
        now = self.clock()
        dialogue.touched = now
        deadline = self.deadline(dialogue)
        ttl_ms = max(1, int((deadline - now) * 1000))
        try:
            record = self._encode(dialogue)
        except (TypeError, ValueError) as exc:
            raise RecordNotStorable(f"dialogue {dialogue.id} at {dialogue.state}: a value it holds has no JSON "
                                    f"form ({exc}); save text and numbers only") from exc
        replies = self._write([self._script(
            self._store_sha,
            [self._key(dialogue.id), self._ended_key(dialogue.id), self._live,
             self._dropped_key(dialogue.msisdn, dialogue.service)],
            [dialogue.rev, dialogue.rev + 1, record, ttl_ms, ttl_ms + int(self.ended_ttl * 1000),
             repr(deadline), dialogue.id, ttl_ms + int(RESUME_KEEP_S * 1000)])], compare=True)
        if replies is not None and not replies[0]:
            raise SessionConflict(dialogue.id)
        dialogue.rev += 1

    def delete(self, session_id: str) -> None:
        self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        """A dialogue ended or past its time: no longer live; its ended copy stays (for
        :meth:`ended`: a late step, on any node, is told it came after the end)."""
        self._write([("DEL", self._key(session_id)), ("ZREM", self._live, session_id)])

    def drop(self, session_id: str) -> None:
        self._write([self._script(self._drop_sha, [self._key(session_id), self._live],
                                  [session_id, self.prefix, repr(self.clock()), int(RESUME_KEEP_S * 1000)])])

    def end(self, dialogue: Dialogue) -> None:
        self._write([("DEL", self._key(dialogue.id), self._dropped_key(dialogue.msisdn, dialogue.service)),
                     ("ZREM", self._live, dialogue.id)])

    def dropped(self, msisdn: str, service: str) -> tuple[Dialogue, float] | None:
        raw = self._read(("GET", self._dropped_key(msisdn, service)))
        if raw is None:
            return None
        version, _, rest = raw.partition(b":")
        at, _, record = rest.partition(b":")
        dialogue = self._decode(f"{service}:{msisdn}", version, 0, record)
        try:
            when = float(at)
        except ValueError:
            return None
        if dialogue is None or when > self.clock():  # still live (its deadline to come): not dropped
            return None
        return dialogue, when

    def forget_dropped(self, msisdn: str, service: str) -> None:
        self._write([("DEL", self._dropped_key(msisdn, service))])

    def ended(self, session_id: str) -> Dialogue | None:
        if self.get(session_id) is not None:
            return None
        raw = self._read(("GET", self._ended_key(session_id)))
        if raw is None:
            return None
        version, _, record = raw.partition(b":")
        return self._decode(session_id, version, 0, record)

    def sweep(self) -> int:
        """Forget the dialogues past their deadline (Redis may have dropped their keys already:
        each is counted once, as timed out)."""
        now = self.clock()
        total = 0
        while True:
            dropped = int(self._execute([self._script(self._sweep_sha, [self._live],
                                                      [repr(now), self.prefix, SWEEP_BATCH])])[0])
            total += dropped
            if dropped < SWEEP_BATCH:
                return total

    def __len__(self) -> int:
        return int(self._execute([("ZCARD", self._live)])[0])

    def ping(self) -> None:
        """Raises :class:`SessionsUnavailable` when Redis does not answer (``/healthz``)."""
        self._execute([("PING",)])


def script_sha(text: str) -> str:
    """The name EVALSHA knows a script by."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
