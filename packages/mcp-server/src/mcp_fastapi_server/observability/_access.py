"""The access line and request metrics of one finished request, whatever the transport.

Over HTTP the outermost ASGI middleware (:mod:`mcp_fastapi_server.http`) calls
:func:`record_access`; over stdio the stdio adapter (:mod:`mcp_fastapi_server.stdio`) does,
so the line has the same fields on both.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcp_fastapi_server.core import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    RequestContext,
)

if TYPE_CHECKING:
    from mcp_fastapi_server.observability._metrics import Metrics

__all__ = ["ACCESS_LOGGER", "outcome_for_code", "outcome_for_status", "record_access"]

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
    METHOD_NOT_FOUND: "invalid",
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
