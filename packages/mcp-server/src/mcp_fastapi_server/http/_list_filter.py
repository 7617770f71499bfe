"""Hide from ``tools/list`` the tools the caller's token may not call (HTTP with auth only).

Runs inside FastMCP as its middleware, because only there is the list known. Over stdio
there is no token, so this is installed only on the HTTP transport when auth is on; the
``tools/call`` decision itself is made once, before FastMCP, by :mod:`._auth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mcp_types as mt
from fastmcp.server.dependencies import get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import Tool

from mcp_fastapi_server.auth import ScopePolicy
from mcp_fastapi_server.core import get_request_context

__all__ = ["ScopeFilterMiddleware"]


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
        # One dispatch per message instead of FastMCP's closure per hook (FastMCP's base
        # ``__call__`` builds a closure per hook per message; fastmcp 4.2).
        if context.method == "tools/list" and context.type == "request":
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
