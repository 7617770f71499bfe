"""The HTTP adapter put together: the ASGI chain in front of FastMCP, and what else HTTP adds.

Order, outermost first; each layer answers with a real status code before FastMCP runs:

1. :class:`ObserveMiddleware`: the request record, ``X-Request-ID``, one access line and
   the request metrics for every answer (also the ones the layers below send);
2. :class:`CachedHostOriginGuard`: Host/Origin (421/403), against DNS rebinding;
3. :class:`AuthenticateMiddleware`: the bearer token, from the headers alone (401/503);
4. :class:`BodyMiddleware`: the body, read once and bounded (413), parsed once (400);
5. :class:`AuthorizeMiddleware`: the call's scopes, decided once (403);
6. :class:`RateLimitMiddleware`: one limiter hit per JSON-RPC request (429/503);

then FastMCP. Steps 3 and 5 exist only with auth, step 6 only with limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastmcp.server.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.auth import AuthSetup
from mcp_fastapi_server.http._authenticate import AuthenticateMiddleware
from mcp_fastapi_server.http._authorize import AuthorizeMiddleware
from mcp_fastapi_server.http._body import BodyMiddleware
from mcp_fastapi_server.http._correlate import CorrelateMiddleware
from mcp_fastapi_server.http._host_guard import CachedHostOriginGuard
from mcp_fastapi_server.http._list_filter import ScopeFilterMiddleware
from mcp_fastapi_server.http._metrics import metrics_route
from mcp_fastapi_server.http._observe import ObserveMiddleware
from mcp_fastapi_server.http._ratelimit import RateLimitMiddleware
from mcp_fastapi_server.http._resource_metadata import resource_metadata_routes
from mcp_fastapi_server.http._sse import mcp_paths
from mcp_fastapi_server.limits import RateLimitPolicy
from mcp_fastapi_server.observability import Metrics

__all__ = ["build_chain", "fastmcp_middleware", "host_routes"]


def build_chain(
    app: ASGIApp,
    *,
    settings: Settings,
    metrics: Metrics | None,
    auth: AuthSetup | None,
    limiter: RateLimitPolicy | None,
) -> ASGIApp:
    """Wrap ``app`` (FastMCP's streamable or SSE app) in the policy chain."""
    if limiter is not None:
        app = RateLimitMiddleware(app, policy=limiter)
    if auth is not None:
        app = AuthorizeMiddleware(app, auth=auth)
    app = BodyMiddleware(app, max_bytes=settings.max_request_bytes)
    if auth is not None:
        app = AuthenticateMiddleware(app, auth=auth)
    app = CachedHostOriginGuard(
        app,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
        mode="strict",
    )
    return ObserveMiddleware(
        app,
        paths=mcp_paths(settings),
        metrics=metrics,
        trust_proxy_headers=settings.trust_proxy_headers,
    )


def fastmcp_middleware(settings: Settings, auth: AuthSetup | None) -> list[Middleware]:
    """The FastMCP middleware the HTTP runtime needs (none when stateless without auth)."""
    middleware: list[Middleware] = []
    if not settings.http_stateless or settings.http_sse_enabled:
        middleware.append(CorrelateMiddleware())
    if auth is not None:
        middleware.append(ScopeFilterMiddleware(auth.policy))
    return middleware


def host_routes(
    settings: Settings, metrics: Metrics | None, auth: AuthSetup | None
) -> Sequence[BaseRoute]:
    """Routes HTTP adds to the host app: the scrape route and the RFC 9728 metadata."""
    routes: list[BaseRoute] = []
    if metrics is not None:
        routes.append(metrics_route(settings.metrics_path, metrics))
    if auth is not None:
        routes.extend(resource_metadata_routes(auth.metadata))
    return routes
