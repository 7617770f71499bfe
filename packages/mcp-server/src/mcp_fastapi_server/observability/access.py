"""The access line and request metrics: shared by both transports, plus the stdio adapter.

Over HTTP the outermost ASGI middleware (:mod:`mcp_fastapi_server.http.observe`) writes the line;
over stdio there is no ASGI, so :class:`StdioAccessMiddleware` (a FastMCP middleware) does
the same job. Both call :func:`record_access`, so the line has the same fields whatever
the transport.
"""

from __future__ import annotations

import getpass
import logging
import time
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import NotFoundError, ToolError
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp import MCPError

from mcp_fastapi_server.http.context import RequestContext, get_request_context
from mcp_fastapi_server.http.responses import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
)
from mcp_fastapi_server.observability.request_id import (
    current_request_context,
    current_request_id,
    current_traceparent,
    new_request_id,
)

if TYPE_CHECKING:
    from mcp_fastapi_server.observability.metrics import Metrics

__all__ = [
    "ACCESS_LOGGER",
    "StdioAccessMiddleware",
    "outcome_for_code",
    "outcome_for_status",
    "record_access",
]

ACCESS_LOGGER = "mcp_fastapi_server.access"

_CODE_OUTCOMES = {
    UNAUTHORIZED: "denied",
    FORBIDDEN: "denied",
    RATE_LIMITED: "rate_limited",
    PAYLOAD_TOO_LARGE: "too_large",
    UNAVAILABLE: "unavailable",
    PARSE_ERROR: "invalid",
    INVALID_REQUEST: "invalid",
    INVALID_PARAMS: "invalid",
    HEADER_MISMATCH: "invalid",
    -32601: "invalid",  # method not found
}
_STATUS_OUTCOMES = {401: "denied", 403: "denied", 413: "too_large", 429: "rate_limited"}


def outcome_for_status(status: int) -> str:
    """The outcome an HTTP status implies: 2xx ok, 401/403 denied, 413, 429, 4xx, 5xx."""
    if status < 400:
        return "ok"
    if status >= 500:
        return "unavailable" if status == 503 else "error"
    return _STATUS_OUTCOMES.get(status, "invalid")


def outcome_for_code(code: int) -> str:
    """The outcome a JSON-RPC error code implies (our codes and the standard ones)."""
    return _CODE_OUTCOMES.get(code, "error")


def record_access(
    ctx: RequestContext,
    duration_s: float,
    *,
    logger: logging.Logger,
    metrics: Metrics | None,
) -> None:
    """Record one finished request: metrics, then one access line (built once)."""
    if metrics is not None:
        metrics.observe_request(ctx.method, ctx.tool, ctx.outcome, duration_s)
        if ctx.outcome == "rate_limited":
            metrics.rate_limited(ctx.tool)
    level = logging.WARNING if ctx.outcome == "error" else logging.INFO
    if logger.isEnabledFor(level):
        # makeRecord + handle instead of logger.log(): skips findCaller's stack walk
        # (the caller is always this function). Filters and handlers apply as usual.
        record = logger.makeRecord(
            logger.name,
            level,
            __file__,
            0,
            "access",
            (),
            None,
            "record_access",
            {
                "request_id": ctx.request_id,
                "transport": ctx.transport,
                "method": ctx.method,
                "tool": ctx.tool,
                "subject": ctx.subject,
                "outcome": ctx.outcome,
                "status": ctx.status or None,
                "duration_ms": round(duration_s * 1000.0, 3),
                "response_bytes": ctx.response_bytes,
            },
        )
        logger.handle(record)


def _local_subject() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry / no login name (containers)
        return "local:unknown"


class StdioAccessMiddleware(Middleware):
    """Request id, access line and metrics for requests that did not come over HTTP.

    Add it first (outermost) among FastMCP middleware. Over stdio (and in-memory clients)
    it creates a :class:`RequestContext` (``transport="stdio"``, subject = the local OS
    user) and publishes it in :data:`current_request_context` for the stdio policy
    middleware, which may set ``subject``/``outcome``. Over HTTP the ASGI layer already
    logged and counted, so it only copies the scope's context into the context
    variables (about 1 µs), so log lines inside tools and upstream calls see the request
    even where a handler task does not inherit the ASGI task's context.
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
        self.subject = subject if subject is not None else _local_subject()

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
        try:
            request = get_http_request()
        except RuntimeError:
            request = None
        if request is not None:
            return await self._over_http(request.scope, context, call_next)

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

    @staticmethod
    async def _over_http(
        scope: Any, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        ctx = get_request_context(scope)
        if ctx is None:  # FastMCP served without our ASGI chain: nothing to correlate
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
