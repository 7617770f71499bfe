"""A curated MCP server for FastAPI applications.

Public API::

    from mcp_fastapi_server import Settings, mount_mcp, build_server, tool

    @tool(scopes=["orders:read"], rate_limit="10/second")
    async def order_status(order_id: str) -> dict[str, str]:
        '''Status of one order.'''
        ...

    app = FastAPI()
    mount_mcp(app)               # streamable HTTP at MCP_HTTP_PATH, lifespans combined
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_fastapi_server.documents import Document, DocumentSource, SearchHit, SearchPage
    from mcp_fastapi_server.mount import McpMount, mount_mcp
    from mcp_fastapi_server.registry import READ_ONLY, ToolRegistry, ToolSpec, UnknownToolError
    from mcp_fastapi_server.server import Runtime, build_runtime, build_server
    from mcp_fastapi_server.services import CheckResult, Services
    from mcp_fastapi_server.settings import Settings, SettingsError, load_settings

# Imported lazily (PEP 562): `import mcp_fastapi_server.settings` must not pay for FastMCP, and
# the stdio cold start only loads what it uses.
_EXPORTS = {
    "Document": "mcp_fastapi_server.documents",
    "DocumentSource": "mcp_fastapi_server.documents",
    "SearchHit": "mcp_fastapi_server.documents",
    "SearchPage": "mcp_fastapi_server.documents",
    "McpMount": "mcp_fastapi_server.mount",
    "mount_mcp": "mcp_fastapi_server.mount",
    "READ_ONLY": "mcp_fastapi_server.registry",
    "ToolRegistry": "mcp_fastapi_server.registry",
    "ToolSpec": "mcp_fastapi_server.registry",
    "UnknownToolError": "mcp_fastapi_server.registry",
    "Runtime": "mcp_fastapi_server.server",
    "build_runtime": "mcp_fastapi_server.server",
    "build_server": "mcp_fastapi_server.server",
    "CheckResult": "mcp_fastapi_server.services",
    "Services": "mcp_fastapi_server.services",
    "Settings": "mcp_fastapi_server.settings",
    "SettingsError": "mcp_fastapi_server.settings",
    "load_settings": "mcp_fastapi_server.settings",
}

__all__ = [
    "READ_ONLY",
    "CheckResult",
    "Document",
    "DocumentSource",
    "McpMount",
    "Runtime",
    "SearchHit",
    "SearchPage",
    "Services",
    "Settings",
    "SettingsError",
    "ToolRegistry",
    "ToolSpec",
    "UnknownToolError",
    "build_runtime",
    "build_server",
    "load_settings",
    "mount_mcp",
    "register_tool",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if name == "tool":  # decorator: register a team's tool, same policy fields as ours
        return import_module("mcp_fastapi_server.registry").registry.tool
    if name == "register_tool":  # explicit form: register_tool(ToolSpec(...))
        return import_module("mcp_fastapi_server.registry").registry.add
    raise AttributeError(f"module 'mcp_fastapi_server' has no attribute {name!r}")
