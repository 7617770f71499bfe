"""The transport-neutral core: the request record, correlation ids, JSON-RPC error codes and
health results. It imports nothing from the rest of the package and no web framework;
the transport adapters (:mod:`mcp_fastapi_server.http`, :mod:`mcp_fastapi_server.stdio`)
and the policy packages (:mod:`~mcp_fastapi_server.auth`, :mod:`~mcp_fastapi_server.limits`)
build on it.
"""

from __future__ import annotations

from mcp_fastapi_server.core._context import (
    SCOPE_KEY,
    RequestContext,
    current_request_context,
    current_request_id,
    current_traceparent,
    get_request_context,
)
from mcp_fastapi_server.core._health import (
    CHECK_TIMEOUT_S,
    CheckReport,
    CheckResult,
    CheckStatus,
    HealthCheck,
    HealthReport,
    LocalCheck,
    run_checks,
)
from mcp_fastapi_server.core._ids import (
    MAX_REQUEST_ID_LENGTH,
    new_request_id,
    parse_request_id,
    parse_traceparent,
)
from mcp_fastapi_server.core._jsonrpc import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
)
from mcp_fastapi_server.core._tool_policy import ToolPolicy

__all__ = [
    "CHECK_TIMEOUT_S",
    "FORBIDDEN",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_REQUEST_ID_LENGTH",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "SCOPE_KEY",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "CheckReport",
    "CheckResult",
    "CheckStatus",
    "HealthCheck",
    "HealthReport",
    "LocalCheck",
    "RequestContext",
    "ToolPolicy",
    "current_request_context",
    "current_request_id",
    "current_traceparent",
    "get_request_context",
    "new_request_id",
    "parse_request_id",
    "parse_traceparent",
    "run_checks",
]
