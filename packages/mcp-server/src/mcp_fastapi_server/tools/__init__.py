"""The built-in curated tools, all read-only: ``health``, ``metadata``, ``search``, ``fetch``.

A team adds its own with :func:`mcp_fastapi_server.tool` or
:func:`mcp_fastapi_server.register_tool`; :func:`default_registry` puts the built-ins
first and the team's tools after them.
"""

from __future__ import annotations

from mcp_fastapi_server._registry import ToolRegistry, ToolSpec, registry
from mcp_fastapi_server.tools import _fetch, _health, _metadata, _search

__all__ = ["BUILTIN_SPECS", "default_registry"]

BUILTIN_SPECS: tuple[ToolSpec, ...] = (_health.SPEC, _metadata.SPEC, _search.SPEC, _fetch.SPEC)


def default_registry() -> ToolRegistry:
    """The built-in tools, then every tool registered in the process-wide registry.

    A team tool with a built-in's name is a ``ValueError`` (names are unique).
    """
    return ToolRegistry([*BUILTIN_SPECS, *registry])
