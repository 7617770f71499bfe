"""Build the one FastMCP server both transports use, and the runtime around it.

:func:`build_runtime` turns :class:`Settings` into a :class:`Runtime`: the services the
tools call, the FastMCP instance with the curated tools and the policy middleware, and the
shared infrastructure (limiter, auth, metrics, upstreams). stdio runs ``runtime.mcp``
directly; :func:`mcp_fastapi_server.mount.mount_mcp` wraps it in the HTTP chain.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fastmcp import FastMCP
from fastmcp.server.middleware import Middleware
from fastmcp.tools import Tool
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from mcp_fastapi_server.auth import build_auth
from mcp_fastapi_server.conformance import register_fixtures
from mcp_fastapi_server.documents import DocumentSource, default_source
from mcp_fastapi_server.http.observe import ObserveMiddleware
from mcp_fastapi_server.http.ratelimit import RateLimitMiddleware
from mcp_fastapi_server.http.sse import mcp_paths
from mcp_fastapi_server.observability import Metrics, StdioAccessMiddleware, metrics_route
from mcp_fastapi_server.paging import CursorCodec
from mcp_fastapi_server.policy.ratelimit import RateLimitPolicy, build_limiter
from mcp_fastapi_server.policy.size import ResponseSizeMiddleware
from mcp_fastapi_server.policy.stdio_limits import StdioRateLimitMiddleware
from mcp_fastapi_server.registry import ToolRegistry, ToolSpec
from mcp_fastapi_server.services import HealthCheck, Services
from mcp_fastapi_server.settings import Settings, load_settings
from mcp_fastapi_server.tools import default_registry
from mcp_fastapi_server.tools.metadata import package_version

if TYPE_CHECKING:
    from fastmcp.server.auth import TokenVerifier
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from mcp_upstream_client import UpstreamConfig, UpstreamManager

__all__ = ["Runtime", "build_runtime", "build_server"]

logger = logging.getLogger("mcp_fastapi_server")

INSTRUCTIONS = (
    "Read-only tools over this application's documents and API description. "
    "Use `search` to find documents and `fetch` to read one (follow `next_cursor` for "
    "long texts); `metadata` describes the REST API; `health` reports status."
)


@dataclass
class Runtime:
    """Everything one server instance owns; its :meth:`lifespan` starts and stops it."""

    settings: Settings
    services: Services
    mcp: FastMCP[Any]
    specs: list[ToolSpec]
    transport: Literal["http", "stdio"]
    readiness_checks: dict[str, HealthCheck] = field(default_factory=dict)
    resources: list[Callable[[], AbstractAsyncContextManager[Any]]] = field(default_factory=list)
    # ASGI middleware factories for the HTTP chain: ``outer`` wrap the Host/Origin guard
    # (observability), ``inner`` run after the body parse (auth, rate limit).
    outer_http_middleware: list[Callable[[ASGIApp], ASGIApp]] = field(default_factory=list)
    http_middleware: list[Callable[[ASGIApp], ASGIApp]] = field(default_factory=list)
    host_routes: list[BaseRoute] = field(default_factory=list)
    metrics: Metrics | None = None
    limiter: RateLimitPolicy | None = None
    upstreams: UpstreamManager | None = None

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open shared clients (Redis, upstreams) for the server's lifetime.

        Entered through FastMCP's own lifespan, so stdio and mounted HTTP both get it.
        """
        async with AsyncExitStack() as stack:
            for resource in self.resources:
                await stack.enter_async_context(resource())
            yield


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


@asynccontextmanager
async def _closing(resource: _Closeable) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await resource.aclose()


def _tool(spec: ToolSpec, services: Services) -> Tool:
    return Tool.from_function(
        spec.build(services),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations,
        tags=set(spec.tags) or None,
    )


