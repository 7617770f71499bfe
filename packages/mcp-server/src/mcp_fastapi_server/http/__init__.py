"""The HTTP adapter: pure-ASGI middleware in front of FastMCP's streamable-HTTP app.

One concern per module, each passing non-HTTP scopes and paths outside the MCP endpoint
straight through; :func:`build_chain` puts them in order (see :mod:`._chain`). The answers
are real HTTP statuses with their headers (401/403/413/421/429/503), JSON-RPC error bodies
and ``X-Request-ID``, which FastMCP itself cannot send.
"""

from __future__ import annotations

from mcp_fastapi_server.http._authenticate import AuthenticateMiddleware
from mcp_fastapi_server.http._authorize import AuthorizeMiddleware
from mcp_fastapi_server.http._body import BodyMiddleware
from mcp_fastapi_server.http._chain import build_chain, fastmcp_middleware, host_routes
from mcp_fastapi_server.http._correlate import CorrelateMiddleware
from mcp_fastapi_server.http._host_guard import CachedHostOriginGuard
from mcp_fastapi_server.http._list_filter import ScopeFilterMiddleware
from mcp_fastapi_server.http._metrics import metrics_endpoint, metrics_route
from mcp_fastapi_server.http._observe import REQUEST_ID_HEADER, ObserveMiddleware
from mcp_fastapi_server.http._ratelimit import RateLimitMiddleware
from mcp_fastapi_server.http._resource_metadata import resource_metadata_routes
from mcp_fastapi_server.http._responses import challenge, send_jsonrpc_error, send_plain
from mcp_fastapi_server.http._sse import SsePaths, mcp_paths, sse_paths, sse_routes

__all__ = [
    "REQUEST_ID_HEADER",
    "AuthenticateMiddleware",
    "AuthorizeMiddleware",
    "BodyMiddleware",
    "CachedHostOriginGuard",
    "CorrelateMiddleware",
    "ObserveMiddleware",
    "RateLimitMiddleware",
    "ScopeFilterMiddleware",
    "SsePaths",
    "build_chain",
    "challenge",
    "fastmcp_middleware",
    "host_routes",
    "mcp_paths",
    "metrics_endpoint",
    "metrics_route",
    "resource_metadata_routes",
    "send_jsonrpc_error",
    "send_plain",
    "sse_paths",
    "sse_routes",
]
