"""`mcp-server stdio` as a real subprocess: a fastmcp client over stdio, and stdout purity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

CMD = [sys.executable, "-m", "mcp_fastapi_server", "stdio"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(MCP_LOG_LEVEL="DEBUG", **extra)
    return env


async def test_client_over_stdio_lists_and_calls() -> None:
    transport = StdioTransport(CMD[0], CMD[1:], env=_env(MCP_TOOLS_ENABLED="search,fetch"))
    async with Client(transport) as client:
        assert {t.name for t in await client.list_tools()} == {"search", "fetch"}
        result = await client.call_tool("search", {"query": "widget"})
        assert result.structured_content is not None
        hit = result.structured_content["results"][0]
        doc = await client.call_tool("fetch", {"id": hit["id"]})
        assert doc.structured_content is not None
        assert doc.structured_content["id"] == hit["id"]
        bad = await client.call_tool("fetch", {"id": "no/such/doc"}, raise_on_error=False)
        assert bad.is_error


def test_stdout_carries_only_protocol_bytes(tmp_path: Path) -> None:
    """Every stdout line is a JSON-RPC message, even at DEBUG and after a bad line."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "purity", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "health"}},
    ]
    lines = [json.dumps(m) for m in messages[:2]] + ["this is not json"]
    lines += [json.dumps(m) for m in messages[2:]]
    # Like a real client, keep stdin open until the answers are in: FastMCP's stdio loop
    # ends at EOF and drops answers still being written.
    err_path = tmp_path / "stderr.log"  # a file: a full stderr pipe would block the server
    err_file = err_path.open("w")
    proc = subprocess.Popen(
        CMD,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err_file,
        text=True,
        env=_env(),
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    parsed: list[dict[str, object]] = []
    try:
        while not {1, 2, 3} <= {p.get("id") for p in parsed}:
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip():
                parsed.append(json.loads(line))  # raises on any non-JSON stdout line
    finally:
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=60)
        err_file.close()
    stderr = err_path.read_text()
    parsed += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert all(p.get("jsonrpc") == "2.0" for p in parsed)
    assert {1, 2, 3} <= {p.get("id") for p in parsed}, stderr[-2000:]
    assert stderr.strip(), "logs are expected on stderr"
