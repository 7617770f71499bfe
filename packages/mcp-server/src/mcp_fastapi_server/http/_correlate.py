"""Re-point the correlation context variables for requests served by a session's task.

The outermost ASGI layer sets :data:`~mcp_fastapi_server.core.current_request_id` (and the
request context and ``traceparent``) once per request, and FastMCP's handler for a
stateless request runs in a task started from that request, so it sees them. A stateful
(2025-11-25 session) or legacy-SSE request is different: its handler runs in the task the
session's *first* request started, which carries that request's variables. This FastMCP
middleware, installed only when sessions or SSE are on, re-points the variables to the
request being served when they are stale (one identity check otherwise).
"""

from __future__ import annotations

from typing import Any

from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from mcp_fastapi_server.core import (
    current_request_context,
    current_request_id,
    current_traceparent,
    get_request_context,
)

__all__ = ["CorrelateMiddleware"]


class CorrelateMiddleware(Middleware):
    """Make the context variables name the request being served (sessions, SSE)."""

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        if context.type != "request":
            return await call_next(context)
        try:
            scope = get_http_request().scope
        except RuntimeError:  # not over HTTP (an in-memory client)
            return await call_next(context)
        ctx = get_request_context(scope)
        if ctx is None or current_request_context.get() is ctx:
            return await call_next(context)
        rid_token = current_request_id.set(ctx.request_id)
        ctx_token = current_request_context.set(ctx)
        tp_token = current_traceparent.set(ctx.traceparent)
        try:
            return await call_next(context)
        finally:
            current_traceparent.reset(tp_token)
            current_request_context.reset(ctx_token)
            current_request_id.reset(rid_token)
