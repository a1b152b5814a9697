"""The gateway's Redis client on the reactor (gateway.redis_async), on Twisted's memory reactor and
clock: the greeting before any command, batches answered in order however the replies are cut,
a server that does not answer or answers garbage dropped within bounds, and a failed connection
retried only after a delay that doubles (meanwhile steps are told at once). The same client
against a real Redis is what ``test_nodes.py``'s nodes run on."""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from gateway.redis_async import FIRST_RETRY_S, AsyncRedis, RedisProtocol
from gateway.resp import RespError, encode_command
from ussd.redis_sessions import RedisAddress, SessionsUnavailable

SCRIPT = "return 1"
SHA = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"


def client(reactor: MemoryReactorClock, **address: Any) -> AsyncRedis:
    return AsyncRedis(reactor, RedisAddress(**address), {SHA: SCRIPT}, timeout=2.0)


def connect(reactor: MemoryReactorClock, n: int = -1) -> tuple[RedisProtocol, StringTransport]:
    """The connection the client asked for (the ``n``th), made."""
    factory = reactor.tcpClients[n][2]
    link = factory.buildProtocol(None)
    transport = StringTransport()
    link.makeConnection(transport)
    return link, transport


def collect() -> tuple[list[Any], Any]:
    seen: list[Any] = []
    return seen, seen.append


def test_commands_wait_for_the_greeting_then_go_in_one_write_and_are_answered_in_order() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor, password="s3cret", username="gw", db=2)
    first, then_first = collect()
    second, then_second = collect()
    redis.execute([("GET", "a"), ("GET", "b")], then_first)
    redis.execute([("HMGET", "h", "v", "rev")], then_second)
    assert len(reactor.tcpClients) == 1  # one connection for both
    link, transport = connect(reactor)
    assert transport.value() == (encode_command("AUTH", "gw", "s3cret") + encode_command("SELECT", 2)
                                 + encode_command("SCRIPT", "LOAD", SCRIPT))
    transport.clear()
    link.dataReceived(b"+OK\r\n+OK\r\n$40\r\n" + SHA.encode() + b"\r\n")
    assert transport.value() == (encode_command("GET", "a") + encode_command("GET", "b")
                                 + encode_command("HMGET", "h", "v", "rev"))
    wire = b"$1\r\n1\r\n$-1\r\n*2\r\n$1\r\n2\r\n:7\r\n"
    for n in range(len(wire)):  # a byte at a time
        link.dataReceived(wire[n:n + 1])
    assert first == [[b"1", None]] and second == [[[b"2", 7]]]


def test_a_refused_greeting_fails_the_waiting_commands_naming_why() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor, password="wrong")
    seen, then = collect()
    redis.execute([("GET", "a")], then)
    link, transport = connect(reactor)
    link.dataReceived(b"-WRONGPASS invalid username-password pair\r\n$40\r\n" + SHA.encode() + b"\r\n")
    assert isinstance(seen[0], SessionsUnavailable) and "WRONGPASS" in str(seen[0])
    assert transport.disconnecting and b"GET" not in transport.value()  # dropped, nothing sent


def test_a_server_that_does_not_answer_is_dropped_at_the_timeout_and_the_next_step_reconnects() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor)
    seen, then = collect()
    redis.execute([("PING",)], then)
    link, transport = connect(reactor)
    link.dataReceived(b"$40\r\n" + SHA.encode() + b"\r\n")  # the script loaded: serving
    redis.execute([("GET", "k")], then)
    reactor.advance(1.9)
    assert seen == []
    reactor.advance(0.2)
    assert [type(s) for s in seen] == [SessionsUnavailable, SessionsUnavailable]
    assert "no answer within 2 s" in str(seen[0])
    assert transport.disconnecting  # replies could no longer be matched to their commands
    redis.execute([("PING",)], then)
    assert len(reactor.tcpClients) == 2  # a new connection for the next step


def test_garbage_from_the_server_drops_the_connection_and_fails_what_waits() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor)
    seen, then = collect()
    redis.execute([("GET", "k")], then)
    link, transport = connect(reactor)
    link.dataReceived(b"$40\r\n" + SHA.encode() + b"\r\n")
    link.dataReceived(b"!not redis\r\n")
    assert transport.disconnecting
    link.connectionLost(Failure(ConnectionRefusedError()))
    assert len(seen) == 1 and isinstance(seen[0], SessionsUnavailable)


def test_a_failed_connection_is_tried_again_only_after_a_delay_that_doubles() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor)
    seen, then = collect()
    redis.execute([("GET", "k")], then)
    reactor.tcpClients[0][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    assert isinstance(seen[-1], SessionsUnavailable) and "refused" in str(seen[-1])
    redis.execute([("GET", "k")], then)  # within the delay: told at once, nothing dialled
    assert len(reactor.tcpClients) == 1 and "trying again in" in str(seen[-1])
    reactor.advance(FIRST_RETRY_S)
    redis.execute([("GET", "k")], then)
    assert len(reactor.tcpClients) == 2
    reactor.tcpClients[1][2].clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    reactor.advance(FIRST_RETRY_S)  # the delay has doubled
    redis.execute([("GET", "k")], then)
    assert len(reactor.tcpClients) == 2
    reactor.advance(FIRST_RETRY_S)
    redis.execute([("GET", "k")], then)
    link, _ = connect(reactor)
    link.dataReceived(b"$40\r\n" + SHA.encode() + b"\r\n:1\r\n")
    assert seen[-1] == [1]  # connected: the delay starts again from the first


def test_a_unix_socket_address_is_dialled_as_one() -> None:
    reactor = MemoryReactorClock()
    redis = client(reactor, path="/run/redis/redis.sock")
    redis.execute([("PING",)], lambda replies: None)
    assert reactor.unixClients[0][0] == "/run/redis/redis.sock"


def test_error_replies_are_values_among_the_others() -> None:
    reactor = MemoryReactorClock()
    redis = AsyncRedis(reactor, RedisAddress(), {})
    seen, then = collect()
    redis.execute([("GET", "k"), ("INCR", "s")], then)
    link, _ = connect(reactor)
    link.dataReceived(b"$1\r\nx\r\n-WRONGTYPE Operation against a key\r\n")
    assert seen == [[b"x", RespError("WRONGTYPE Operation against a key")]]
