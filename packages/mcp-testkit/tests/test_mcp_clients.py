"""The client fixtures and raw wire helpers against a server that is not ours."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from mcp import MCPError

from mcp_testkit.clients import (
    ClientConnectError,
    ClientFactory,
    LiveTarget,
    TransportName,
    start_target,
)
from mcp_testkit.servers import ServerFactory, ServerTarget
from mcp_testkit.wire import LEGACY_VERSION, MODERN_VERSION, McpHttp

DEMO = str(Path(__file__).resolve().parent / "demo_server.py")
TOKEN = "client-test-token"
EXPECTED_ERA = {"http-2025-11-25": LEGACY_VERSION, "http-2026-07-28": MODERN_VERSION}


@pytest.fixture(scope="module")
def mcp_target() -> ServerTarget:
    """Overrides the plugin's default target for this module: the demo server, with a token."""
    return ServerTarget(
        http_command=[sys.executable, DEMO, "serve", "--port", "{port}"],
        stdio_command=[sys.executable, DEMO, "stdio"],
        env={"DEMO_TOKEN": TOKEN},
        auth_required=True,
        token=TOKEN,
    )


async def test_mcp_client_over_each_transport(
    mcp_client: Client[Any], mcp_transport: TransportName
) -> None:
    names = {tool.name for tool in await mcp_client.list_tools()}
    assert {"health", "search", "fetch"} <= names
    result = await mcp_client.call_tool("search", {"query": "pears", "limit": 2})
    assert result.structured_content is not None
    assert [hit["id"] for hit in result.structured_content["results"]] == ["doc-00", "doc-01"]
    # Each HTTP id really is its protocol era (no silent fallback).
    if mcp_transport in EXPECTED_ERA:
        assert mcp_client.protocol_version == EXPECTED_ERA[mcp_transport]


@pytest.mark.parametrize("transport", ["http-2025-11-25", "http-2026-07-28"])
async def test_client_factory_with_and_without_token(
    mcp_client_factory: ClientFactory, transport: TransportName
) -> None:
    async with mcp_client_factory(transport) as client:  # the target's token
        assert await client.call_tool("health", {})
    # The handshake era is refused at connect, the modern era (no handshake) at the call.
    with pytest.raises((ClientConnectError, MCPError)):
        async with mcp_client_factory(transport, token=None) as client:
            await client.list_tools()


def test_mcp_http_fixture_speaks_the_modern_era_with_the_token(mcp_http: McpHttp) -> None:
    assert mcp_http.era == MODERN_VERSION
    assert mcp_http.call_tool("health").structured == {"status": "ok"}


def test_raw_http_modern_request_shape(mcp_live: LiveTarget) -> None:
    with mcp_live.raw_http(MODERN_VERSION) as http:
        answer = http.call_tool("health")
        assert answer.status == 200
        assert answer.structured == {"status": "ok"}
        # The server checks the routing headers against the body: a wrong one is a 400,
        # so the 200 above proves the helper sends them right.
        body = http.message("tools/call", {"name": "health", "arguments": {}})
        wrong = {**http.routing_headers(body), "mcp-name": "fetch"}
        assert http.post(body, headers=wrong).status_code == 400


def test_raw_http_legacy_initializes_first(mcp_live: LiveTarget) -> None:
    with mcp_live.raw_http(LEGACY_VERSION) as http:
        answer = http.list_tools()
        assert http.initialized
        assert answer.status == 200
        assert answer.result is not None
        assert {tool["name"] for tool in answer.result["tools"]} >= {"health", "search"}


def test_raw_http_without_token_gets_the_challenge(mcp_live: LiveTarget) -> None:
    for era in (LEGACY_VERSION, MODERN_VERSION):
        with mcp_live.raw_http(era, token=None) as http:
            answer = http.list_tools()
            assert answer.status == 401
            assert "resource_metadata=" in answer.headers["www-authenticate"]
            assert not http.initialized


def test_raw_stdio_keeps_every_line(mcp_live: LiveTarget) -> None:
    with mcp_live.raw_stdio() as raw:
        assert raw.initialize()["result"]["serverInfo"]["name"] == "demo"
        answer = raw.request("tools/call", {"name": "fetch", "arguments": {"id": "nope"}})
        assert answer["result"]["isError"] is True
    assert len(raw.lines) == 2
    assert raw.proc.returncode == 0


def test_start_target_with_url_starts_nothing(tmp_path: Path, mcp_live: LiveTarget) -> None:
    remote = ServerTarget(url=mcp_live.mcp_url, stdio_command=None, token=TOKEN)
    with ServerFactory(tmp_path) as servers:
        live = start_target(remote, servers)
        assert servers.servers == []
        assert live.base_url == mcp_live.base_url
        assert not live.supports("stdio")
        with live.raw_http() as http:
            assert http.call_tool("health").status == 200
