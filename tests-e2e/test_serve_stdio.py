"""The README's promises, end to end: ``mcp-server serve`` and ``mcp-server stdio`` as real
processes on embedded defaults (no Redis, token or upstream), real FastMCP clients over
HTTP in both protocol eras and over stdio, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from mcp_testkit.servers import ServerFactory, ServerProcess

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import ServeTargetMaker

BUILTIN_TOOLS = {"health", "metadata", "search", "fetch"}
QUERY = "webhooks"  # a word of the bundled sample corpus (documents/samples/api/webhooks.md)
GRACEFUL_TIMEOUT_S = 5.0


def _check_search_page(page: Any) -> list[dict[str, Any]]:
    assert isinstance(page, dict)
    results = page["results"]
    assert results, f"no hits for {QUERY!r}: {page}"
    for hit in results:
        assert set(hit) >= {"id", "title", "url", "snippet"}
        assert hit["id"]
        assert hit["title"]
    assert "next_cursor" in page
    return list(results)


async def test_modern_http_client_lists_and_calls_tools(served: ServerProcess) -> None:
    async with Client(served.mcp_url) as client:
        assert client.protocol_version == "2026-07-28"
        names = {tool.name for tool in await client.list_tools()}
        assert names >= BUILTIN_TOOLS

        search = await client.call_tool("search", {"query": QUERY})
        hits = _check_search_page(search.structured_content)
        assert any(QUERY in hit["id"] for hit in hits)

        fetched = await client.call_tool("fetch", {"id": hits[0]["id"]})
        doc = fetched.structured_content
        assert doc is not None
        assert doc["id"] == hits[0]["id"]
        assert doc["title"] == hits[0]["title"]
        assert QUERY in doc["text"].lower()


async def test_legacy_http_client_lists_and_calls_tools(served: ServerProcess) -> None:
    transport = StreamableHttpTransport(served.mcp_url)
    async with Client(transport, mode="legacy") as client:
        assert client.initialize_result is not None  # the 2025-11-25 handshake happened
        assert client.protocol_version != "2026-07-28"
        names = {tool.name for tool in await client.list_tools()}
        assert names >= BUILTIN_TOOLS
        search = await client.call_tool("search", {"query": QUERY})
        _check_search_page(search.structured_content)


def test_readme_curl_request(served: ServerProcess) -> None:
    """The exact 2026-07-28 request the README shows, sent as curl sends it."""
    response = httpx.post(
        served.mcp_url,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": "search",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": "search",
                "arguments": {"query": QUERY},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers.get("x-request-id")
    body = response.json()
    assert body["id"] == 1
    assert body["result"]["isError"] is False
    _check_search_page(body["result"]["structuredContent"])


def test_probes_answer(served: ServerProcess) -> None:
    health = httpx.get(f"{served.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = httpx.get(f"{served.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text


async def test_stdio_lists_and_calls_tools(
    server_command: list[str], server_env: dict[str, str], tmp_path: Path
) -> None:
    transport = StdioTransport(
        command=server_command[0],
        args=[*server_command[1:], "stdio"],
        env=server_env,
        cwd=str(tmp_path),
        keep_alive=False,
    )
    async with Client(transport) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert names >= BUILTIN_TOOLS
        search = await client.call_tool("search", {"query": QUERY})
        _check_search_page(search.structured_content)


def test_sigterm_stops_serve_cleanly(
    make_serve_target: ServeTargetMaker, mcp_server_process: ServerFactory, tmp_path: Path
) -> None:
    target = make_serve_target(tmp_path, args=["--graceful-timeout", str(GRACEFUL_TIMEOUT_S)])
    server = mcp_server_process.start_target(target)
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    os.kill(server.pid, signal.SIGTERM)  # the server itself, as an orchestrator would
    try:
        code = server.wait(GRACEFUL_TIMEOUT_S + 10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after SIGTERM:\n{server.logs()}") from None
    assert code == 0, f"exit code {code} after SIGTERM:\n{server.logs()}"
