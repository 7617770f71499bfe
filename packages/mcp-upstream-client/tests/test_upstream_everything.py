"""A real third-party stdio upstream: the reference ``@modelcontextprotocol/server-everything``.

Install it once (CI does this in .ci/run)::

    npm install --prefix "$HOME/.cache/mcp-toolkit/npm" @modelcontextprotocol/server-everything
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mcp_upstream_client import ToolNotAllowedError, UpstreamConfig, UpstreamManager

PREFIX = Path(os.environ.get("MCP_TOOLKIT_NPM_PREFIX", Path.home() / ".cache/mcp-toolkit/npm"))
ENTRY = PREFIX / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
NODE = shutil.which("node")

INSTALL_HINT = (
    f"server-everything not installed at {ENTRY} (or no node on PATH); .ci/run installs it: "
    'npm install --prefix "$HOME/.cache/mcp-toolkit/npm" @modelcontextprotocol/server-everything'
)


async def test_server_everything_behind_an_allowlist(tmp_path: Path) -> None:
    # A missing install is a failure, not a skip: CI must exercise a real third party.
    if not ENTRY.exists() or NODE is None:
        pytest.fail(INSTALL_HINT)
    config = UpstreamConfig(
        name="everything",
        transport="stdio",
        command=[NODE, str(ENTRY), "stdio"],
        allow_tools=["echo", "get-sum"],
        timeout_s=30,
        connect_timeout_s=120,
        health_interval_s=0,
    )
    async with UpstreamManager([config]) as manager:
        tools = await manager.list_tools("everything")
        assert sorted(t.name for t in tools) == ["echo", "get-sum"]
        echo = await manager.call_tool("everything", "echo", {"message": "hi"})
        assert echo.is_error is False
        assert echo.content[0].text == "Echo: hi"  # type: ignore[union-attr]
        total = await manager.call_tool("everything", "get-sum", {"a": 2, "b": 3})
        assert "5" in total.content[0].text  # type: ignore[union-attr]
        with pytest.raises(ToolNotAllowedError):
            await manager.call_tool("everything", "get-env")
        assert manager.status()["everything"].state == "up"
