"""Dialogues in Redis, for several gateway nodes sharing them.

Each dialogue is a hash ``{prefix}s:{id}``: ``v`` (the record's format), ``rev`` (bumped by every
store) and ``rec`` (the record, JSON). Redis forgets it by itself: its TTL is what is left of the
dialogue's life (the idle timeout from the last step, or the total limit from its start, whichever
comes first). The last record also stays under ``{prefix}e:{id}`` a while longer, so that a late
reply is answered in the dialogue's language on any node; ``{prefix}live`` (a sorted set of ids
by deadline) lets a sweep count what timed out without scanning keys.

Two steps of one dialogue arriving at two nodes at once (an impatient subscriber, an aggregator's
retry) never both apply: a store is a compare-and-set on ``rev`` (one Lua script), and the step
that lost raises :class:`SessionConflict`; the engine then answers with the screen the winner
left (see ``docs/deployment.md``).

A record is refused, never misread, when its format is not this release's (``v``) or its fields
are not a dialogue's: the dialogue is then treated as gone (the subscriber is told it expired).
Time is the nodes' wall clock (``time.time``): they must agree on it (NTP), as they do on TTLs.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from .errors import StepAborted, Unavailable
from .sessions import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DURATION, Dialogue, SessionConflict, SessionStore

log = logging.getLogger("ussd.sessions")

#: The format of the records this release writes and reads.
FORMAT = 1
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
_STORE = """
if ARGV[1] ~= '0' and redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', '%d', 'rev', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], '%d:' .. ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
redis.call('SET', KEYS[4], '%d:' .. ARGV[6] .. ':' .. ARGV[3], 'PX', ARGV[8])
return 1
""" % (FORMAT, FORMAT, FORMAT)


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
_DROP = """
local rec = redis.call('HGET', KEYS[1], 'rec')
if rec and redis.call('HGET', KEYS[1], 'v') == '%d' then
  local ok, d = pcall(cjson.decode, rec)
  if ok and type(d) == 'table' and type(d['service']) == 'string' and type(d['msisdn']) == 'string' then
    redis.call('SET', ARGV[2] .. 'r:' .. d['service'] .. ':' .. d['msisdn'], '%d:' .. ARGV[3] .. ':' .. rec,
               'PX', ARGV[4])
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""" % (FORMAT, FORMAT)
#: Dialogues forgotten by one run of the sweep script (it runs again while it finds that many).
SWEEP_BATCH = 1000


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
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    client = redis.Redis.from_url(urlunsplit(parts._replace(query=rest)), socket_timeout=timeout,
                                  socket_connect_timeout=timeout, health_check_interval=30)
    return client, prefix


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


class RedisSessionStore(SessionStore):
    """Dialogues in Redis (see the module's docstring). Safe from any thread: the client's pool
    gives each operation a connection."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.time,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, max_duration: float = DEFAULT_MAX_DURATION,
                 prefix: str = "ussd:", ended_ttl: float = ENDED_TTL_S) -> None:
        super().__init__(clock, idle_timeout, max_duration)
        import redis

        self.client = client
        self.prefix = prefix
        self.ended_ttl = ended_ttl
        self._live = f"{prefix}live"
        self._store = client.register_script(_STORE)
        self._sweep = client.register_script(_SWEEP)
        self._drop = client.register_script(_DROP)
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def _ended_key(self, session_id: str) -> str:
        return f"{self.prefix}e:{session_id}"

    def _dropped_key(self, msisdn: str, service: str) -> str:
        return f"{self.prefix}r:{service}:{msisdn}"

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except self._errors as exc:
            raise SessionsUnavailable(f"the session store (Redis) is unavailable: {exc}") from exc

    # -- records -------------------------------------------------------------------------------

    def _decode(self, session_id: str, version: Any, rev: Any, raw: Any) -> Dialogue | None:
        """The dialogue a stored record holds, or None (logged) when it is not this release's."""
        if raw is None:
            return None
        if version != str(FORMAT).encode():
            log.warning("dialogue %s: a record of format %r, not %d: refused", session_id, version, FORMAT)
            return None
        try:
            data = json.loads(raw)
            dialogue = Dialogue.from_dict(data)
            dialogue.rev = int(rev)
        except (ValueError, TypeError) as exc:
            log.warning("dialogue %s: a record that is not a dialogue (%s): refused", session_id, exc)
            return None
        return dialogue

    @staticmethod
    def _encode(dialogue: Dialogue) -> str:
        return dialogue.to_json(leave_out=("rev",))  # kept beside the record, where the compare-and-set reads it


    # -- the store -----------------------------------------------------------------------------

    def get(self, session_id: str) -> Dialogue | None:
        version, rev, raw = self._call(lambda: self.client.hmget(self._key(session_id), "v", "rev", "rec"))
        dialogue = self._decode(session_id, version, rev, raw)
        if dialogue is None:
            return None
        if not self.is_live(dialogue, self.clock()):
            self._call(lambda: self._forget(session_id))
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
        stored = self._call(lambda: self._store(
            keys=[self._key(dialogue.id), self._ended_key(dialogue.id), self._live,
                  self._dropped_key(dialogue.msisdn, dialogue.service)],
            args=[dialogue.rev, dialogue.rev + 1, record, ttl_ms, ttl_ms + int(self.ended_ttl * 1000),
                  repr(deadline), dialogue.id, ttl_ms + int(RESUME_KEEP_S * 1000)]))
        if not stored:
            raise SessionConflict(dialogue.id)
        dialogue.rev += 1

    def delete(self, session_id: str) -> None:
        self._call(lambda: self._forget(session_id))

    def _forget(self, session_id: str) -> None:
        """A dialogue ended or past its time: no longer live; its ended copy stays (for
        :meth:`ended`: a late step, on any node, is told it came after the end)."""
        with self.client.pipeline() as pipe:
            pipe.delete(self._key(session_id))
            pipe.zrem(self._live, session_id)
            pipe.execute()

    def drop(self, session_id: str) -> None:
        now = self.clock()
        self._call(lambda: self._drop(keys=[self._key(session_id), self._live],
                                      args=[session_id, self.prefix, repr(now), int(RESUME_KEEP_S * 1000)]))

    def end(self, dialogue: Dialogue) -> None:
        def end() -> None:
            with self.client.pipeline() as pipe:
                pipe.delete(self._key(dialogue.id), self._dropped_key(dialogue.msisdn, dialogue.service))
                pipe.zrem(self._live, dialogue.id)
                pipe.execute()

        self._call(end)

    def dropped(self, msisdn: str, service: str) -> tuple[Dialogue, float] | None:
        raw = self._call(lambda: self.client.get(self._dropped_key(msisdn, service)))
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
        self._call(lambda: self.client.delete(self._dropped_key(msisdn, service)))

    def ended(self, session_id: str) -> Dialogue | None:
        if self.get(session_id) is not None:
            return None
        raw = self._call(lambda: self.client.get(self._ended_key(session_id)))
        if raw is None:
            return None
        version, _, record = raw.partition(b":")
        return self._decode(session_id, version, 0, record)

    def sweep(self) -> int:
        """Forget the dialogues past their deadline (Redis may have dropped their keys already:
        each is counted once, as timed out)."""
        now = self.clock()

        def sweep() -> int:
            total = 0
            while True:
                dropped = int(self._sweep(keys=[self._live], args=[now, self.prefix, SWEEP_BATCH]))
                total += dropped
                if dropped < SWEEP_BATCH:
                    return total

        return self._call(sweep)

    def __len__(self) -> int:
        return int(self._call(lambda: self.client.zcard(self._live)))

    def ping(self) -> None:
        """Raises :class:`SessionsUnavailable` when Redis does not answer (``/healthz``)."""
        self._call(self.client.ping)
