"""Response-size guard for ``tools/call``: an oversized result becomes a clear tool error.

FastMCP's own ``ResponseLimitingMiddleware`` cuts the JSON text mid-document and drops
``structured_content`` (and hides output schemas), which breaks clients that validate the
structured result. This guard never edits a result: one that fits passes untouched, one
that does not is replaced by an ``isError`` result naming the tool, the size and the limit.
Tools that can continue (``fetch``) cut themselves below the limit first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mcp_types
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult

from mcp_fastapi_server._paging import WIRE_RESERVE_BYTES, result_json_size, result_json_size_bound

__all__ = ["ResponseSizeMiddleware"]


class ResponseSizeMiddleware(Middleware):
    """Refuse tool results larger than their limit (bytes of the serialized result).

    ``limits`` maps tool names to their own limit; others get ``default``
    (``MCP_MAX_RESPONSE_BYTES``). ``on_oversize(tool)`` is called for every refused
    result, e.g. to count it in a metric.
    """

    def __init__(
        self,
        *,
        limits: Mapping[str, int] | None = None,
        default: int = 65536,
        on_oversize: Callable[[str], None] | None = None,
    ) -> None:
        if default < 1 or any(v < 1 for v in (limits or {}).values()):
            raise ValueError("response size limits must be positive")
        self._limits = dict(limits or {})
        self._default = default
        self._on_oversize = on_oversize

    def limit_for(self, tool: str) -> int:
        """The byte limit that applies to ``tool``."""
        return self._limits.get(tool, self._default)

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        # One dispatch per message instead of FastMCP's closure per hook (see
        # StdioAccessMiddleware.__call__); only tool results are ours to check.
        if context.method != "tools/call" or context.type != "request":
            return await call_next(context)
        return await self.on_call_tool(context, call_next)

    async def on_call_tool(
        self,
        context: MiddlewareContext[mcp_types.CallToolRequestParams],
        call_next: CallNext[mcp_types.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        result = await call_next(context)
        tool = context.message.name
        limit = self.limit_for(tool)
        # Most results are far below the limit: an orjson bound (~2 µs) settles those;
        # the exact ASCII-escaped size (~20 µs for a 20-hit search page, ~0.2 ms at
        # 64 KiB) is measured only near or over the limit.
        bound = result_json_size_bound(result)
        if bound is not None and bound + WIRE_RESERVE_BYTES <= limit:
            return result
        size = result_json_size(result) + WIRE_RESERVE_BYTES
        if size <= limit:
            return result
        if self._on_oversize is not None:
            self._on_oversize(tool)
        raise ToolError(
            f"The result of tool '{tool}' is {size} bytes (with the protocol envelope), over "
            f"its limit of {limit} bytes "
            "(MCP_MAX_RESPONSE_BYTES). Ask for less (a narrower query, a smaller limit)."
        )
