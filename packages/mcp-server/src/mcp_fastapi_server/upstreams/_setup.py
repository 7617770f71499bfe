"""Approved upstreams inside this server: the manager, its checks, and the exposed tools.

:func:`build_upstreams` is called once by the composition root and returns everything as
data (:class:`UpstreamSetup`); nothing it returns is changed afterwards. Allowed tools of
``expose = true`` upstreams are offered as ``<upstream>_<tool>`` through the same stack as
local tools (scopes, rate limits, size limits, logs, metrics), registered once the manager
is up because their schemas come from the upstream. An upstream's questions
(``elicitation/create``) reach the caller through :class:`UpstreamElicitationRouter`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import mcp_types
from fastmcp import FastMCP

from mcp_fastapi_server.core import HealthCheck
from mcp_fastapi_server.upstreams._config import exposed_names
from mcp_fastapi_server.upstreams._elicitation import UpstreamElicitationRouter
from mcp_fastapi_server.upstreams._health import upstream_check
from mcp_fastapi_server.upstreams._tool import UpstreamTool, outgoing_headers
from mcp_upstream_client import UpstreamConfig, UpstreamError, UpstreamManager, UpstreamObserver

__all__ = ["UpstreamSetup", "build_upstreams"]

logger = logging.getLogger("mcp_fastapi_server.upstreams")

Resource = Callable[[], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class UpstreamSetup:
    """What the upstreams add to a runtime."""

    manager: UpstreamManager
    exposed: Mapping[str, tuple[str, str]]
    health_checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    readiness_checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    resources: Sequence[Resource] = ()
    """Entered, in order, by the runtime's lifespan (the manager itself when we own it)."""


def build_upstreams(
    configs: Sequence[UpstreamConfig],
    *,
    mcp: FastMCP[Any],
    manager: UpstreamManager | None,
    observer: UpstreamObserver | None,
    local_tools: Sequence[str],
) -> UpstreamSetup | None:
    """The upstreams of this server, or ``None`` when there are none.

    A ``manager`` the host passed (``mount_mcp(upstreams=...)``) is used as is and its
    lifecycle (and elicitation handler) stays the host's; otherwise one is built from the
    file, forwarding upstream questions to the exposed tools' callers, and started and
    stopped with the server. An exposed name that collides with a local tool is an error.
    """
    resources: list[Resource] = []
    router: UpstreamElicitationRouter | None = None
    if manager is None:
        if not configs:
            return None
        router = UpstreamElicitationRouter()
        owned = UpstreamManager(
            list(configs),
            observer=observer,
            outgoing_headers=outgoing_headers,
            elicitation_handler=router.handle,
        )
        resources.append(lambda: owned)
        manager = owned
    elif observer is not None:
        manager.add_observer(observer)  # the host's manager reports to our metrics too
    exposed = exposed_names([manager.config(n) for n in manager.names])
    clash = sorted(set(exposed) & set(local_tools))
    if clash:
        raise ValueError(f"MCP_UPSTREAMS_FILE: exposed tool {', '.join(clash)} collides")
    health: dict[str, HealthCheck] = {}
    ready: dict[str, HealthCheck] = {}
    for name in manager.names:
        check = upstream_check(manager, name)
        health[f"upstream:{name}"] = check
        if manager.config(name).required:
            ready[f"upstream:{name}"] = check
    if exposed:
        used = manager
        resources.append(lambda: _exposing(mcp, used, exposed, router))
    return UpstreamSetup(
        manager=manager,
        exposed=exposed,
        health_checks=health,
        readiness_checks=ready,
        resources=tuple(resources),
    )


@asynccontextmanager
async def _exposing(
    mcp: FastMCP[Any],
    manager: UpstreamManager,
    exposed: Mapping[str, tuple[str, str]],
    router: UpstreamElicitationRouter | None,
) -> AsyncIterator[None]:
    """Register the exposed tools once the manager is up (their schemas come from it)."""
    definitions: dict[tuple[str, str], mcp_types.Tool] = {}
    for upstream in {up for up, _ in exposed.values()}:
        try:
            for tool in await manager.list_tools(upstream):
                definitions[(upstream, tool.name)] = tool
        except UpstreamError as exc:
            logger.warning("upstream %s: tools exposed without definitions: %s", upstream, exc)
    for up_tool in exposed.values():
        mcp.add_tool(UpstreamTool.create(manager, *up_tool, definitions.get(up_tool), router))
    try:
        yield
    finally:
        for name in exposed:
            mcp.local_provider.remove_tool(name)
