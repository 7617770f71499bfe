"""One Lua script over one auto-pipelined Redis connection: the limiter's hot path.

Why by hand: redis-py's asyncio client spends ~200-300 µs of CPU per command here (a pool
checkout under an ``asyncio.Condition``, a task per send for its socket timeout, a
pure-Python RESP parser when hiredis is absent), more than the rest of our request path
together. This sends ``EVALSHA`` as pre-encoded bytes on one connection shared by every
concurrent request (Redis answers in order, so a FIFO of futures pairs replies with
callers, and concurrent calls pipeline by themselves) and parses only the replies this
needs: integers, arrays, simple/bulk strings, errors. About 30-40 µs of CPU per call.

Timeouts are per connection, as with any pipeline: one timer (not one per call) fails
every pending call and drops the connection once the oldest has waited ``timeout_s``; the
next call reconnects. A call that finds its connection lost before the answer (Redis
restarted under an idle pooled socket) is retried once on a fresh one; a timeout never is.
Everything else (``PING``, a team's own client) stays on redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["ScriptPipe"]

_SCHEMES = frozenset({"redis", "rediss", "unix"})
_Pending = deque[tuple[float, "asyncio.Future[Any]"]]


class _Error(str):
    """An error reply (``-ERR ...``), kept apart from simple strings."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(_bulk(arg if isinstance(arg, bytes) else str(arg).encode()))
    return b"".join(parts)


def _parse(buf: bytearray, pos: int) -> tuple[Any, int] | None:
    """One RESP2 reply at ``pos``: ``(value, next_pos)``, or ``None`` if incomplete."""
    end = buf.find(b"\r\n", pos)
    if end == -1:
        return None
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == 58:  # ':' integer
        return int(line), pos
    if kind == 42:  # '*' array
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            parsed = _parse(buf, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return items, pos
    if kind == 36:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            return None
        return bytes(buf[pos : pos + size]), pos + size + 2
    if kind == 43:  # '+' simple string
        return line.decode(), pos
    if kind == 45:  # '-' error
        return _Error(line.decode(errors="replace")), pos
    raise RedisConnectionError(f"unexpected reply byte {kind!r} from Redis")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: _Pending = deque()
        self.buf = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        pending = self.pending
        try:
            while pending:
                parsed = _parse(buf, pos)
                if parsed is None:
                    break
                value, pos = parsed
                future = pending.popleft()[1]
                if future.done():
                    continue
                if isinstance(value, _Error):
                    future.set_exception(ResponseError(value))
                else:
                    future.set_result(value)
        except (ValueError, RedisConnectionError) as exc:  # garbage: the stream is lost
            self.fail(RedisConnectionError(f"unreadable reply from Redis: {exc}"))
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed'}"))

    def fail(self, exc: Exception) -> None:
        self.lost = True
        while self.pending:
            future = self.pending.popleft()[1]
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, payload: bytes, deadline: float) -> asyncio.Future[Any]:
        assert self.transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((deadline, future))
        self.transport.write(payload)
        return future


class ScriptPipe:
    """``EVALSHA`` of one script on one pipelined connection (see the module docstring)."""

    def __init__(self, url: str, script: str, *, timeout_s: float) -> None:
        parts = urlsplit(url)
        if not self.supports(url):
            raise ValueError(f"unsupported Redis URL for the pipelined client: {parts.scheme}://")
        self._timeout = timeout_s
        self._scheme = parts.scheme
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._path = unquote(parts.path) if parts.scheme == "unix" else ""
        db = parts.path.strip("/") if parts.scheme != "unix" else ""
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        db = query.get("db", db) or "0"
        self._handshake = b""
        self._replies = 0
        password = unquote(parts.password) if parts.password else None
        if password is not None:
            user = unquote(parts.username) if parts.username else None
            self._handshake += _command("AUTH", *([user] if user else []), password)
            self._replies += 1
        if int(db):
            self._handshake += _command("SELECT", int(db))
            self._replies += 1
        self._script = script.encode()
        sha = hashlib.sha1(self._script, usedforsecurity=False).hexdigest().encode()
        self._prefix = b"$7\r\nEVALSHA\r\n" + _bulk(sha) + b"$1\r\n1\r\n"
        self._load = _command("SCRIPT", "LOAD", self._script)
        # per argument tuple: the array header and the encoded arguments (few distinct rules)
        self._args: dict[tuple[int, ...], tuple[bytes, bytes]] = {}
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @staticmethod
    def supports(url: str) -> bool:
        """``redis://``, ``rediss://`` and ``unix://`` URLs whose only option is ``db``."""
        parts = urlsplit(url)
        options = {p.split("=", 1)[0] for p in parts.query.split("&") if p}
        return parts.scheme in _SCHEMES and options <= {"db"}

    async def evalsha(self, key: str, args: Sequence[int]) -> Any:
        """Run the script with one key; one round trip (two after a ``SCRIPT FLUSH``)."""
        arg_key = tuple(args)
        cached = self._args.get(arg_key)
        if cached is None:
            encoded = b"".join(_bulk(str(a).encode()) for a in arg_key)
            cached = self._args[arg_key] = (b"*%d\r\n" % (4 + len(arg_key)), encoded)
        payload = cached[0] + self._prefix + _bulk(key.encode()) + cached[1]
        for attempt in (1, 2):
            proto = self._proto if self._proto is not None and not self._proto.lost else None
            fresh = proto is None
            if proto is None:
                proto = await self._connect()
            try:
                try:
                    return await self._send(proto, payload)
                except ResponseError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                    await self._send(proto, self._load)
                    return await self._send(proto, payload)
            except RedisConnectionError:
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, proto: _Protocol, payload: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = proto.send(payload, loop.time() + self._timeout)
        if self._timer is None:
            self._timer = loop.call_later(self._timeout, self._watch)
        return future

    def _watch(self) -> None:
        """Fail everything pending once the oldest call is overdue (one timer per pipe)."""
        self._timer = None
        proto = self._proto
        if proto is None or not proto.pending:
            return
        loop = asyncio.get_running_loop()
        deadline = proto.pending[0][0]
        if loop.time() >= deadline:
            self._proto = None
            proto.fail(RedisTimeoutError(f"Redis did not answer within {self._timeout:g}s"))
            return
        self._timer = loop.call_at(deadline, self._watch)

    async def _connect(self) -> _Protocol:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto: _Protocol | None = None
        try:
            async with asyncio.timeout(self._timeout):
                if self._scheme == "unix":
                    _, proto = await loop.create_unix_connection(_Protocol, self._path)
                else:
                    context = ssl.create_default_context() if self._scheme == "rediss" else None
                    _, proto = await loop.create_connection(
                        _Protocol, self._host, self._port, ssl=context
                    )
                if self._handshake:
                    assert proto.transport is not None
                    futures = [
                        proto.send(b"", loop.time() + self._timeout) for _ in range(self._replies)
                    ]
                    proto.transport.write(self._handshake)
                    await asyncio.gather(*futures)
        except BaseException as exc:
            if proto is not None:
                proto.fail(RedisConnectionError("handshake failed"))
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError("Timeout connecting to Redis") from None
            if isinstance(exc, OSError):
                raise RedisConnectionError(f"Error connecting to Redis: {exc}") from exc
            raise
        self._proto = proto
        return proto

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._proto is not None:
            self._proto.fail(RedisConnectionError("closed"))
            self._proto = None
