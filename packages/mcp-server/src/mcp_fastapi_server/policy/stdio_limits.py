"""The rate limit for calls that do not come over HTTP (stdio, in-memory clients).

Over stdio there is no ASGI chain and no status code, so the same
:class:`~mcp_fastapi_server.policy.ratelimit.RateLimitPolicy` runs as a FastMCP middleware and a
refusal is a JSON-RPC error with the same code, message and data as the HTTP 429 body.
A request that arrived over HTTP was already counted by the ASGI middleware, so it is
passed through here (never counted twice).
"""

from __future__ import annotations

import getpass
from typing import Any

from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import MCPError

from mcp_fastapi_server.http.responses import RATE_LIMITED, UNAVAILABLE
from mcp_fastapi_server.policy.ratelimit import LimiterUnavailableError, RateLimitPolicy

__all__ = ["StdioRateLimitMiddleware", "local_subject"]


def local_subject() -> str:
    """``local:<OS user>``: over stdio the caller is whoever started the process."""
    try:
        return f"local:{getpass.getuser()}"
    except (OSError, KeyError):  # no passwd entry / no USER in a bare container
        return "local:unknown"


def _over_http() -> bool:
    try:
        get_http_request()
    except RuntimeError:
        return False
    return True


class StdioRateLimitMiddleware(Middleware):
    """Count every request of a non-HTTP session against ``subject``'s buckets."""

    def __init__(self, policy: RateLimitPolicy, *, subject: str | None = None) -> None:
        self.policy = policy
        self.subject = subject or local_subject()

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        # One dispatch per message instead of FastMCP's closure per hook (see
        # StdioAccessMiddleware.__call__).
        if context.type != "request":
            return await call_next(context)
        return await self.on_request(context, call_next)

    async def on_request(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        method = context.method
        if method is None or _over_http():
            return await call_next(context)
        tool = getattr(context.message, "name", None) if method == "tools/call" else None
        try:
            decision = await self.policy.hit(self.subject, method, tool)
        except LimiterUnavailableError as exc:
            raise MCPError(code=UNAVAILABLE, message=str(exc)) from exc
        if not decision.allowed:
            raise MCPError(
                code=RATE_LIMITED, message=decision.message(), data=decision.error_data()
            )
        return await call_next(context)
