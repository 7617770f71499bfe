"""Request ids, access lines and metrics for requests over stdio (a FastMCP middleware).

Over HTTP the ASGI chain does this job (:mod:`mcp_fastapi_server.http`); over stdio there
is no ASGI, so this middleware creates the :class:`~mcp_fastapi_server.core.RequestContext`
and calls the same :func:`~mcp_fastapi_server.observability.record_access`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import MCPError

from mcp_fastapi_server.core import (
    RequestContext,
    current_request_context,
    current_request_id,
    new_request_id,
)
from mcp_fastapi_server.observability import (
    ACCESS_LOGGER,
    Metrics,
    outcome_for_code,
    record_access,
)
from mcp_fastapi_server.stdio._identity import local_subject

__all__ = ["StdioAccessMiddleware"]


class StdioAccessMiddleware(Middleware):
    """Request id, access line and metrics for each JSON-RPC request over stdio.

    Installed first (outermost) among FastMCP middleware, and only on the stdio runtime.
    It creates a :class:`RequestContext` (``transport="stdio"``, subject = the local OS
    user) and publishes it in :data:`current_request_context` for the stdio limiter and
    for log lines inside tools and upstream calls.
    """

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        logger: logging.Logger | None = None,
        subject: str | None = None,
    ) -> None:
        self.metrics = metrics
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.subject = subject if subject is not None else local_subject()

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        # Dispatch ourselves: FastMCP's base ``__call__`` builds a closure per hook
        # (on_message, on_request, the typed hook) per message even when only one is
        # ours; a ``__call__`` override runs once per message (fastmcp 4.2).
        if context.type != "request":
            return await call_next(context)
        return await self.on_request(context, call_next)

    async def on_request(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        method = context.method
        tool = getattr(context.message, "name", None) if method == "tools/call" else None
        ctx = RequestContext(
            request_id=new_request_id(),
            transport="stdio",
            method=method,
            tool=tool if isinstance(tool, str) else None,
            subject=self.subject,
        )
        rid_token = current_request_id.set(ctx.request_id)
        ctx_token = current_request_context.set(ctx)
        start = time.perf_counter()
        try:
            result = await call_next(context)
        except MCPError as exc:
            ctx.outcome = ctx.outcome if ctx.outcome != "ok" else outcome_for_code(exc.error.code)
            raise
        except ToolError:
            ctx.outcome = ctx.outcome if ctx.outcome != "ok" else "tool_error"
            raise
        except NotFoundError:
            ctx.outcome = ctx.outcome if ctx.outcome != "ok" else "invalid"
            raise
        except Exception:
            ctx.outcome = "error"
            raise
        except BaseException:  # cancelled by the client or shutdown
            ctx.outcome = "disconnected"
            raise
        else:
            if ctx.outcome == "ok" and getattr(result, "is_error", False) is True:
                ctx.outcome = "tool_error"
            return result
        finally:
            record_access(
                ctx, time.perf_counter() - start, logger=self.logger, metrics=self.metrics
            )
            current_request_context.reset(ctx_token)
            current_request_id.reset(rid_token)
