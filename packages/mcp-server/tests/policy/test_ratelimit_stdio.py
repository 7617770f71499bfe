"""The stdio adapter: same limits as JSON-RPC errors, and no double count over HTTP."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mcp import MCPError

from mcp_fastapi_server.http.responses import RATE_LIMITED
from mcp_fastapi_server.policy.stdio_limits import local_subject
from mcp_testkit.asgi import serving_asgi

SERVER = Path(__file__).with_name("stdio_limits_server.py")


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


async def test_requests_over_http_are_not_counted_twice() -> None:
    # The middleware sits in the server, but HTTP traffic is the ASGI limiter's to count.
    app = _server_module().build().http_app(path="/mcp", stateless_http=True, json_response=True)
    async with serving_asgi(app) as srv, Client(f"{srv.url}/mcp") as client:
        for _ in range(4):  # twice the limit
            result = await client.call_tool("echo", {"text": "hi"})
            assert result.structured_content == {"result": "hi"}


def test_local_subject_names_the_os_user() -> None:
    assert local_subject().startswith("local:")
    assert len(local_subject()) > len("local:")
