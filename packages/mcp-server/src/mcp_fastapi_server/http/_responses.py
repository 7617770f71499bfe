"""Answering from middleware: JSON-RPC error bodies with real HTTP status codes.

FastMCP can only answer JSON-RPC errors inside HTTP 200 (or the few codes its transport
maps); 401/403/413/429/503 with their headers must be sent before it runs, from here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Send

__all__ = ["challenge", "send_jsonrpc_error", "send_plain"]


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


def _quoted(text: str) -> str:
    # Our descriptions never hold quotes; strip them anyway so a header cannot be broken.
    return '"' + text.replace("\\", "").replace('"', "'") + '"'


def challenge(
    *, error: str, description: str, resource_metadata: str, scope: str | None = None
) -> bytes:
    """A ``WWW-Authenticate: Bearer ...`` value (RFC 6750 §3, RFC 9728 §5.1)."""
    parts = [f"error={_quoted(error)}", f"error_description={_quoted(description)}"]
    if scope is not None:
        parts.append(f"scope={_quoted(scope)}")
    parts.append(f"resource_metadata={_quoted(resource_metadata)}")
    return ("Bearer " + ", ".join(parts)).encode("latin-1")
