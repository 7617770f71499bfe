"""Approved upstream MCP servers inside this server: readiness, health and re-exposure.

The connections themselves are :mod:`mcp_upstream_client`'s; this package plugs them into
the runtime (:func:`build_upstreams`), re-exposes allowed tools (:class:`UpstreamTool`),
forwards upstream questions to callers (:class:`UpstreamElicitationRouter`) and prints
pins (``mcp-server pin``).
"""

from __future__ import annotations

from mcp_fastapi_server.upstreams._config import exposed_names, load_configs
from mcp_fastapi_server.upstreams._elicitation import UpstreamElicitationRouter
from mcp_fastapi_server.upstreams._health import upstream_check
from mcp_fastapi_server.upstreams._pins import print_pins
from mcp_fastapi_server.upstreams._setup import UpstreamSetup, build_upstreams
from mcp_fastapi_server.upstreams._tool import UpstreamTool, outgoing_headers

__all__ = [
    "UpstreamElicitationRouter",
    "UpstreamSetup",
    "UpstreamTool",
    "build_upstreams",
    "exposed_names",
    "load_configs",
    "outgoing_headers",
    "print_pins",
    "upstream_check",
]
