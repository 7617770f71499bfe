"""The stdio adapter: the policy decisions as FastMCP middleware, answered as JSON-RPC errors.

Installed only on a runtime built for stdio (``build_runtime(transport="stdio")``):
:class:`StdioAccessMiddleware` (request id, access line, metrics) and
:class:`StdioRateLimitMiddleware` (limits for the local user). Over stdio there is no
token, so there is no authentication and nothing is filtered by scope. :func:`run_stdio`
serves it and, at end of input, finishes and answers every request already received.
"""

from __future__ import annotations

from mcp_fastapi_server.stdio._access import StdioAccessMiddleware
from mcp_fastapi_server.stdio._identity import local_subject
from mcp_fastapi_server.stdio._ratelimit import StdioRateLimitMiddleware
from mcp_fastapi_server.stdio._run import DrainingStreams, run_stdio

__all__ = [
    "DrainingStreams",
    "StdioAccessMiddleware",
    "StdioRateLimitMiddleware",
    "local_subject",
    "run_stdio",
]
