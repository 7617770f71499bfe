"""What operators see of upstreams through the real served app: a metric line per
configured upstream from start-up, the breaker state in ``health`` and ``/readyz``, and
the request id reaching a stdio upstream in ``_meta``.

The upstreams are the testkit's fakes (real MCP servers over HTTP and stdio); the app is
``create_app`` under uvicorn on 127.0.0.1. No timed assertions: state is polled under
generous deadlines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from mcp_fastapi_server import Settings, create_app
from mcp_testkit.asgi import running_asgi
from mcp_testkit.fakes import FakeHttpServer, FakeOptions, free_port, stdio_command
from mcp_upstream_client import REQUEST_ID_META_KEY

TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def http_table(name: str, url: str, **extra: str) -> str:
    lines = [
        "[[upstreams]]",
        f'name = "{name}"',
        'transport = "http"',
        f'url = "{url}"',
        'allow_tools = ["echo"]',
        "expose = true",
        "health_interval_s = 0",
        "connect_timeout_s = 60",
    ]
    return "\n".join(lines + [f"{k} = {v}" for k, v in extra.items()]) + "\n"


def stdio_table(name: str, **extra: str) -> str:
    command, env = stdio_command(FakeOptions())
    lines = [
        "[[upstreams]]",
        f'name = "{name}"',
        'transport = "stdio"',
        f"command = {json.dumps(command)}",
        "env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }",
        'allow_tools = ["echo", "meta"]',
        "expose = true",
        "health_interval_s = 0",
        "connect_timeout_s = 120",
    ]
    return "\n".join(lines + [f"{k} = {v}" for k, v in extra.items()]) + "\n"


def served_app(tmp_path: Path, tables: str) -> tuple[Any, CollectorRegistry]:
    path = tmp_path / "upstreams.toml"
    path.write_text(tables, encoding="utf-8")
    registry = CollectorRegistry()
    settings = Settings(_env_file=None, upstreams_file=path)
    return create_app(settings, metrics_registry=registry), registry


async def scrape(url: str) -> dict[tuple[str, str], float]:
    """``{(sample name, upstream label): value}`` of the upstream gauges at ``/metrics``."""
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{url}/metrics")).text
    return {
        (sample.name, sample.labels["upstream"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in ("mcp_upstream_circuit_state", "mcp_upstream_up")
        for sample in family.samples
    }


async def readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{url}/readyz")


async def eventually(
    probe: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60
) -> None:
    async with asyncio.timeout(timeout_s):
        while not await probe():  # noqa: ASYNC110 (polls state owned by the code under test)
            await asyncio.sleep(0.05)
    assert await probe(), what


async def health_of(client: Client[Any], check: str) -> dict[str, Any]:
    result = await client.call_tool("health", {})
    report = result.structured_content
    assert isinstance(report, dict)
    entry: dict[str, Any] = report["checks"][check]
    return entry


async def test_every_configured_upstream_has_gauge_lines_from_start_up(
    tmp_path: Path, fake_http_upstream: Callable[..., FakeHttpServer]
) -> None:
    live = fake_http_upstream()
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    tables = http_table("docs", live.url) + http_table("gone", dead) + stdio_table("local")
    app, registry = served_app(tmp_path, tables)
    # Built, not started: every upstream already has both lines.
    for name in ("docs", "gone", "local"):
        assert registry.get_sample_value("mcp_upstream_circuit_state", {"upstream": name}) == 0
        assert registry.get_sample_value("mcp_upstream_up", {"upstream": name}) == 0
    with running_asgi(app, timeout_s=180) as srv:
        lines = await scrape(srv.url)  # before any MCP call
    assert lines[("mcp_upstream_circuit_state", "docs")] == 0
    assert lines[("mcp_upstream_up", "docs")] == 1
    assert lines[("mcp_upstream_circuit_state", "local")] == 0
    assert lines[("mcp_upstream_up", "local")] == 1
    assert lines[("mcp_upstream_circuit_state", "gone")] in (0, 1, 2)  # failures count
    assert lines[("mcp_upstream_up", "gone")] == 0


async def test_health_and_readyz_show_the_breaker_of_a_killed_upstream(tmp_path: Path) -> None:
    port = free_port()
    upstream = FakeHttpServer(port=port).start()
    breaker = "{ fail_max = 2, reset_timeout_s = 0.5 }"
    tables = http_table("docs", upstream.url, required="true", breaker=breaker)
    app, registry = served_app(tmp_path, tables)
    try:
        with running_asgi(app, timeout_s=120) as srv:
            async with Client(f"{srv.url}/mcp") as client:
                check = await health_of(client, "upstream:docs")
                assert check["status"] == "ok"
                assert check["detail"].startswith("up, circuit closed")
                upstream.stop()  # killed
                for _ in range(2):
                    failed = await client.call_tool(
                        "docs_echo", {"text": "x"}, raise_on_error=False
                    )
                    assert failed.is_error

                seen: dict[str, Any] = {}

                async def opened() -> bool:
                    seen.update(await health_of(client, "upstream:docs"))
                    return "circuit open" in seen["detail"]

                await eventually(opened, "health shows the open circuit")
                check = seen  # (a moment later its probe may be running: half-open)
                assert check["status"] == "down"  # a required upstream
                assert check["detail"].startswith("down, circuit open (probe in ")
                assert "last error: " in check["detail"]
                ready = await readyz(srv.url)
                assert ready.status_code == 503
                assert ready.json()["failing"] == ["upstream:docs"]
                detail = ready.json()["checks"]["upstream:docs"]["detail"]
                assert "circuit" in detail
                assert "last error: " in detail
                assert (await scrape(srv.url))[("mcp_upstream_up", "docs")] == 0

                upstream = FakeHttpServer(port=port).start()  # back

                async def closed() -> bool:
                    check = await health_of(client, "upstream:docs")
                    return bool(check["status"] == "ok")

                await eventually(closed, "the probe closed the circuit")
                check = await health_of(client, "upstream:docs")
                assert check["detail"].startswith("up, circuit closed")
                assert (await readyz(srv.url)).status_code == 200
                echoed = await client.call_tool("docs_echo", {"text": "back"})
                assert not echoed.is_error
    finally:
        upstream.stop()
    assert registry.get_sample_value("mcp_upstream_circuit_state", {"upstream": "docs"}) == 0


async def test_a_stdio_upstream_receives_the_request_id_in_meta(tmp_path: Path) -> None:
    app, _ = served_app(tmp_path, stdio_table("local"))
    headers = {"X-Request-ID": "rid-stdio-1", "traceparent": TRACEPARENT}
    with running_asgi(app, timeout_s=180) as srv:
        transport = StreamableHttpTransport(f"{srv.url}/mcp", headers=headers)
        async with Client(transport) as client:
            result = await client.call_tool("local_meta", {})
    meta = result.structured_content
    assert isinstance(meta, dict)
    assert meta[REQUEST_ID_META_KEY] == "rid-stdio-1"
    assert meta["traceparent"] == TRACEPARENT
