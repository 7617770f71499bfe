"""The rate limit over stdio (a FastMCP middleware, installed only on the stdio runtime).

Over stdio there is no ASGI chain and no status code, so the same
:class:`~mcp_fastapi_server.limits.RateLimitPolicy` runs as a FastMCP middleware and a
refusal is a JSON-RPC error with the same code, message and data as the HTTP 429 body.
"""

from __future__ import annotations

from typing import Any

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import MCPError

from mcp_fastapi_server.core import RATE_LIMITED, UNAVAILABLE
from mcp_fastapi_server.limits import LimiterUnavailableError, RateLimitPolicy
from mcp_fastapi_server.stdio._identity import local_subject

__all__ = ["StdioRateLimitMiddleware"]


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
        if method is None:
            return await call_next(context)
        tool = getattr(context.message, "name", None) if method == "tools/call" else None
        try:
            decision = await self.policy.hit(self.subject, method, tool)
        except LimiterUnavailableError as exc:
            raise MCPError(code=UNAVAILABLE, message=str(exc), data={"reason": exc.reason}) from exc
        if not decision.allowed:
            raise MCPError(
                code=RATE_LIMITED, message=decision.message(), data=decision.error_data()
            )
        return await call_next(context)
