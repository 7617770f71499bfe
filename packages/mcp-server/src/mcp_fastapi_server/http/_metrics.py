"""``GET {MCP_METRICS_PATH}``: the Prometheus text exposition as a host-app route."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server.observability import Metrics, exposition_registry

__all__ = ["metrics_endpoint", "metrics_route"]


class _MetricsApp:
    """A class, not a function: Starlette's ``Route`` wraps plain functions as
    request/response endpoints, but passes class instances the raw ASGI triple."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def metrics_endpoint(source: Metrics | CollectorRegistry | None = None) -> ASGIApp:
    """An ASGI app answering the Prometheus text exposition (or OpenMetrics, when asked)."""
    return _MetricsApp(make_asgi_app(exposition_registry(source)))


def metrics_route(path: str, source: Metrics | CollectorRegistry | None = None) -> Route:
    """The scrape route for the host app (left out of its OpenAPI schema)."""
    return Route(path, endpoint=metrics_endpoint(source), methods=["GET"], include_in_schema=False)
