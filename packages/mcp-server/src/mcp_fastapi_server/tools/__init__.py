"""The built-in curated tools, all read-only: ``health``, ``metadata``, ``search``, ``fetch``.

This is the one place they are registered; a team adds its own with
``mcp_fastapi_server.registry.tool(...)`` or ``registry.add(ToolSpec(...))``.
"""

from __future__ import annotations

from mcp_fastapi_server.registry import ToolRegistry, registry
from mcp_fastapi_server.tools import fetch, health, metadata, search

__all__ = ["BUILTIN_SPECS", "default_registry"]

BUILTIN_SPECS = (health.SPEC, metadata.SPEC, search.SPEC, fetch.SPEC)

for _spec in BUILTIN_SPECS:
    registry.add(_spec)


def default_registry() -> ToolRegistry:
    """The process-wide registry: the built-ins plus whatever the team registered."""
    return registry
