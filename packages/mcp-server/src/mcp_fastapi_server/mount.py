"""``mount_mcp(app)``: put the curated server on an existing FastAPI app in one call.

The streamable-HTTP app is added as a route at exactly ``MCP_HTTP_PATH`` (not a catch-all
mount at ``/``), so routes the team adds later are never shadowed, and its lifespan is
combined with the app's own (FastMCP's session manager must run, or every call is a 500).
The pure-ASGI chain in front of it answers 401/403/413/421/429 with real status codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastmcp.utilities.lifespan import combine_lifespans
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_fastapi_server.documents import DocumentSource
from mcp_fastapi_server.http.body import BodyMiddleware
from mcp_fastapi_server.http.host_guard import CachedHostOriginGuard
from mcp_fastapi_server.http.sse import sse_routes
from mcp_fastapi_server.registry import ToolRegistry
from mcp_fastapi_server.server import Runtime, build_runtime
from mcp_fastapi_server.services import Endpoint
from mcp_fastapi_server.settings import Settings, load_settings
from mcp_fastapi_server.tools.health import HealthReport, run_checks

if TYPE_CHECKING:
    from fastmcp.server.auth import TokenVerifier
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from mcp_upstream_client import UpstreamManager

__all__ = ["McpMount", "mount_mcp"]

logger = logging.getLogger("mcp_fastapi_server")


@dataclass
class McpMount:
    """What :func:`mount_mcp` put on the app: the runtime and a readiness probe."""

    runtime: Runtime
    asgi: ASGIApp

    async def readiness(self) -> HealthReport:
        """Redis (when configured) and every required upstream; for ``/readyz``."""
        return await run_checks(self.runtime.readiness_checks)


def _endpoints(app: FastAPI, hidden: set[str]) -> Callable[[], list[Endpoint]]:
    """The host app's documented REST routes, read lazily (routes may be added later)."""
    cache: list[Endpoint] = []
    seen = -1

    def endpoints() -> list[Endpoint]:
        nonlocal seen
        if seen != len(app.routes):
            cache[:] = [
                Endpoint(method=method, path=route.path, summary=route.summary or route.name)
                for route in app.routes
                if isinstance(route, APIRoute)
                and route.include_in_schema
                and route.path not in hidden
                for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"})
            ]
            seen = len(app.routes)
        return cache

    return endpoints


def build_chain(runtime: Runtime, mcp_app: ASGIApp) -> ASGIApp:
    """Wrap FastMCP's app in the policy chain (innermost first)."""
    settings = runtime.settings
    app: ASGIApp = mcp_app
    for factory in reversed(runtime.http_middleware):
        app = factory(app)
    app = BodyMiddleware(app, max_bytes=settings.max_request_bytes)
    app = CachedHostOriginGuard(
        app,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
        mode="strict",
    )
    for factory in reversed(runtime.outer_http_middleware):
        app = factory(app)
    return app


def mount_mcp(
    app: FastAPI,
    settings: Settings | None = None,
    *,
    redis: Redis | None = None,
    metrics_registry: CollectorRegistry | None = None,
    token_verifier: TokenVerifier | None = None,
    upstreams: UpstreamManager | None = None,
    registry: ToolRegistry | None = None,
    documents: DocumentSource | None = None,
) -> McpMount | None:
    """Mount the curated MCP server on ``app`` at ``MCP_HTTP_PATH``.

    The host's own infrastructure is reused when given (its Redis client, Prometheus
    registry, token verifier, upstream manager, document source) and built from settings
    otherwise. Returns ``None`` (and mounts nothing) when ``MCP_ENABLED=false``.
    """
    settings = settings or load_settings()
    if not settings.enabled:
        logger.info("MCP_ENABLED=false: no MCP endpoint mounted")
        return None
    runtime = build_runtime(
        settings,
        registry=registry,
        documents=documents,
        transport="http",
        redis=redis,
        metrics_registry=metrics_registry,
        token_verifier=token_verifier,
        upstreams=upstreams,
    )
    mcp_app = runtime.mcp.http_app(
        path=settings.http_path,
        stateless_http=settings.http_stateless,
        # Sessions exist so the server can talk back (progress, logs, sampling,
        # elicitation); a JSON answer has no room for that, so they get SSE answers.
        json_response=settings.http_stateless,
        host_origin_protection=False,  # our chain runs FastMCP's guard first, in strict mode
    )
    chain = build_chain(runtime, mcp_app)
    hidden = {settings.http_path, settings.metrics_path}
    runtime.services.endpoints = _endpoints(app, hidden)
    for route in runtime.host_routes:
        app.router.routes.append(route)
    # First, not last: every MCP call would otherwise try each host route's regex first.
    # The path is exact, so no host route is shadowed but one at the very same path.
    app.router.routes.insert(0, Route(settings.http_path, endpoint=chain))
    if settings.http_sse_enabled:  # legacy SSE for old clients, behind the same chain
        app.router.routes.extend(sse_routes(runtime, partial(build_chain, runtime)))

    host_lifespan = app.router.lifespan_context

    combined: Callable[[Any], AbstractAsyncContextManager[Any]] = combine_lifespans(
        host_lifespan, mcp_app.lifespan
    )
    app.router.lifespan_context = combined
    return McpMount(runtime=runtime, asgi=chain)
