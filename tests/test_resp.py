"""Redis's protocol as the gateway reads and writes it (gateway.resp): commands byte-exact, replies
read however the bytes are cut, and whatever a server sends either read within bounds or refused
with RespProtocolError, never anything else (fuzzed)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.resp import MAX_BULK, MAX_DEPTH, MAX_LINE, ReplyReader, RespError, RespProtocolError, encode_command


def serialise(reply: Any) -> bytes:
    """A reply as a server writes it (the test's own encoder, from the protocol's description)."""
    if isinstance(reply, RespError):
        return b"-%s\r\n" % reply.message.encode()
    if reply is None:
        return b"$-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, bytes):
        return b"$%d\r\n%s\r\n" % (len(reply), reply)
    return b"*%d\r\n%s" % (len(reply), b"".join(serialise(item) for item in reply))


replies = st.recursive(
    st.none() | st.integers(-(2 ** 63), 2 ** 63 - 1) | st.binary(max_size=40)
    | st.text("ERR NOSCRIPT wrong", min_size=1, max_size=20).map(lambda t: RespError(t.strip() or "ERR")),
    lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def test_a_command_is_an_array_of_bulk_strings_in_utf8() -> None:
    assert encode_command("SET", "k", "é", 5, 1.5) == \
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n$1\r\n5\r\n$3\r\n1.5\r\n"
    assert encode_command("GET", b"\r\n") == b"*2\r\n$3\r\nGET\r\n$2\r\n\r\n\r\n"


def test_each_kind_of_reply_is_read() -> None:
    reader = ReplyReader()
    wire = b"+OK\r\n:-3\r\n$-1\r\n$0\r\n\r\n*-1\r\n*2\r\n$1\r\na\r\n:1\r\n-NOSCRIPT No matching script\r\n"
    assert reader.feed(wire) == [b"OK", -3, None, b"", None, [b"a", 1], RespError("NOSCRIPT No matching script")]
    assert RespError("NOSCRIPT No matching script").kind == "NOSCRIPT"


@settings(max_examples=300, deadline=None)
@given(st.lists(replies, min_size=1, max_size=6), st.data())
def test_replies_are_read_whole_however_the_bytes_are_cut(sent: list[Any], data: st.DataObject) -> None:
    wire = b"".join(serialise(reply) for reply in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    reader, read = ReplyReader(), []
    for start, end in pairwise([0, *cuts, len(wire)]):
        read.extend(reader.feed(wire[start:end]))
    assert read == sent


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.binary(max_size=60) | st.sampled_from([b"*", b"$", b":", b"+", b"-", b"\r\n", b"3", b"-1"]),
                max_size=12))
def test_whatever_a_server_sends_is_read_or_refused_never_anything_else(chunks: list[bytes]) -> None:
    reader = ReplyReader()
    try:
        for chunk in chunks:
            reader.feed(chunk)
    except RespProtocolError:
        return


@pytest.mark.parametrize("wire, said", [
    (b"$%d\r\n" % (MAX_BULK + 1), "bulk length"),
    (b"*" * 1 + b"1\r\n" + b"*1\r\n" * MAX_DEPTH + b":1\r\n", "nested deeper"),
    (b"+" + b"x" * (MAX_LINE + 10), "longer than"),
    (b"$abc\r\n", "expected digits"),
    (b":12a\r\n", "expected digits"),
    (b"$3\r\nabcd\r\n", "not followed by CRLF"),
    (b"!oops\r\n", "expected one of"),
])
def test_what_breaks_the_protocol_or_its_bounds_is_refused_naming_why(wire: bytes, said: str) -> None:
    with pytest.raises(RespProtocolError, match=said):
        ReplyReader().feed(wire)
