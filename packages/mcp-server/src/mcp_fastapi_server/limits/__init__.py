"""Limits, transport-neutral: may this call run now (rate), and may its answer go out (size)?

:func:`build_limiter` builds the :class:`RateLimitPolicy` (GCRA per subject and tool, in
Redis shared by every replica or in this process) from settings; the transport adapters ask
:meth:`RateLimitPolicy.hit` once per request. :class:`ResponseSizeMiddleware` refuses a
tool result over its byte limit inside FastMCP, on both transports.
"""

from __future__ import annotations

from mcp_fastapi_server.limits._gcra import Backend, Decision, MemoryBackend, Rule, make_rule
from mcp_fastapi_server.limits._ratelimit import (
    LimiterUnavailableError,
    RateLimitPolicy,
    build_limiter,
    resolve_rates,
)
from mcp_fastapi_server.limits._size import ResponseSizeMiddleware
from mcp_fastapi_server.limits._store_errors import (
    STORE_ERROR_REASONS,
    StoreError,
    StoreMisconfiguredError,
    StoreReason,
    StoreUnavailableError,
)

__all__ = [
    "STORE_ERROR_REASONS",
    "Backend",
    "Decision",
    "LimiterUnavailableError",
    "MemoryBackend",
    "RateLimitPolicy",
    "ResponseSizeMiddleware",
    "Rule",
    "StoreError",
    "StoreMisconfiguredError",
    "StoreReason",
    "StoreUnavailableError",
    "build_limiter",
    "make_rule",
    "resolve_rates",
]