def build_runtime(
    settings: Settings | None = None,
    *,
    registry: ToolRegistry | None = None,
    documents: DocumentSource | None = None,
    transport: Literal["http", "stdio"] = "http",
    redis: Redis | None = None,
    metrics_registry: CollectorRegistry | None = None,
    token_verifier: TokenVerifier | None = None,
    upstreams: UpstreamManager | None = None,
) -> Runtime:
    """Assemble one server from settings; raises ``SettingsError``/``ValueError`` early."""
    settings = settings or load_settings()
    reg = registry if registry is not None else default_registry()
    specs = reg.select(settings.tools_enabled)
    services = Services(
        settings=settings,
        documents=documents if documents is not None else default_source(settings),
        cursors=CursorCodec(settings.cursor_secret.get_secret_value()),
        tools=specs,
    )
    # Upstream support (fastmcp's client: a fifth of the stdio cold start) is imported
    # only when upstreams are configured.
    uses_upstreams = upstreams is not None or settings.upstreams_file is not None
    configs: list[UpstreamConfig] = []
    exposed: list[str] = []
    if uses_upstreams:
        from mcp_fastapi_server.upstreams import exposed_names, load_configs

        configs = (
            [upstreams.config(name) for name in upstreams.names]
            if upstreams is not None
            else load_configs(settings)
        )
        exposed = list(exposed_names(configs))
    metrics = (
        Metrics(metrics_registry, known_tools=[spec.name for spec in specs] + exposed)
        if settings.metrics_enabled
        else None
    )
    # Registered-but-disabled tools may still be named in MCP_RATE_LIMIT_TOOLS and
    # MCP_TOOL_SCOPES without stopping start-up (one config for differently-enabled replicas).
    disabled = [name for name in reg.names() if name not in {s.name for s in specs}]
    limiter = build_limiter(
        settings,
        specs,
        redis=redis,
        extra_tools=disabled + exposed,
        on_error=metrics.limiter_error if metrics is not None else None,
    )
    auth = build_auth(
        settings,
        specs,
        token_verifier=token_verifier,
        on_failure=metrics.auth_failure if metrics is not None else None,
        other_tools=disabled + exposed,
    )
    middleware: list[Middleware] = [
        StdioAccessMiddleware(metrics),
        *([auth.list_filter] if auth is not None else []),
        *([StdioRateLimitMiddleware(limiter)] if limiter is not None else []),
        ResponseSizeMiddleware(
            limits={s.name: s.max_response_bytes for s in specs if s.max_response_bytes},
            default=settings.max_response_bytes,
            on_oversize=metrics.response_truncated if metrics is not None else None,
        ),
    ]
    holder: list[Runtime] = []

    @asynccontextmanager
    async def lifespan(_server: FastMCP[Any]) -> AsyncIterator[dict[str, Any]]:
        async with holder[0].lifespan():
            yield {}

    runtime_mcp: FastMCP[Any] = FastMCP(
        name="mcp-server",
        lifespan=lifespan,
        instructions=INSTRUCTIONS,
        version=package_version(),
        list_page_size=settings.page_size,
        mask_error_details=True,
        middleware=middleware,
    )
    for spec in specs:
        runtime_mcp.add_tool(_tool(spec, services))
    if settings.conformance:  # the official suite's fixtures; never in the registry
        register_fixtures(runtime_mcp)
    runtime = Runtime(
        settings=settings,
        services=services,
        mcp=runtime_mcp,
        specs=specs,
        transport=transport,
    )
    holder.append(runtime)
    runtime.outer_http_middleware.append(
        partial(
            ObserveMiddleware,
            paths=mcp_paths(settings),
            metrics=metrics,
            trust_proxy_headers=settings.trust_proxy_headers,
        )
    )
    if metrics is not None:
        runtime.host_routes.append(metrics_route(settings.metrics_path, metrics))
    describe: dict[str, Any] = {"auth": {"mode": "none"}}
    if auth is not None:
        # Auth runs right after the body parse and before the limiter, so limits key on
        # the verified subject (never on a session id, which changes per request in the
        # 2026-07-28 era).
        runtime.http_middleware.append(auth.wrap)
        runtime.host_routes.extend(auth.routes)
        runtime.resources.append(partial(_closing, auth))
        describe["auth"] = auth.describe()
    describe["rate_limits"] = (
        {"enabled": False}
        if limiter is None
        else {
            "backend": limiter.backend.name,
            "default": settings.rate_limit_default,
            "failure_mode": settings.rate_limit_failure_mode,
        }
    )
    describe["upstreams"] = [config.redacted() for config in configs]
    services.extra["describe"] = describe
    if limiter is not None:
        runtime.http_middleware.append(partial(RateLimitMiddleware, policy=limiter))
        runtime.resources.append(partial(_closing, limiter))
        if redis is not None or settings.redis_url is not None:
            services.add_health_check("redis", limiter.recent_check)
            runtime.readiness_checks["redis"] = limiter.check
    if uses_upstreams:
        from mcp_fastapi_server.upstreams import attach_upstreams

        runtime.upstreams = attach_upstreams(
            runtime,
            configs,
            manager=upstreams,
            observer=metrics.upstream if metrics is not None else None,
        )
    if metrics is not None:
        services.on_truncated = metrics.response_truncated
    runtime.metrics = metrics
    runtime.limiter = limiter
    return runtime


def build_server(settings: Settings | None = None, **kwargs: Any) -> FastMCP[Any]:
    """The curated FastMCP server alone (for custom hosting); see :func:`build_runtime`."""
    return build_runtime(settings, **kwargs).mcp
