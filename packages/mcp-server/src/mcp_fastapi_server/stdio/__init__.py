"""The stdio adapter: the policy decisions as FastMCP middleware, answered as JSON-RPC errors.

Installed only on a runtime built for stdio (``build_runtime(transport="stdio")``):
:class:`StdioAccessMiddleware` (request id, access line, metrics) and
:class:`StdioRateLimitMiddleware` (limits for the local user). Over stdio there is no
token, so there is no authentication and nothing is filtered by scope.
"""

from __future__ import annotations

from mcp_fastapi_server.stdio._access import StdioAccessMiddleware
from mcp_fastapi_server.stdio._identity import local_subject
from mcp_fastapi_server.stdio._ratelimit import StdioRateLimitMiddleware

__all__ = ["StdioAccessMiddleware", "StdioRateLimitMiddleware", "local_subject"]
