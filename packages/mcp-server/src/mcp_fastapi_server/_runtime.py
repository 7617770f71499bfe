"""The composition root: one function turns settings into a :class:`Runtime`, once.

:func:`build_runtime` decides every policy from the settings (and the host's own parts when
given), builds the one FastMCP server with the middleware its transport needs, and returns
a frozen :class:`Runtime`. Nothing changes it afterwards: ``mcp-server stdio`` runs
``runtime.mcp`` directly, :func:`mcp_fastapi_server.mount_mcp` puts it behind the HTTP
chain, ``mcp-server check`` prints :meth:`Runtime.describe`.

Transport-neutral decisions (scopes, rate limits, sizes) are built here once and handed to
the adapter of the transport in use: the ASGI chain over HTTP (:mod:`.http`), FastMCP
middleware over stdio (:mod:`.stdio`). Stdio-only middleware is installed only for stdio.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fastmcp import FastMCP
from fastmcp.server.middleware import Middleware
from fastmcp.tools import Tool

from mcp_fastapi_server import http, stdio
from mcp_fastapi_server._conformance import register_fixtures
from mcp_fastapi_server._paging import CursorCodec
from mcp_fastapi_server._registry import ToolRegistry, ToolSpec
from mcp_fastapi_server._services import Endpoint, Services, ToolInfo
from mcp_fastapi_server._settings import Settings, load_settings
from mcp_fastapi_server._version import __version__
from mcp_fastapi_server.auth import AuthSetup, build_auth
from mcp_fastapi_server.core import HealthCheck, HealthReport, run_checks
from mcp_fastapi_server.documents import DocumentSource, default_source
from mcp_fastapi_server.limits import RateLimitPolicy, ResponseSizeMiddleware, build_limiter
from mcp_fastapi_server.observability import Metrics
from mcp_fastapi_server.tools import default_registry

if TYPE_CHECKING:
    from fastmcp.server.auth import TokenVerifier
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from mcp_fastapi_server.upstreams import UpstreamSetup
    from mcp_upstream_client import UpstreamConfig, UpstreamManager

__all__ = ["Runtime", "build_runtime", "build_server"]

logger = logging.getLogger("mcp_fastapi_server")

Transport = Literal["http", "stdio"]
Resource = Callable[[], AbstractAsyncContextManager[Any]]

INSTRUCTIONS = (
    "Read-only tools over this application's documents and API description. "
    "Use `search` to find documents and `fetch` to read one (follow `next_cursor` for "
    "long texts); `metadata` describes the REST API; `health` reports status."
)


@dataclass(frozen=True)
class Runtime:
    """Everything one server instance owns, built once by :func:`build_runtime`."""

    settings: Settings
    transport: Transport
    mcp: FastMCP[Any]
    services: Services
    specs: tuple[ToolSpec, ...]
    metrics: Metrics | None
    auth: AuthSetup | None
    limiter: RateLimitPolicy | None
    upstreams: UpstreamSetup | None
    readiness_checks: Mapping[str, HealthCheck]
    resources: tuple[Resource, ...]
    """Opened in order, for the server's lifetime, by FastMCP's lifespan (auth, Redis,
    upstreams); closed in reverse."""

    async def readiness(self) -> HealthReport:
        """Redis (when configured) and every required upstream, for ``/readyz``."""
        return await run_checks(self.readiness_checks)

    def describe(self) -> dict[str, Any]:
        """The effective configuration for ``mcp-server check``; secrets masked."""
        limiter = self.limiter
        upstreams = self.upstreams
        return {
            "settings": self.settings.masked(),
            "tools": [spec.name for spec in self.specs],
            "auth": self.auth.describe() if self.auth is not None else {"mode": "none"},
            "rate_limits": (
                {"enabled": False}
                if limiter is None
                else {
                    **limiter.describe(),
                    "default": self.settings.rate_limit_default,
                    "failure_mode": self.settings.rate_limit_failure_mode,
                }
            ),
            "upstreams": (
                []
                if upstreams is None
                else [upstreams.manager.config(name).redacted() for name in upstreams.manager.names]
            ),
        }


@asynccontextmanager
async def _closing(resource: AuthSetup) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await resource.aclose()


@asynccontextmanager
async def _limiting(limiter: RateLimitPolicy) -> AsyncIterator[None]:
    """Probe the store at start-up (a misconfigured Redis stops it), close it at the end."""
    try:
        await limiter.open()
        yield
    finally:
        await limiter.aclose()


def _tool(spec: ToolSpec, services: Services) -> Tool:
    return Tool.from_function(
        spec.build(services),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations,
        tags=set(spec.tags) or None,
    )


def _upstream_configs(settings: Settings, manager: UpstreamManager | None) -> list[UpstreamConfig]:
    if manager is not None:
        return [manager.config(name) for name in manager.names]
    if settings.upstreams_file is None:
        return []
    # Upstream support (fastmcp's client: a fifth of the stdio cold start) is imported
    # only when upstreams are configured.
    from mcp_fastapi_server.upstreams import load_configs

    return load_configs(settings)


def build_runtime(
    settings: Settings | None = None,
    *,
    registry: ToolRegistry | None = None,
    documents: DocumentSource | None = None,
    transport: Transport = "http",
    redis: Redis | None = None,
    metrics_registry: CollectorRegistry | None = None,
    token_verifier: TokenVerifier | None = None,
    upstreams: UpstreamManager | None = None,
    endpoints: Callable[[], list[Endpoint]] | None = None,
) -> Runtime:
    """Assemble one server; raises ``SettingsError`` (naming the variable) or ``ValueError``.

    The host's own parts are used when given (its Redis client, Prometheus registry, token
    verifier, upstream manager, document source, REST routes for ``metadata``) and built
    from ``settings`` otherwise.
    """
    settings = settings or load_settings()
    # First: an unusable docs folder or index stops start-up before anything else logs.
    documents = documents if documents is not None else default_source(settings)
    reg = registry if registry is not None else default_registry()
    specs = tuple(reg.select(settings.tools_enabled))
    configs = _upstream_configs(settings, upstreams)
    exposed: list[str] = []
    if configs:
        from mcp_fastapi_server.upstreams import exposed_names

        exposed = list(exposed_names(configs))

    # Every tool the server knows, served or not (registered but disabled, re-exposed from
    # upstreams): one configuration fits replicas that enable different tools, and a name
    # nobody registered in MCP_TOOL_SCOPES / MCP_RATE_LIMIT_TOOLS stops start-up whatever
    # the auth and limit modes.
    known = list(reg)
    metrics = (
        Metrics(metrics_registry, known_tools=[spec.name for spec in specs] + exposed)
        if settings.metrics_enabled
        else None
    )
    auth = build_auth(
        settings,
        known,
        token_verifier=token_verifier,
        on_failure=metrics.auth_failure if metrics is not None else None,
        other_tools=exposed,
    )
    limiter = build_limiter(
        settings,
        known,
        redis=redis,
        extra_tools=exposed,
        on_error=metrics.limiter_error if metrics is not None else None,
    )

    middleware: list[Middleware] = []
    if transport == "stdio":
        middleware.append(stdio.StdioAccessMiddleware(metrics))
        if limiter is not None:
            middleware.append(stdio.StdioRateLimitMiddleware(limiter))
    else:
        middleware.extend(http.fastmcp_middleware(settings, auth))
    middleware.append(
        ResponseSizeMiddleware(
            limits={s.name: s.max_response_bytes for s in specs if s.max_response_bytes},
            default=settings.max_response_bytes,
            on_oversize=metrics.response_truncated if metrics is not None else None,
        )
    )

    resources: list[Resource] = []

    @asynccontextmanager
    async def lifespan(_server: FastMCP[Any]) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            for resource in resources:
                await stack.enter_async_context(resource())
            yield {}

    mcp: FastMCP[Any] = FastMCP(
        name="mcp-server",
        lifespan=lifespan,
        instructions=INSTRUCTIONS,
        version=__version__,
        list_page_size=settings.page_size,
        mask_error_details=True,
        middleware=middleware,
    )

    upstream_setup: UpstreamSetup | None = None
    if configs or upstreams is not None:
        from mcp_fastapi_server.upstreams import build_upstreams

        upstream_setup = build_upstreams(
            configs,
            mcp=mcp,
            manager=upstreams,
            observer=metrics.upstream if metrics is not None else None,
            local_tools=[spec.name for spec in specs],
        )

    health_checks: dict[str, HealthCheck] = {}
    readiness_checks: dict[str, HealthCheck] = {}
    if limiter is not None and (redis is not None or settings.redis_url is not None):
        health_checks["redis"] = limiter.recent_check
        readiness_checks["redis"] = limiter.check
    if upstream_setup is not None:
        health_checks.update(upstream_setup.health_checks)
        readiness_checks.update(upstream_setup.readiness_checks)

    services = Services(
        settings=settings,
        documents=documents,
        cursors=CursorCodec(settings.cursor_secret.get_secret_value()),
        tools=tuple(
            ToolInfo(
                name=spec.name,
                description=spec.description,
                scopes=tuple(settings.tool_scopes.get(spec.name, spec.scopes)),
                rate_limit=settings.rate_limit_tools.get(spec.name, spec.rate_limit),
            )
            for spec in specs
        ),
        health_checks=health_checks,
        on_truncated=metrics.response_truncated if metrics is not None else lambda _tool: None,
        **({"endpoints": endpoints} if endpoints is not None else {}),
    )
    for spec in specs:
        mcp.add_tool(_tool(spec, services))
    if settings.conformance:  # the official suite's fixtures; never in the registry
        register_fixtures(mcp)

    if auth is not None:
        resources.append(lambda: _closing(auth))
    if limiter is not None:
        resources.append(lambda: _limiting(limiter))
    if upstream_setup is not None:
        resources.extend(upstream_setup.resources)

    return Runtime(
        settings=settings,
        transport=transport,
        mcp=mcp,
        services=services,
        specs=specs,
        metrics=metrics,
        auth=auth,
        limiter=limiter,
        upstreams=upstream_setup,
        readiness_checks=readiness_checks,
        resources=tuple(resources),
    )


def build_server(settings: Settings | None = None, **kwargs: Any) -> FastMCP[Any]:
    """The curated FastMCP server alone (for custom hosting); see :func:`build_runtime`."""
    return build_runtime(settings, **kwargs).mcp
