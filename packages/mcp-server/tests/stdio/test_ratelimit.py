"""The stdio adapter: same limits as JSON-RPC errors, and installed only for stdio."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mcp import MCPError

from mcp_fastapi_server.core import RATE_LIMITED
from mcp_fastapi_server.stdio import local_subject
from mcp_testkit.asgi import serving_asgi

SERVER = Path(__file__).with_name("stdio_limits_server.py")
HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def _server_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stdio_limits_server", SERVER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_stdio_refuses_with_the_same_jsonrpc_error() -> None:
    transport = StdioTransport(sys.executable, [str(SERVER)], keep_alive=False)
    async with Client(transport) as client:
        for _ in range(2):
            result = await client.call_tool("echo", {"text": "hi"})
            assert result.structured_content == {"result": "hi"}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "hi"})
    error = refused.value
    assert error.code == RATE_LIMITED
    assert error.message.startswith("Rate limit exceeded for tool 'echo': 2 per 3600s; retry in ")
    assert error.data["limit"] == 2
    assert 0 < error.data["retry_after"] <= 3600


async def test_the_http_runtime_has_no_stdio_middleware_and_counts_each_call_once() -> None:
    # The stdio adapter is installed only for stdio: over HTTP the ASGI limiter alone counts.
    from fastapi import FastAPI

    from mcp_fastapi_server import Settings, build_runtime, mount_mcp
    from mcp_fastapi_server.stdio import StdioAccessMiddleware, StdioRateLimitMiddleware

    stdio_only = (StdioAccessMiddleware, StdioRateLimitMiddleware)
    settings = Settings(rate_limit_default="3/hour")
    assert not any(isinstance(m, stdio_only) for m in build_runtime(settings).mcp.middleware)
    assert any(
        isinstance(m, stdio_only) for m in build_runtime(settings, transport="stdio").mcp.middleware
    )
    app = FastAPI()
    mount_mcp(app, settings)
    async with serving_asgi(app) as srv, httpx.AsyncClient() as raw:
        statuses = []
        for rid in range(4):
            call = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                    "params": {"name": "health", "arguments": {}}}  # fmt: skip
            resp = await raw.post(f"{srv.url}/mcp", json=call, headers=HEADERS)
            statuses.append(resp.status_code)
    assert statuses == [200, 200, 200, 429]


def test_local_subject_names_the_os_user() -> None:
    assert local_subject().startswith("local:")
    assert len(local_subject()) > len("local:")
