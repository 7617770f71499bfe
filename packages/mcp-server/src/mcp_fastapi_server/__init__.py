"""A curated MCP server for FastAPI applications: the public API, in one place.

::

    from fastapi import FastAPI
    from mcp_fastapi_server import mount_mcp, tool

    @tool(scopes=["orders:read"], rate_limit="10/second")
    async def order_status(order_id: str) -> dict[str, str]:
        '''Status of one order.'''
        ...

    app = FastAPI()
    mount_mcp(app)               # streamable HTTP at MCP_HTTP_PATH, lifespans combined

Everything a team uses is importable from here (and typed): configuration
(:class:`Settings`), mounting (:func:`mount_mcp`) or hosting it yourself
(:func:`build_server`, :func:`build_runtime`), registering tools (:func:`tool`,
:func:`register_tool`, :class:`ToolSpec`), and the extension points (a
:class:`DocumentSource` over your own store, :data:`HealthCheck` functions returning a
:class:`CheckResult`, a FastMCP ``TokenVerifier`` passed to :func:`mount_mcp`). The
subpackages (``auth``, ``limits``, ``http``, ``stdio``, ...) hold the parts for teams that
compose their own; every module whose name starts with ``_`` is private.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mcp_fastapi_server._registry import (
    READ_ONLY,
    ToolRegistry,
    ToolSpec,
    UnknownToolError,
    register_tool,
    tool,
)
from mcp_fastapi_server._settings import Settings, SettingsError, load_settings
from mcp_fastapi_server._version import __version__
from mcp_fastapi_server.core import CheckResult, HealthCheck

if TYPE_CHECKING:
    from mcp_fastapi_server._app import create_app
    from mcp_fastapi_server._mount import McpMount, mount_mcp
    from mcp_fastapi_server._runtime import Runtime, build_runtime, build_server
    from mcp_fastapi_server._services import Endpoint, Services, ToolInfo
    from mcp_fastapi_server.documents import Document, DocumentSource, SearchHit, SearchPage

# Loaded on first use (PEP 562), typed through the imports above: the settings and the
# registry must not pay for FastAPI, FastMCP and the search index.
_LAZY = {
    "create_app": "mcp_fastapi_server._app",
    "McpMount": "mcp_fastapi_server._mount",
    "mount_mcp": "mcp_fastapi_server._mount",
    "Runtime": "mcp_fastapi_server._runtime",
    "build_runtime": "mcp_fastapi_server._runtime",
    "build_server": "mcp_fastapi_server._runtime",
    "Endpoint": "mcp_fastapi_server._services",
    "Services": "mcp_fastapi_server._services",
    "ToolInfo": "mcp_fastapi_server._services",
    "Document": "mcp_fastapi_server.documents",
    "DocumentSource": "mcp_fastapi_server.documents",
    "SearchHit": "mcp_fastapi_server.documents",
    "SearchPage": "mcp_fastapi_server.documents",
}

__all__ = [
    "READ_ONLY",
    "CheckResult",
    "Document",
    "DocumentSource",
    "Endpoint",
    "HealthCheck",
    "McpMount",
    "Runtime",
    "SearchHit",
    "SearchPage",
    "Services",
    "Settings",
    "SettingsError",
    "ToolInfo",
    "ToolRegistry",
    "ToolSpec",
    "UnknownToolError",
    "__version__",
    "build_runtime",
    "build_server",
    "create_app",
    "load_settings",
    "mount_mcp",
    "register_tool",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_fastapi_server' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
