"""Read the request body once, bounded, and parse the JSON-RPC message for everyone after.

Why by hand: Starlette reads bodies whole and FastMCP parses them after auth would have
to decide; here a body over ``MCP_MAX_REQUEST_BYTES`` is refused with 413 while it streams
(the declared ``Content-Length`` is checked first, then the running total, so a 2 GB upload
is never buffered), and the parsed message lands on the :class:`RequestContext` so auth,
the scope check, the limiter and the access log share one parse.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_fastapi_server.core import (
    HEADER_MISMATCH,
    INVALID_REQUEST,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    RequestContext,
    get_request_context,
)
from mcp_fastapi_server.http._responses import send_jsonrpc_error

__all__ = ["BodyMiddleware"]

DRAIN_BYTES = 4 * 1024 * 1024


class BodyMiddleware:
    """413 on oversized bodies, 400 on malformed JSON-RPC, header/body agreement (-32020)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = get_request_context(scope) if scope["type"] == "http" else None
        if ctx is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return

        mcp_method_header: bytes | None = None
        mcp_name_header: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    ctx.outcome = "too_large"
                    await self._drain(receive)
                    await self._too_large(ctx.request_id, send)
                    return
            elif key == b"mcp-method":
                mcp_method_header = value
            elif key == b"mcp-name":
                mcp_name_header = value

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                ctx.outcome = "disconnected"
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                ctx.outcome = "too_large"
                if message.get("more_body", False):
                    await self._drain(receive)
                await self._too_large(ctx.request_id, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)

        error = self._parse(ctx, body)
        if error is None:
            error = self._check_headers(ctx, mcp_method_header, mcp_name_header)
        if error is not None:
            ctx.outcome = "invalid"
            code, text = error
            await send_jsonrpc_error(
                send,
                status=400,
                code=code,
                message=text,
                rpc_id=ctx.rpc_id,
                data={"request_id": ctx.request_id},
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _drain(receive: Receive) -> None:
        """Discard (never keep) up to :data:`DRAIN_BYTES` of the refused body.

        A client still uploading when the 413 is sent and the socket closed sees a
        connection reset instead of the answer; reading a bounded amount more lets
        ordinary clients get the 413, while a huge upload is cut off after the cap.
        """
        drained = 0
        while drained < DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, request_id: str, send: Send) -> None:
        await send_jsonrpc_error(
            send,
            status=413,
            code=PAYLOAD_TOO_LARGE,
            message=f"Request body exceeds the limit of {self.max_bytes} bytes "
            "(MCP_MAX_REQUEST_BYTES)",
            data={"request_id": request_id, "limit": self.max_bytes},
            headers=[(b"connection", b"close")],
        )

    @staticmethod
    def _parse(ctx: RequestContext, body: bytes) -> tuple[int, str] | None:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return PARSE_ERROR, f"Parse error: {exc}"
        if isinstance(message, list):
            return INVALID_REQUEST, "Invalid request: JSON-RPC batches are not supported"
        if not isinstance(message, dict):
            return INVALID_REQUEST, "Invalid request: the body must be a JSON-RPC object"
        ctx.message = message
        ctx.rpc_id = message.get("id")
        if message.get("jsonrpc") != "2.0":
            return INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"'
        method = message.get("method")
        if method is None:
            # A response to a server-initiated request (sessions era); nothing to decide on.
            return None
        if not isinstance(method, str) or not method:
            return INVALID_REQUEST, 'Invalid request: "method" must be a non-empty string'
        ctx.method = method
        if method == "tools/call":
            params = message.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str):
                ctx.tool = name
        return None

    @staticmethod
    def _check_headers(
        ctx: RequestContext, method_header: bytes | None, name_header: bytes | None
    ) -> tuple[int, str] | None:
        """The 2026-07-28 routing headers must agree with the body (spec: -32020)."""
        if method_header is not None and method_header.decode("latin-1") != ctx.method:
            return HEADER_MISMATCH, "mcp-method header does not match the request body's method"
        if (
            name_header is not None
            and ctx.tool is not None
            and name_header.decode("latin-1") != ctx.tool
        ):
            return HEADER_MISMATCH, "mcp-name header does not match the request body's name"
        return None
