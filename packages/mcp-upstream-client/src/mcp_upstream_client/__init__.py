"""Connect to approved upstream MCP servers: allowlists, circuit breakers, timeouts,
reconnects and tool-definition pins. Works on its own, without ``mcp-server``.

>>> from mcp_upstream_client import UpstreamManager, load_upstreams
>>> async with UpstreamManager(load_upstreams("upstreams.toml")) as upstreams:  # doctest: +SKIP
...     result = await upstreams.call_tool("docs", "search_docs", {"query": "x"})
"""

from __future__ import annotations

from mcp_upstream_client._testing import is_testing, set_testing
from mcp_upstream_client.config import (
    BreakerConfig,
    ReconnectConfig,
    UpstreamConfig,
    UpstreamsFile,
    load_upstreams,
    parse_upstreams,
)
from mcp_upstream_client.errors import (
    CircuitOpenError,
    ToolNotAllowedError,
    ToolWithdrawnError,
    UnknownUpstreamError,
    UpstreamCallError,
    UpstreamConfigError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.manager import OutgoingHeaders, UpstreamManager, compute_pins
from mcp_upstream_client.observer import CircuitState, NullObserver, UpstreamObserver
from mcp_upstream_client.pins import canonical_tool_json, format_pins, tool_pin
from mcp_upstream_client.status import UpstreamStatus

__version__ = "0.1.0"

__all__ = [
    "BreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "NullObserver",
    "OutgoingHeaders",
    "ReconnectConfig",
    "ToolNotAllowedError",
    "ToolWithdrawnError",
    "UnknownUpstreamError",
    "UpstreamCallError",
    "UpstreamConfig",
    "UpstreamConfigError",
    "UpstreamError",
    "UpstreamManager",
    "UpstreamObserver",
    "UpstreamStatus",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "UpstreamsFile",
    "__version__",
    "canonical_tool_json",
    "compute_pins",
    "format_pins",
    "is_testing",
    "load_upstreams",
    "parse_upstreams",
    "set_testing",
    "tool_pin",
]
