"""The per-request record every layer reads and fills, whatever the transport.

Over HTTP the outermost ASGI layer creates it and keeps it on the ASGI scope, the body is
parsed once into it, and auth, the scope check, the limiter and the access log read it
from there. Over stdio the stdio adapter creates it per JSON-RPC request.

Context variables carry the request through code that has no scope at hand (log filters,
upstream clients, tools): :data:`current_request_id`, :data:`current_traceparent` and
:data:`current_request_context`. The transport adapter that creates the record sets them
once. Over HTTP a stateful (2025-11-25 session) request is served by tasks of the session
that the *first* request of the session started, which carry that request's context; the
FastMCP-side hook of the HTTP adapter re-points the variables only then (see
:mod:`mcp_fastapi_server.http._correlate`).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCOPE_KEY",
    "RequestContext",
    "current_request_context",
    "current_request_id",
    "current_traceparent",
    "get_request_context",
]

SCOPE_KEY = "mcp_fastapi_server.request"


@dataclass(slots=True)
class RequestContext:
    """What we know about one MCP request; filled in as it passes the chain."""

    request_id: str
    transport: str = "http"
    client_addr: str | None = None
    traceparent: str | None = None
    # From the JSON-RPC body (None for GET/DELETE, notifications-only or batch posts).
    method: str | None = None
    tool: str | None = None
    rpc_id: Any = None
    message: dict[str, Any] | None = None
    # From a verified token (None when auth is off or has not run yet).
    subject: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Filled on the way out, for the access log and metrics.
    outcome: str = "ok"
    status: int = 0
    response_bytes: int = 0

    @property
    def rate_key_subject(self) -> str:
        """Who the limiter counts: the token subject, else the client address."""
        if self.subject is not None:
            return f"sub:{self.subject}"
        return f"addr:{self.client_addr or 'unknown'}"


def get_request_context(scope: MutableMapping[str, Any]) -> RequestContext | None:
    """The context the chain stored on ``scope``, if any."""
    ctx = scope.get(SCOPE_KEY)
    return ctx if isinstance(ctx, RequestContext) else None


current_request_id: ContextVar[str | None] = ContextVar("mcp_request_id", default=None)
"""The id of the request being served in this context (``None`` outside a request)."""

current_traceparent: ContextVar[str | None] = ContextVar("mcp_traceparent", default=None)
"""The caller's validated ``traceparent``, to pass on to upstream calls."""

current_request_context: ContextVar[RequestContext | None] = ContextVar(
    "mcp_request_context", default=None
)
"""The whole :class:`RequestContext` of the request being served (both transports)."""
