"""The plugin works in a project of its own: no conftest, no config, only the installed package.

A temporary project gets one test file that uses the fixtures (through the ``pytest11``
entry point) and the contract suite against ``mcp-server serve``/``stdio``; ``python -m
pytest`` runs there in a subprocess with this venv's interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

OUTSIDE_TEST = textwrap.dedent(
    """
    import shutil
    import sys
    from pathlib import Path

    import httpx
    import pytest

    from mcp_testkit.contract import ContractSuite, PaginationProbe, ServerTarget

    MCP_SERVER = shutil.which("mcp-server") or str(Path(sys.executable).with_name("mcp-server"))
    SERVER = ServerTarget(
        http_command=[MCP_SERVER, "serve", "--port", "{port}"],
        stdio_command=[MCP_SERVER, "stdio"],
        env={"MCP_RATE_LIMIT_ENABLED": "false", "MCP_LOG_LEVEL": "WARNING"},
    )


    class TestOurServer(ContractSuite):
        target = SERVER
        expected_tools = ("health", "metadata", "search", "fetch")
        read_only_tools = ("health", "metadata", "search", "fetch")
        pagination = (PaginationProbe("search", {"query": "the"}),)
        fuzz_examples = 10

        # A team's own tests can sit next to the inherited ones and share the class's
        # server and clients (one HTTP server and one stdio process for all of them).
        @pytest.mark.asyncio(loop_scope="class")
        async def test_health_over_every_transport(self, mcp_client, mcp_transport):
            result = await mcp_client.call_tool("health", {})
            assert result.structured_content["status"] in {"ok", "degraded"}

        def test_server_handle(self, mcp_live):
            assert mcp_live.http.is_running()
            assert httpx.get(f"{mcp_live.base_url}/healthz").status_code == 200


    def test_a_server_of_its_own(mcp_server_process):
        server = mcp_server_process.start_http(
            [MCP_SERVER, "serve", "--port", "{port}"], env={"MCP_LOG_FORMAT": "console"}
        )
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        assert server.stop() is not None
    """
)


def test_plugin_in_a_project_of_its_own(tmp_path: Path) -> None:
    project = tmp_path / "outside"
    project.mkdir()
    (project / "test_outside.py").write_text(OUTSIDE_TEST)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "MCP_")) and key != "PYTHONPATH"
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    passed = re.search(r"(\d+) passed", output)
    assert passed, output
    # the suite's checks (tools, errors, paging, health: x3 transports; fuzz x2;
    # stdio x2), the handle, and the server of its own; skips are auth and rate limit
    assert int(passed.group(1)) >= 18, output
    assert "failed" not in output, output
