"""The per-request record every layer after the parser reads and fills.

The body is parsed once (:mod:`mcp_fastapi_server.http.body`) and kept here on the ASGI scope, so
auth, the scope check, the limiter and the access log never parse it again. It lives on
the scope rather than in a contextvar because FastMCP runs stateless requests in tasks
spawned from its lifespan task group, where a contextvar set by middleware is not visible;
the scope is (``fastmcp.server.dependencies.get_http_request().scope``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.types import Scope

__all__ = ["SCOPE_KEY", "RequestContext", "get_request_context"]

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


def get_request_context(scope: Scope) -> RequestContext | None:
    """The context the chain stored on ``scope``, if any."""
    ctx = scope.get(SCOPE_KEY)
    return ctx if isinstance(ctx, RequestContext) else None
