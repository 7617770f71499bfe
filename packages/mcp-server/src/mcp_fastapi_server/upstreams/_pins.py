"""``mcp-server pin``: connect to each configured upstream and print its tool pins."""

from __future__ import annotations

import sys

from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.upstreams._config import load_configs
from mcp_upstream_client import UpstreamError, compute_pins, format_pins

__all__ = ["print_pins"]


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
