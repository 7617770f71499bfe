"""``mcp-server stdio``: serve FastMCP over stdin/stdout, and drain on end of input.

End of input (the client closes stdin, as scripts, CI checks and some clients do right
after writing their requests) means: read nothing more, finish every request already
received, write each answer, then exit. FastMCP's own loop ends at end of input and
cancels the requests still running, so their answers are lost; here the read side the
server sees is held open after end of input until every request it has received has
been answered (or cancelled by the client), bounded by ``MCP_STDIO_DRAIN_TIMEOUT_S``.

The streams are the MCP SDK's own ``stdio_server`` streams; only the end of the read side
is delayed. FastMCP's ``run_stdio_async`` takes no streams, so this runs the same steps it
does (the ``stdio`` transport marker, the server lifespan, the SDK server loop) around the
wrapped streams; fastmcp is pinned exactly, and the stdio tests pin this behaviour.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import anyio
import mcp_types
from fastmcp import FastMCP
from fastmcp.server.context import reset_transport, set_transport
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

__all__ = ["DrainingStreams", "run_stdio"]

logger = logging.getLogger("mcp_fastapi_server.stdio")

RequestId = str | int


class _DrainingReceive:
    """The read side: passes messages through, and after end of input waits for the
    answers still owed before it ends too."""

    def __init__(self, inner: Any, owner: DrainingStreams) -> None:
        self._inner = inner
        self._owner = owner
        self.last_context: contextvars.Context | None = None

    async def receive(self) -> SessionMessage | Exception:
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except anyio.EndOfStream:
            await self._owner.drain()
            raise
        self.last_context = getattr(self._inner, "last_context", None)
        self._owner.received(item)
        return item

    def __aiter__(self) -> _DrainingReceive:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _DrainingReceive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _AnsweringSend:
    """The write side: passes messages through and notes every answer that goes out."""

    def __init__(self, inner: Any, owner: DrainingStreams) -> None:
        self._inner = inner
        self._owner = owner

    async def send(self, item: SessionMessage) -> None:
        await self._inner.send(item)
        self._owner.sent(item)

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AnsweringSend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class DrainingStreams:
    """Wrap a server's read and write streams so end of input waits for owed answers."""

    def __init__(self, read_stream: Any, write_stream: Any, *, drain_timeout_s: float) -> None:
        self.read = _DrainingReceive(read_stream, self)
        self.write = _AnsweringSend(write_stream, self)
        self._timeout_s = drain_timeout_s
        self._owed: set[RequestId] = set()
        self._settled = anyio.Event()
        self._settled.set()

    def received(self, item: SessionMessage | Exception) -> None:
        if not isinstance(item, SessionMessage):
            return
        message = item.message
        if isinstance(message, mcp_types.JSONRPCRequest):
            self._owed.add(message.id)
            if self._settled.is_set():
                self._settled = anyio.Event()
        elif (
            isinstance(message, mcp_types.JSONRPCNotification)
            and message.method == "notifications/cancelled"
            and isinstance(message.params, dict)
        ):
            self._answered(message.params.get("requestId"))

    def sent(self, item: SessionMessage) -> None:
        message = item.message
        if isinstance(message, mcp_types.JSONRPCResponse | mcp_types.JSONRPCError):
            self._answered(message.id)

    def _answered(self, request_id: Any) -> None:
        self._owed.discard(request_id)
        if not self._owed:
            self._settled.set()

    @property
    def owed(self) -> frozenset[RequestId]:
        """Requests received and not yet answered (or cancelled by the client)."""
        return frozenset(self._owed)

    async def drain(self) -> None:
        """End of input: wait until every request received so far is answered."""
        if not self._owed:
            return
        logger.info("end of input: finishing %d request(s) already received", len(self._owed))
        with anyio.move_on_after(self._timeout_s):
            await self._settled.wait()
        if self._owed:
            logger.warning(
                "end of input: %d request(s) still running after %g s "
                "(MCP_STDIO_DRAIN_TIMEOUT_S); stopping without their answers: ids %s",
                len(self._owed),
                self._timeout_s,
                sorted(map(str, self._owed)),
            )


async def run_stdio(mcp: FastMCP[Any], *, drain_timeout_s: float) -> None:
    """Serve ``mcp`` over stdin/stdout until end of input, then drain and return."""
    token = set_transport("stdio")
    try:
        async with mcp._lifespan_manager(), stdio_server() as (read_stream, write_stream):
            streams = DrainingStreams(read_stream, write_stream, drain_timeout_s=drain_timeout_s)
            logger.info("serving MCP over stdio")
            server = mcp._mcp_server
            await server.run(streams.read, streams.write, server.create_initialization_options())
    finally:
        reset_transport(token)
