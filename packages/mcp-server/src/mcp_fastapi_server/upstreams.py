"""Approved upstream MCP servers inside mcp-server: readiness, health, and re-exposure.

Allowed tools of ``expose = true`` upstreams are offered as ``<upstream>_<tool>`` through
the same stack as local tools (scopes, rate limits, size limits, logs, metrics). Calls go
through :class:`~mcp_upstream_client.UpstreamManager` (allowlist, breaker, pins,
timeouts), never through FastMCP's proxy, which forwards the caller's headers (its
``Authorization`` included) upstream by default. Only the upstream's own configured
headers plus our ``X-Request-ID``/``traceparent`` go out. An upstream's questions
(``elicitation/create``) reach the caller through
:class:`~mcp_fastapi_server.upstream_elicitation.UpstreamElicitationRouter`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import mcp_types
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.context import Context
from fastmcp.tools import Tool, ToolResult
from pydantic import PrivateAttr

from mcp_fastapi_server.observability.request_id import current_request_id, current_traceparent
from mcp_fastapi_server.services import CheckResult, HealthCheck
from mcp_fastapi_server.settings import Settings
from mcp_fastapi_server.upstream_elicitation import UpstreamElicitationRouter
from mcp_upstream_client import (
    UpstreamConfig,
    UpstreamError,
    UpstreamManager,
    UpstreamObserver,
    compute_pins,
    format_pins,
    load_upstreams,
)

if TYPE_CHECKING:
    from mcp_fastapi_server.server import Runtime

__all__ = [
    "UpstreamTool",
    "attach_upstreams",
    "exposed_names",
    "load_configs",
    "print_pins",
]

logger = logging.getLogger("mcp_fastapi_server.upstreams")


def load_configs(settings: Settings) -> list[UpstreamConfig]:
    """The upstream file's entries (``[]`` without ``MCP_UPSTREAMS_FILE``)."""
    if settings.upstreams_file is None:
        return []
    return load_upstreams(settings.upstreams_file)


def exposed_names(configs: Sequence[UpstreamConfig]) -> dict[str, tuple[str, str]]:
    """``{"<upstream>_<tool>": (upstream, tool)}`` for every exposed, allowed tool.

    Known from the file alone, so scopes, limits and metric labels are fixed at start-up.
    """
    names: dict[str, tuple[str, str]] = {}
    for config in configs:
        if not config.expose:
            continue
        for tool in config.allow_tools:
            name = f"{config.name}_{tool}"
            if name in names:
                raise ValueError(f"MCP_UPSTREAMS_FILE: exposed tool name {name!r} collides")
            names[name] = (config.name, tool)
    return names


def outgoing_headers() -> dict[str, str]:
    """Correlation headers of the current request, for calls to upstreams."""
    headers = {"X-Request-ID": current_request_id.get() or ""}
    traceparent = current_traceparent.get()
    if traceparent:
        headers["traceparent"] = traceparent
    return {k: v for k, v in headers.items() if v}


class UpstreamTool(Tool):
    """One re-exposed upstream tool; ``run`` calls through the manager."""

    _manager: UpstreamManager = PrivateAttr()
    _upstream: str = PrivateAttr()
    _tool: str = PrivateAttr()
    _router: UpstreamElicitationRouter | None = PrivateAttr(default=None)

    @classmethod
    def create(
        cls,
        manager: UpstreamManager,
        upstream: str,
        tool: str,
        definition: mcp_types.Tool | None,
        router: UpstreamElicitationRouter | None = None,
    ) -> UpstreamTool:
        schema: dict[str, Any] = {"type": "object"}
        description = f"{tool} on upstream {upstream!r} (definition unavailable at start-up)."
        annotations = None
        if definition is not None:
            schema = dict(definition.input_schema)
            description = definition.description or description
            annotations = definition.annotations
        made = cls(
            name=f"{upstream}_{tool}",
            description=f"[{upstream}] {description}",
            parameters=schema,
            annotations=annotations,
            tags={"upstream", upstream},
        )
        made._manager, made._upstream, made._tool = manager, upstream, tool
        made._router = router
        return made

    async def run(self, arguments: dict[str, Any], context: Context | None = None) -> ToolResult:
        router = self._router
        asking = nullcontext() if router is None else router.exposed_call(self._upstream, context)
        try:
            with asking:
                result = await self._manager.call_tool(self._upstream, self._tool, arguments)
        except UpstreamError as exc:
            raise ToolError(str(exc)) from None
        if result.is_error:
            texts = [c.text for c in result.content if isinstance(c, mcp_types.TextContent)]
            raise ToolError(" ".join(texts) or f"upstream tool {self.name!r} failed")
        return ToolResult(
            content=list(result.content), structured_content=result.structured_content
        )


def _health_check(manager: UpstreamManager, name: str) -> HealthCheck:
    async def check() -> CheckResult:
        # State, breaker state and (when not ok) the last error, e.g. "down, circuit
        # open (probe in 12.3 s); 5 consecutive failure(s); 0 tools; last error: ...".
        status = manager.status()[name]
        if status.ok:
            return CheckResult("ok", status.describe())
        return CheckResult("down" if status.required else "degraded", status.describe())

    return check


def attach_upstreams(
    runtime: Runtime,
    configs: Sequence[UpstreamConfig],
    *,
    manager: UpstreamManager | None,
    observer: UpstreamObserver | None,
) -> UpstreamManager | None:
    """Plug upstreams into ``runtime``: lifecycle, health, readiness, exposed tools.

    A ``manager`` the host passed (``mount_mcp(upstreams=...)``) is used as is and its
    lifecycle (and elicitation handler) stays the host's; otherwise one is built from the
    file, forwarding upstream questions to the exposed tools' callers, and started and
    stopped with the server.
    """
    router: UpstreamElicitationRouter | None = None
    if manager is None:
        if not configs:
            return None
        router = UpstreamElicitationRouter()
        manager = UpstreamManager(
            list(configs),
            observer=observer,
            outgoing_headers=outgoing_headers,
            elicitation_handler=router.handle,
        )
        runtime.resources.append(lambda: manager)
    elif observer is not None:
        manager.add_observer(observer)  # the host's manager reports to our metrics too
    exposed = exposed_names([manager.config(n) for n in manager.names])
    clash = sorted(set(exposed) & {spec.name for spec in runtime.specs})
    if clash:
        raise ValueError(f"MCP_UPSTREAMS_FILE: exposed tool {', '.join(clash)} collides")
    for name in manager.names:
        check = _health_check(manager, name)
        runtime.services.add_health_check(f"upstream:{name}", check)
        if manager.config(name).required:
            runtime.readiness_checks[f"upstream:{name}"] = check
    if exposed:
        runtime.resources.append(lambda: _exposing(runtime.mcp, manager, exposed, router))
    return manager


@asynccontextmanager
async def _exposing(
    mcp: FastMCP[Any],
    manager: UpstreamManager,
    exposed: dict[str, tuple[str, str]],
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


async def print_pins(settings: Settings) -> int:
    """``mcp-server pin``: connect to each configured upstream and print its pins."""
    configs = load_configs(settings)
    if not configs:
        print("no upstreams configured (MCP_UPSTREAMS_FILE is unset)", file=sys.stderr)
        return 2
    try:
        pins = await compute_pins(configs)
    except UpstreamError as exc:
        print(f"mcp-server pin: {exc}", file=sys.stderr)
        return 2
    print(format_pins(pins))
    return 0
