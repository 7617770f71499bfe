"""Connect to approved upstream MCP servers: allowlists, circuit breakers, timeouts,
reconnects and tool-definition pins. Works on its own, without ``mcp-server``.

>>> from mcp_upstream_client import UpstreamManager, load_upstreams
>>> async with UpstreamManager(load_upstreams("upstreams.toml")) as upstreams:  # doctest: +SKIP
...     result = await upstreams.call_tool("docs", "search_docs", {"query": "x"})
"""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

from mcp_upstream_client._testing import is_testing, set_testing
from mcp_upstream_client.config import (
    BreakerConfig,
    OAuthConfig,
    ReconnectConfig,
    UpstreamConfig,
    UpstreamsFile,
    load_upstreams,
    parse_upstreams,
)
from mcp_upstream_client.elicitation import (
    ElicitationHandler,
    ElicitationRequest,
    accept_defaults,
    apply_defaults,
)
from mcp_upstream_client.errors import (
    CircuitOpenError,
    ToolNotAllowedError,
    ToolWithdrawnError,
    UnknownUpstreamError,
    UpstreamAuthError,
    UpstreamCallError,
    UpstreamConfigError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.manager import OutgoingHeaders, UpstreamManager, compute_pins
from mcp_upstream_client.oauth import (
    AuthorizationCodeResult,
    AuthorizationHandler,
    HeadlessAuthorization,
)
from mcp_upstream_client.observer import (
    CircuitState,
    NullObserver,
    ObserverGroup,
    UpstreamObserver,
)
from mcp_upstream_client.pins import canonical_tool_json, format_pins, tool_pin
from mcp_upstream_client.status import UpstreamStatus
from mcp_upstream_client.transports import REQUEST_ID_META_KEY

__version__: str = _distribution_version("mcp-upstream-client")  # pyproject.toml holds it

__all__ = [
    "REQUEST_ID_META_KEY",
    "AuthorizationCodeResult",
    "AuthorizationHandler",
    "BreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "ElicitationHandler",
    "ElicitationRequest",
    "HeadlessAuthorization",
    "NullObserver",
    "OAuthConfig",
    "ObserverGroup",
    "OutgoingHeaders",
    "ReconnectConfig",
    "ToolNotAllowedError",
    "ToolWithdrawnError",
    "UnknownUpstreamError",
    "UpstreamAuthError",
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
    "accept_defaults",
    "apply_defaults",
    "canonical_tool_json",
    "compute_pins",
    "format_pins",
    "is_testing",
    "load_upstreams",
    "parse_upstreams",
    "set_testing",
    "tool_pin",
]
