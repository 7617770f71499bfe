"""The stdio side: access lines and metrics from FastMCP middleware, logs only on stderr."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import Middleware, MiddlewareContext
from mcp import MCPError
from prometheus_client import CollectorRegistry

from mcp_fastapi_server.core import RATE_LIMITED, current_request_context
from mcp_fastapi_server.observability import Metrics
from mcp_fastapi_server.stdio import StdioAccessMiddleware

SERVER = textwrap.dedent(
    """
    import logging
    from fastmcp import FastMCP
    from prometheus_client import CollectorRegistry, generate_latest
    from mcp_fastapi_server.observability import Metrics, configure_logging
    from mcp_fastapi_server.stdio import StdioAccessMiddleware
    from mcp_fastapi_server._settings import Settings

    configure_logging(Settings(log_format="json", log_level="INFO"))
    registry = CollectorRegistry()
    metrics = Metrics(registry, known_tools={"echo", "scrape"})
    mcp = FastMCP("stdio-observe")
    mcp.add_middleware(StdioAccessMiddleware(metrics, subject="local:tester"))

    @mcp.tool
    async def echo(text: str) -> str:
        logging.getLogger("team.tool").info(
            "echoing", extra={"authorization": "Bearer sekrit", "chars": len(text)})
        logging.getLogger("fastmcp.team").warning("through the fastmcp logger")
        return text

    @mcp.tool
    async def scrape() -> str:
        return generate_latest(registry).decode()

    mcp.run(transport="stdio", show_banner=False, log_level="DEBUG")
    """
)


async def test_stdio_server_logs_json_to_stderr_with_request_ids(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    stderr = tmp_path / "stderr.log"
    transport = StdioTransport(
        sys.executable,
        [str(script)],
        env={"FASTMCP_CHECK_FOR_UPDATES": "off", "FASTMCP_SHOW_SERVER_BANNER": "false"},
        cwd=str(tmp_path),
        log_file=stderr,
        keep_alive=False,
    )
    async with Client(transport) as client:
        assert (await client.call_tool("echo", {"text": "hello"})).data == "hello"
        exposition = (await client.call_tool("scrape", {})).data

    # Every stderr line is our JSON: FastMCP's rich handlers were replaced, even after
    # run(log_level="DEBUG") reconfigured its logger. (stdout stayed protocol-only, or the
    # client above would have failed to parse.)
    text = stderr.read_text()
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    assert lines
    assert "sekrit" not in text
    tool_line = next(x for x in lines if x["logger"] == "team.tool")
    access = next(
        x for x in lines if x["logger"] == "mcp_fastapi_server.access" and x["tool"] == "echo"
    )
    assert tool_line["request_id"] == access["request_id"]
    assert len(access["request_id"]) == 32
    assert tool_line["authorization"] == "[REDACTED]"
    fm_line = next(x for x in lines if x["logger"] == "fastmcp.team")
    assert fm_line["request_id"] == access["request_id"]
    assert access["transport"] == "stdio"
    assert access["method"] == "tools/call"
    assert access["subject"] == "local:tester"
    assert access["outcome"] == "ok"
    assert access["status"] is None
    assert 'mcp_requests_total{method="tools/call",outcome="ok",tool="echo"} 1.0' in exposition


@pytest.fixture
def server() -> Iterator[tuple[FastMCP, CollectorRegistry, list[dict[str, Any]]]]:
    """An in-memory server (no HTTP request, so it counts as stdio) and its access records."""
    registry = CollectorRegistry()
    metrics = Metrics(registry, known_tools={"ok", "boom", "limited"})
    records: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(dict(record.__dict__))

    logger = logging.getLogger("test.stdio.access")
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    class Limiter(Middleware):
        """Stands in for the stdio policy middleware: refuses as a JSON-RPC error."""

        async def on_call_tool(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
            if context.message.name == "limited":
                raise MCPError(code=RATE_LIMITED, message="slow down")
            return await call_next(context)

    mcp = FastMCP("in-memory")
    mcp.add_middleware(StdioAccessMiddleware(metrics, logger=logger, subject="local:me"))
    mcp.add_middleware(Limiter())

    @mcp.tool
    async def ok() -> str:
        ctx = current_request_context.get()
        assert ctx is not None
        return ctx.request_id

    @mcp.tool
    async def boom() -> str:
        raise ToolError("no")

    @mcp.tool
    async def limited() -> str:
        return "never reached"

    yield mcp, registry, records
    logger.removeHandler(handler)


async def test_outcomes_in_memory(
    server: tuple[FastMCP, CollectorRegistry, list[dict[str, Any]]],
) -> None:
    mcp, registry, records = server
    async with Client(mcp) as client:
        rid = (await client.call_tool("ok", {})).data
        await client.call_tool("boom", {}, raise_on_error=False)
        await client.call_tool("ghost", {}, raise_on_error=False)
        with pytest.raises(Exception, match="slow down"):
            await client.call_tool("limited", {})
    calls = {r["tool"]: r for r in records if r["method"] == "tools/call"}
    assert calls["ok"]["request_id"] == rid
    assert calls["ok"]["subject"] == "local:me"
    assert calls["boom"]["outcome"] == "tool_error"
    assert calls["ghost"]["outcome"] == "invalid"
    assert calls["limited"]["outcome"] == "rate_limited"
    sample = registry.get_sample_value
    labels = {"method": "tools/call", "tool": "other", "outcome": "invalid"}
    assert sample("mcp_requests_total", labels) == 1
    labels = {"method": "tools/call", "tool": "limited", "outcome": "rate_limited"}
    assert sample("mcp_requests_total", labels) == 1
