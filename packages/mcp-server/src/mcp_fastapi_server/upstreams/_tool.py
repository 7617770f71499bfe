"""One re-exposed upstream tool: a FastMCP ``Tool`` whose ``run`` calls through the manager.

Calls go through :class:`~mcp_upstream_client.UpstreamManager` (allowlist, breaker, pins,
timeouts), never through FastMCP's proxy, which forwards the caller's headers (its
``Authorization`` included) upstream by default. Only the upstream's own configured
headers plus our ``X-Request-ID``/``traceparent`` go out.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import mcp_types
from fastmcp.exceptions import ToolError
from fastmcp.server.context import Context
from fastmcp.tools import Tool, ToolResult
from pydantic import PrivateAttr

from mcp_fastapi_server.core import current_request_id, current_traceparent
from mcp_fastapi_server.upstreams._elicitation import UpstreamElicitationRouter
from mcp_upstream_client import UpstreamError, UpstreamManager

__all__ = ["UpstreamTool", "outgoing_headers"]


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
