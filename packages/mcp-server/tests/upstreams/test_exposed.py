"""Upstream tools re-exposed through mcp-server: namespaced, under our auth and limits, and
the caller's token never reaches the upstream (canary), while our X-Request-ID does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from prometheus_client import CollectorRegistry

from mcp_fastapi_server import McpMount, Settings, mount_mcp
from mcp_testkit.asgi import running_asgi
from mcp_testkit.fakes import FakeHttpServer, read_events
from mcp_testkit.jwt import JwtIssuer


def write_file(
    tmp_path: Path, url: str, *, expose: bool = True, tools: str = '"echo", "headers"'
) -> Path:
    path = tmp_path / "upstreams.toml"
    path.write_text(
        "[[upstreams]]\n"
        'name = "docs"\n'
        'transport = "http"\n'
        f'url = "{url}"\n'
        'headers = { "X-Upstream-Key" = "${UPSTREAM_KEY}" }\n'
        f"allow_tools = [{tools}]\n"
        f"expose = {'true' if expose else 'false'}\n"
        "timeout_s = 5\n"
        "required = true\n"
    )
    return path


async def test_exposed_tools_never_see_the_callers_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_http_upstream: Callable[..., FakeHttpServer],
    jwt_issuer: JwtIssuer,
) -> None:
    log = tmp_path / "upstream.jsonl"
    upstream = fake_http_upstream(log=log)
    monkeypatch.setenv("UPSTREAM_KEY", "static-upstream-key")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **jwt_issuer.settings_fields(),
        upstreams_file=write_file(tmp_path, upstream.url),
        rate_limit_tools={"docs_echo": "2/minute"},
    )
    app = FastAPI()
    mounted = mount_mcp(app, settings, metrics_registry=CollectorRegistry())
    assert mounted is not None
    token = jwt_issuer.token(sub="erin")
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "canary-request-1"}
    with running_asgi(app) as srv:
        transport = StreamableHttpTransport(f"{srv.url}/mcp", headers=headers)
        async with Client(transport) as client:
            names = {t.name for t in await client.list_tools()}
            assert {"docs_echo", "docs_headers"} <= names
            assert "docs_delete_all" not in names
            echoed = await client.call_tool("docs_echo", {"text": "hello"})
            assert "hello" in json.dumps(echoed.structured_content or echoed.content[0].text)
            seen = await client.call_tool("docs_headers")
            assert seen.structured_content is not None or seen.content
        assert (await mounted.readiness()).status == "ok"
        async with httpx.AsyncClient() as http:
            body = {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "docs_echo", "arguments": {"text": "x"}},
            }
            answers = [
                await http.post(
                    f"{srv.url}/mcp",
                    json=body,
                    headers=headers | {"accept": "application/json, text/event-stream"},
                )
                for _ in range(2)
            ]
            # 2/minute: the client's call above was the first; our limiter covers them too.
            assert [a.status_code for a in answers] == [200, 429]
    requests = read_events(log, "http")
    assert requests, "the upstream saw no request"
    for request in requests:
        sent = request["headers"]
        assert token not in json.dumps(sent)
        assert not sent.get("authorization")
        assert sent.get("x-upstream-key") == "static-upstream-key"
    calls = [r for r in requests if r["method"] == "tools/call"]
    assert any(r["headers"].get("x-request-id") == "canary-request-1" for r in calls)


def mounted_upstream(
    tmp_path: Path, upstream: FakeHttpServer, tools: str = '"echo", "headers"', **settings: Any
) -> tuple[FastAPI, McpMount]:
    """A plain FastAPI app with one exposed fake upstream (``UPSTREAM_KEY`` must be set)."""
    app = FastAPI()
    mounted = mount_mcp(
        app,
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            upstreams_file=write_file(tmp_path, upstream.url, tools=tools),
            **settings,
        ),
        metrics_registry=CollectorRegistry(),
    )
    assert mounted is not None
    return app, mounted


async def test_oversized_upstream_results_are_refused_like_local_ones(
    tmp_path: Path,
    fake_http_upstream: Callable[..., FakeHttpServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    upstream = fake_http_upstream(log=tmp_path / "u.jsonl")
    app, _ = mounted_upstream(tmp_path, upstream, tools='"big"', max_response_bytes=4096)
    with running_asgi(app) as srv:
        async with Client(f"{srv.url}/mcp") as client:
            small = await client.call_tool("docs_big", {"size": 100})
            assert not small.is_error
            big = await client.call_tool("docs_big", {"size": 20000}, raise_on_error=False)
    assert big.is_error
    assert "4096" in big.content[0].text  # type: ignore[union-attr]


async def test_upstream_failures_are_tool_errors_and_readiness_fails(
    tmp_path: Path,
    fake_http_upstream: Callable[..., FakeHttpServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "k")
    upstream = fake_http_upstream(log=tmp_path / "u.jsonl")
    app, mounted = mounted_upstream(tmp_path, upstream)
    with running_asgi(app) as srv:
        upstream.stop()
        async with Client(f"{srv.url}/mcp") as client:
            failed = await client.call_tool("docs_echo", {"text": "x"}, raise_on_error=False)
            assert failed.is_error
        report = await mounted.readiness()
        assert report.checks["upstream:docs"].status == "down"


def test_collision_with_a_local_tool_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_fastapi_server import ToolRegistry, ToolSpec

    async def echo() -> str:
        return "local"

    monkeypatch.setenv("UPSTREAM_KEY", "k")
    registry = ToolRegistry([ToolSpec(name="docs_echo", description="local", fn=echo)])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        upstreams_file=write_file(tmp_path, "http://127.0.0.1:9/mcp"),
    )
    with pytest.raises(ValueError, match="docs_echo"):
        mount_mcp(FastAPI(), settings, registry=registry, metrics_registry=CollectorRegistry())
