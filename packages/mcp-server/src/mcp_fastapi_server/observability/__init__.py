"""Observability: correlation ids, structured logs and Prometheus metrics.

Everything logs through stdlib :mod:`logging` (so a host's handlers apply) and every
metric lives on one :class:`~prometheus_client.CollectorRegistry` (the host's when given).
The HTTP side is :class:`mcp_fastapi_server.http.observe.ObserveMiddleware`; the stdio side is
:class:`StdioAccessMiddleware`.
"""

from __future__ import annotations

from mcp_fastapi_server.observability.access import (
    ACCESS_LOGGER,
    StdioAccessMiddleware,
    outcome_for_code,
    outcome_for_status,
    record_access,
)
from mcp_fastapi_server.observability.logging import (
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    redact,
    redact_text,
    route_fastmcp_logging,
)
from mcp_fastapi_server.observability.metrics import (
    KNOWN_METHODS,
    OUTCOMES,
    Metrics,
    UpstreamMetrics,
    metrics_endpoint,
    metrics_route,
)
from mcp_fastapi_server.observability.request_id import (
    current_request_context,
    current_request_id,
    current_traceparent,
    new_request_id,
    parse_request_id,
    parse_traceparent,
)

__all__ = [
    "ACCESS_LOGGER",
    "KNOWN_METHODS",
    "OUTCOMES",
    "ConsoleFormatter",
    "JsonFormatter",
    "Metrics",
    "RequestIdFilter",
    "StdioAccessMiddleware",
    "UpstreamMetrics",
    "configure_logging",
    "current_request_context",
    "current_request_id",
    "current_traceparent",
    "metrics_endpoint",
    "metrics_route",
    "new_request_id",
    "outcome_for_code",
    "outcome_for_status",
    "parse_request_id",
    "parse_traceparent",
    "record_access",
    "redact",
    "redact_text",
    "route_fastmcp_logging",
]
