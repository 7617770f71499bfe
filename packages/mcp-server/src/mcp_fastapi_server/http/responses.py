"""Answering from middleware: JSON-RPC error bodies with real HTTP status codes.

FastMCP can only answer JSON-RPC errors inside HTTP 200 (or the few codes its transport
maps); 401/403/413/429/503 with their headers must be sent before it runs, from here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Send

__all__ = [
    "FORBIDDEN",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "PARSE_ERROR",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "send_jsonrpc_error",
    "send_plain",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
# Our own server-defined codes (JSON-RPC reserves -32000..-32099 for servers).
UNAUTHORIZED = -32001
FORBIDDEN = -32003
RATE_LIMITED = -32029
PAYLOAD_TOO_LARGE = -32013
UNAVAILABLE = -32050


async def send_jsonrpc_error(
    send: Send,
    *,
    status: int,
    code: int,
    message: str,
    rpc_id: Any = None,
    data: dict[str, Any] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a complete ``application/json`` JSON-RPC error response."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data:
        error["data"] = data
    body = orjson.dumps({"jsonrpc": "2.0", "id": rpc_id, "error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_plain(
    send: Send, *, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a short ``text/plain`` response (for non-JSON-RPC answers)."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
