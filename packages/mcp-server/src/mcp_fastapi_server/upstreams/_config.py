"""The upstream file as this server uses it: the entries, and the tool names it re-exposes."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_fastapi_server._settings import Settings
from mcp_upstream_client import UpstreamConfig, load_upstreams

__all__ = ["exposed_names", "load_configs"]


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
