"""Observability, transport-neutral: structured logs, Prometheus metrics, access lines.

Everything logs through stdlib :mod:`logging` (so a host's handlers apply) and every
metric lives on one :class:`~prometheus_client.CollectorRegistry` (the host's when given).
The transports call :func:`record_access` once per request: the HTTP adapter from its
outermost ASGI middleware, the stdio adapter from its FastMCP middleware.
"""

from __future__ import annotations

from mcp_fastapi_server.observability._access import (
    ACCESS_LOGGER,
    outcome_for_code,
    outcome_for_status,
    record_access,
)
from mcp_fastapi_server.observability._logging import (
    REDACTED,
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    quiet_per_request_sdk_logs,
    redact,
    redact_text,
    route_fastmcp_logging,
)
from mcp_fastapi_server.observability._metrics import (
    KNOWN_METHODS,
    OUTCOMES,
    REQUEST_BUCKETS,
    UPSTREAM_BUCKETS,
    Metrics,
    UpstreamMetrics,
    exposition_registry,
)

__all__ = [
    "ACCESS_LOGGER",
    "KNOWN_METHODS",
    "OUTCOMES",
    "REDACTED",
    "REQUEST_BUCKETS",
    "UPSTREAM_BUCKETS",
    "ConsoleFormatter",
    "JsonFormatter",
    "Metrics",
    "RequestIdFilter",
    "UpstreamMetrics",
    "configure_logging",
    "exposition_registry",
    "outcome_for_code",
    "outcome_for_status",
    "quiet_per_request_sdk_logs",
    "record_access",
    "redact",
    "redact_text",
    "route_fastmcp_logging",
]
