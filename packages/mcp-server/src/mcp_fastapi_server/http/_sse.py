"""Legacy HTTP+SSE transport (protocol 2024-11-05) for old clients, behind the same chain.

Off unless ``MCP_HTTP_SSE_ENABLED=true``. Two endpoints under ``MCP_HTTP_PATH``:
``GET {path}/sse`` opens the event stream, whose first ``endpoint`` event names
``{path}/messages/?session_id=…``, where the client POSTs its JSON-RPC messages.

FastMCP's ``http_app(transport="sse")`` takes the message path from the global
``fastmcp.settings.message_path`` (``/messages/`` at the host root), so this module calls
the same factory it uses, :func:`fastmcp.server.http.create_sse_app`, with both paths under
``MCP_HTTP_PATH``. Each path is added to the host app as an exact route whose endpoint is
the SSE app wrapped in the streamable endpoint's ASGI chain (``build_chain``), so auth,
body limits, Host/Origin checks, rate limits, request ids, access logs and metrics are
the same. The SDK binds each SSE session to the principal that opened it (``scope["user"]``,
set by our auth middleware): a POST with another token gets 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.http import create_sse_app
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.core import get_request_context

__all__ = ["SsePaths", "mcp_paths", "sse_paths", "sse_routes"]

TRANSPORT_NAME = "sse"


@dataclass(frozen=True, slots=True)
class SsePaths:
    """Where the legacy transport lives: the event stream and the message endpoint."""

    stream: str
    messages: str


def sse_paths(settings: Settings) -> SsePaths:
    """``{MCP_HTTP_PATH}/sse`` and ``{MCP_HTTP_PATH}/messages/``."""
    return SsePaths(stream=f"{settings.http_path}/sse", messages=f"{settings.http_path}/messages/")


def mcp_paths(settings: Settings) -> frozenset[str]:
    """Every path the MCP chain (ObserveMiddleware) must treat as an MCP request."""
    paths = {settings.http_path}
    if settings.http_sse_enabled:
        legacy = sse_paths(settings)
        paths.update((legacy.stream, legacy.messages))
    return frozenset(paths)


class _MarkTransport:
    """Label the request context ``transport="sse"`` so access lines tell the eras apart."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = get_request_context(scope)
        if ctx is not None:
            ctx.transport = TRANSPORT_NAME
        await self.app(scope, receive, send)


def sse_routes(
    mcp: FastMCP[Any], settings: Settings, wrap: Callable[[ASGIApp], ASGIApp]
) -> list[BaseRoute]:
    """The two host-app routes of the legacy transport.

    ``wrap`` puts an app behind the streamable endpoint's ASGI chain. The SSE app's own
    lifespan is not needed: it only enters the FastMCP server lifespan, which the
    streamable app's lifespan (combined into the host's) already runs.
    """
    legacy = sse_paths(settings)
    sse_app = create_sse_app(
        server=mcp,
        message_path=legacy.messages,
        sse_path=legacy.stream,
        auth=None,  # authentication is our chain's job, as on the streamable endpoint
        host_origin_protection=False,  # the chain runs FastMCP's guard in strict mode
    )
    chain = wrap(_MarkTransport(sse_app))
    return [
        Route(legacy.stream, endpoint=chain, methods=["GET"]),
        Route(legacy.messages, endpoint=chain, methods=["POST"]),
    ]
