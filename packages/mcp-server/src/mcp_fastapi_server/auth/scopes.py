"""Which scopes a call needs, and hiding from ``tools/list`` what a token may not call.

Every call needs ``MCP_AUTH_REQUIRED_SCOPES``; ``tools/call`` of a tool also needs that
tool's scopes (``ToolSpec.scopes``, replaced per tool by ``MCP_TOOL_SCOPES``). The HTTP
middleware answers a shortfall with 403 ``insufficient_scope``; :class:`ScopeFilterMiddleware`
runs inside FastMCP to filter ``tools/list`` (and re-checks ``tools/call`` in case the body
could not be read before FastMCP, e.g. a batch). Over stdio there is no token and no
RequestContext, so nothing is filtered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mcp_types as mt
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import Tool, ToolResult
from mcp import MCPError

from mcp_fastapi_server.http.context import get_request_context
from mcp_fastapi_server.http.responses import FORBIDDEN
from mcp_fastapi_server.registry import ToolSpec, UnknownToolError
from mcp_fastapi_server.settings import Settings, SettingsError

__all__ = ["ScopeFilterMiddleware", "ScopePolicy"]

# RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'. Checked at start-up
# so a scope can be quoted into WWW-Authenticate without escaping.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def _checked(scopes: Iterable[str], variable: str) -> frozenset[str]:
    out = frozenset(scopes)
    bad = sorted(s for s in out if not _SCOPE_TOKEN.match(s))
    if bad:
        raise SettingsError(f"{variable}: {bad[0]!r} is not a valid OAuth scope token")
    return out


@dataclass(frozen=True)
class ScopePolicy:
    """The scopes each call needs; pure data, cheap to query per request."""

    required: frozenset[str] = frozenset()
    tools: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Settings, specs: Iterable[ToolSpec], *, other_tools: Iterable[str] = ()
    ) -> ScopePolicy:
        """Merge ``ToolSpec.scopes`` with ``MCP_TOOL_SCOPES`` (which wins per tool).

        ``other_tools`` names tools registered outside the registry (e.g. proxied upstream
        tools) that ``MCP_TOOL_SCOPES`` may also name. A name nobody registered is an error.
        """
        tools = {spec.name: _checked(spec.scopes, f"tool {spec.name!r} scopes") for spec in specs}
        known = set(tools) | set(other_tools)
        unknown = sorted(set(settings.tool_scopes) - known)
        if unknown:
            raise UnknownToolError(
                f"MCP_TOOL_SCOPES: {', '.join(unknown)} not registered "
                f"(registered: {', '.join(sorted(known)) or 'none'})"
            )
        for name, scopes in settings.tool_scopes.items():
            tools[name] = _checked(scopes, "MCP_TOOL_SCOPES")
        required = _checked(settings.auth_required_scopes, "MCP_AUTH_REQUIRED_SCOPES")
        return cls(required=required, tools={k: v for k, v in tools.items() if v})

    def needed(self, method: str | None, tool: str | None) -> frozenset[str]:
        """Every scope this call needs (what a 403 names in ``scope=``)."""
        if method == "tools/call" and tool is not None:
            return self.required | self.tools.get(tool, frozenset())
        return self.required

    def missing(
        self, granted: frozenset[str], method: str | None, tool: str | None
    ) -> frozenset[str]:
        return self.needed(method, tool) - granted

    def may_call(self, granted: frozenset[str], tool: str) -> bool:
        return not self.missing(granted, "tools/call", tool)

    def scopes_supported(self) -> list[str]:
        """Required scopes plus every tool scope, for RFC 9728 ``scopes_supported``."""
        out = set(self.required)
        for scopes in self.tools.values():
            out |= scopes
        return sorted(out)


def _granted_scopes() -> frozenset[str] | None:
    """The verified token's scopes for this request; ``None`` when there is no token (stdio)."""
    try:
        request = get_http_request()
    except RuntimeError:
        return None
    ctx = get_request_context(request.scope)
    if ctx is None or ctx.subject is None:
        return None
    return ctx.scopes


class ScopeFilterMiddleware(Middleware):
    """FastMCP middleware: list only the tools the caller's token may call."""

    def __init__(self, policy: ScopePolicy) -> None:
        self.policy = policy

    async def __call__(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        # One dispatch per message instead of FastMCP's closure per hook (see
        # mcp_fastapi_server.observability.access.StdioAccessMiddleware.__call__).
        if context.type == "request":
            if context.method == "tools/call":
                return await self.on_call_tool(context, call_next)
            if context.method == "tools/list":
                return await self.on_list_tools(context, call_next)
        return await call_next(context)

    async def on_list_tools(
        self,
        context: MiddlewareContext[mt.ListToolsRequest],
        call_next: CallNext[mt.ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        granted = _granted_scopes()
        if granted is None:
            return tools
        return [tool for tool in tools if self.policy.may_call(granted, tool.name)]

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        # Over HTTP the ASGI layer already answered a missing scope with 403 before FastMCP
        # ran; this second check (a set difference, ~1 µs) is kept on purpose so a tool is
        # never reachable without its scope through a path that skips that layer.
        granted = _granted_scopes()
        if granted is not None:
            name = context.message.name
            if self.policy.missing(granted, "tools/call", name):
                needed = sorted(self.policy.needed("tools/call", name))
                raise MCPError(
                    code=FORBIDDEN,
                    message=f"insufficient scope for tool {name!r}",
                    data={"reason": "insufficient_scope", "required_scopes": needed},
                )
        return await call_next(context)
