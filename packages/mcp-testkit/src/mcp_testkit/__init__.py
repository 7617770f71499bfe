"""mcp-testkit: a pytest plugin for testing MCP servers over real transports.

The fixtures arrive through the ``pytest11`` entry point (:mod:`mcp_testkit.plugin`). The
names below are for code that builds its own fixtures; they are imported lazily, because
fastmcp, httpx and redis cost about a second to import and a plain ``import mcp_testkit``
(for example by a packaging check) should not pay it.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as _distribution_version
from typing import TYPE_CHECKING, Any

__version__: str = _distribution_version("mcp-fastapi-testkit")  # pyproject.toml holds it

_EXPORTS: dict[str, str] = {
    # servers
    "ServerFactory": "mcp_testkit.servers",
    "ServerProcess": "mcp_testkit.servers",
    "ServerStartError": "mcp_testkit.servers",
    "ServerTarget": "mcp_testkit.servers",
    "StdioCommand": "mcp_testkit.servers",
    "find_free_port": "mcp_testkit.servers",
    # clients and the wire
    "ClientConnectError": "mcp_testkit.clients",
    "LiveTarget": "mcp_testkit.clients",
    "TRANSPORTS": "mcp_testkit.clients",
    "TransportName": "mcp_testkit.clients",
    "start_target": "mcp_testkit.clients",
    "McpHttp": "mcp_testkit.wire",
    "RawStdio": "mcp_testkit.wire",
    "RpcAnswer": "mcp_testkit.wire",
    # the contract suite
    "ContractSuite": "mcp_testkit.contract",
    "ContinuationProbe": "mcp_testkit.contract",
    "PaginationProbe": "mcp_testkit.contract",
    "RateLimitProbe": "mcp_testkit.contract",
    # Redis and JWT helpers
    "RedisServer": "mcp_testkit.redis",
    "start_redis": "mcp_testkit.redis",
    "JwtIssuer": "mcp_testkit.jwt",
    "JwksServer": "mcp_testkit.jwt",
}

__all__ = [
    "TRANSPORTS",
    "ClientConnectError",
    "ContinuationProbe",
    "ContractSuite",
    "JwksServer",
    "JwtIssuer",
    "LiveTarget",
    "McpHttp",
    "PaginationProbe",
    "RateLimitProbe",
    "RawStdio",
    "RedisServer",
    "RpcAnswer",
    "ServerFactory",
    "ServerProcess",
    "ServerStartError",
    "ServerTarget",
    "StdioCommand",
    "TransportName",
    "__version__",
    "find_free_port",
    "start_redis",
    "start_target",
]

if TYPE_CHECKING:
    from mcp_testkit.clients import (
        TRANSPORTS,
        ClientConnectError,
        LiveTarget,
        TransportName,
        start_target,
    )
    from mcp_testkit.contract import (
        ContinuationProbe,
        ContractSuite,
        PaginationProbe,
        RateLimitProbe,
    )
    from mcp_testkit.jwt import JwksServer, JwtIssuer
    from mcp_testkit.redis import RedisServer, start_redis
    from mcp_testkit.servers import (
        ServerFactory,
        ServerProcess,
        ServerStartError,
        ServerTarget,
        StdioCommand,
        find_free_port,
    )
    from mcp_testkit.wire import McpHttp, RawStdio, RpcAnswer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_testkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
