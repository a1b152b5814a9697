"""Redis's protocol (RESP2) as bytes, sans-IO: commands out, replies in.

The gateway talks to Redis from the reactor's thread (:mod:`gateway.redis_async`) so that the
steps of many dialogues share each write and each read; this module is the codec it uses, with
no socket. What a server sends is outside input: a reply is read only within the bounds below,
and anything else is a :class:`RespProtocolError` (the connection is then dropped, since the
replies that follow can no longer be matched to their commands).
"""

from __future__ import annotations

from typing import Final

#: The largest bulk string read (a dialogue's record is a few hundred octets; Redis allows 512 MB).
MAX_BULK: Final = 16 * 1024 * 1024
#: The most elements of one array reply, and how deep arrays may nest.
MAX_ARRAY: Final = 1_000_000
MAX_DEPTH: Final = 8
#: The longest line (a simple string, an error, a length).
MAX_LINE: Final = 64 * 1024


class RespProtocolError(Exception):
    """What the server sent is not RESP2 within this codec's bounds."""


class RespError(Exception):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``): returned among the replies, not raised,
    since the other replies of the same pipeline still hold."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RespError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    @property
    def kind(self) -> str:
        """The error's first word (``ERR``, ``NOSCRIPT``, ``WRONGTYPE``)."""
        return self.message.split(" ", 1)[0]


Reply = bytes | int | None | list["Reply"] | RespError
Arg = str | bytes | int | float


def encode_command(*args: Arg) -> bytes:
    """One command as the array of bulk strings Redis reads."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ReplyReader:
    """Replies out of the bytes a server sends, however they are cut: :meth:`feed` keeps what is
    not yet a whole reply for the next call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Reply]:
        """The whole replies ``data`` completes, in order; raises RespProtocolError."""
        buffer = self._buffer
        buffer += data
        replies: list[Reply] = []
        at = 0
        while at < len(buffer):
            parsed = self._reply(buffer, at, 0)
            if parsed is None:
                break
            reply, at = parsed
            replies.append(reply)
        del buffer[:at]
        if len(buffer) > MAX_BULK + MAX_LINE:  # no reply is this long: a server that never ends one
            raise RespProtocolError(f"{len(buffer)} octets and no whole reply")
        return replies

    def _line(self, buffer: bytearray, at: int) -> tuple[bytes, int] | None:
        end = buffer.find(b"\r\n", at, at + MAX_LINE + 2)
        if end < 0:
            if len(buffer) - at > MAX_LINE + 1:
                raise RespProtocolError(f"a line longer than {MAX_LINE} octets")
            return None
        return bytes(buffer[at:end]), end + 2

    def _length(self, text: bytes, limit: int, what: str) -> int:
        if not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())):
            raise RespProtocolError(f"{what} length {text[:20]!r}: expected digits")
        length = int(text)
        if not -1 <= length <= limit:
            raise RespProtocolError(f"{what} length {length}: expected -1 to {limit}")
        return length

    def _reply(self, buffer: bytearray, at: int, depth: int) -> tuple[Reply, int] | None:
        line = self._line(buffer, at + 1)
        if line is None:
            return None
        text, at_next = line
        kind = buffer[at]
        if kind == 0x2B:  # + simple string
            return text, at_next
        if kind == 0x2D:  # - error
            return RespError(text.decode("utf-8", "replace")), at_next
        if kind == 0x3A:  # : integer
            if not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())) or len(text) > 20:
                raise RespProtocolError(f"integer {text[:24]!r}: expected digits")
            return int(text), at_next
        if kind == 0x24:  # $ bulk string
            length = self._length(text, MAX_BULK, "bulk")
            if length < 0:
                return None, at_next
            end = at_next + length
            if len(buffer) < end + 2:
                return None
            if buffer[end:end + 2] != b"\r\n":
                raise RespProtocolError(f"a bulk string of {length} octets not followed by CRLF")
            return bytes(buffer[at_next:end]), end + 2
        if kind == 0x2A:  # * array
            if depth >= MAX_DEPTH:
                raise RespProtocolError(f"arrays nested deeper than {MAX_DEPTH}")
            count = self._length(text, MAX_ARRAY, "array")
            if count < 0:
                return None, at_next
            items: list[Reply] = []
            for _ in range(count):
                parsed = self._reply(buffer, at_next, depth + 1)
                if parsed is None:
                    return None
                item, at_next = parsed
                items.append(item)
            return items, at_next
        raise RespProtocolError(f"a reply beginning with {bytes([kind])!r}: expected one of + - : $ *")
