"""Real fake upstreams over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastmcp import Client, FastMCP
from fastmcp.server.dependencies import get_http_headers

from mcp_testkit.fakes import FakeHttpServer, free_port, read_events
from mcp_upstream_client import (
    CircuitOpenError,
    ToolNotAllowedError,
    UpstreamConfig,
    UpstreamManager,
    UpstreamUnavailableError,
)


def http_config(url: str, **kw: Any) -> UpstreamConfig:
    kw.setdefault("allow_tools", ["echo"])
    kw.setdefault("health_interval_s", 0)
    kw.setdefault("timeout_s", 20)
    kw.setdefault("connect_timeout_s", 120)  # generous: a loaded CI box is slow to start
    return UpstreamConfig(name="up", transport="http", url=url, **kw)


async def eventually(cond: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():  # noqa: ASYNC110 (polls state owned by the code under test)
            await asyncio.sleep(0.02)
    assert cond(), what


async def test_allowlist_denies_before_any_io(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path, observer: Any
) -> None:
    server = fake_http_upstream(log=fake_log)
    async with UpstreamManager([http_config(server.url)], observer=observer) as manager:
        assert [t.name for t in await manager.list_tools("up")] == ["echo"]
        before = len(read_events(fake_log, "http"))
        with pytest.raises(ToolNotAllowedError, match="delete_all"):
            await manager.call_tool("up", "delete_all")
        assert len(read_events(fake_log, "http")) == before  # not one byte went out
        result = await manager.call_tool("up", "echo", {"text": "hi"})
        assert result.structured_content == {"result": "hi"}
    calls = [e["tool"] for e in read_events(fake_log, "call")]
    assert calls == ["echo"]
    assert read_events(fake_log, "delete_all") == []
    assert observer.requests == [("up", "delete_all", "denied"), ("up", "echo", "ok")]


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(_started(server), 30)
    return server, task


async def _started(server: uvicorn.Server) -> None:
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes only a flag)
        await asyncio.sleep(0.02)


async def test_token_canary_caller_token_never_reaches_upstream(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path
) -> None:
    """A front MCP server relays a call; even a host that hands over *all* incoming
    headers cannot leak the caller's bearer token upstream."""
    upstream = fake_http_upstream(log=fake_log)
    config = http_config(
        upstream.url,
        allow_tools=["headers"],
        headers={"Authorization": "Bearer upstream-own-token"},
    )
    async with UpstreamManager(
        [config], outgoing_headers=lambda: get_http_headers(include_all=True)
    ) as manager:
        front = FastMCP("front")

        @front.tool
        async def relay() -> dict[str, Any]:
            result = await manager.call_tool("up", "headers")
            content: dict[str, Any] | None = result.structured_content
            assert content is not None
            return content

        port = free_port()
        server, task = await _serve(front.http_app(path="/mcp"), port)
        try:
            async with Client(f"http://127.0.0.1:{port}/mcp", auth="CALLER-SECRET-TOKEN") as client:
                seen = (await client.call_tool("relay", {})).structured_content
                await client.call_tool("relay", {})
        finally:
            server.should_exit = True
            await task
    assert seen is not None
    assert seen["authorization"] == "Bearer upstream-own-token"
    events = read_events(fake_log, "http")
    assert events, "the fake recorded no requests"
    assert all("CALLER-SECRET-TOKEN" not in str(e["headers"]) for e in events)
    calls = [e for e in events if e["method"] == "tools/call"]
    assert len(calls) == 2
    assert all(e["headers"]["authorization"] == "Bearer upstream-own-token" for e in calls)


async def test_request_headers_are_read_per_call(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path
) -> None:
    upstream = fake_http_upstream(log=fake_log)
    current = {"X-Request-ID": "req-1"}
    config = http_config(upstream.url, headers={"X-Static": "static"})
    async with UpstreamManager([config], outgoing_headers=lambda: dict(current)) as manager:
        await manager.call_tool("up", "echo", {"text": "a"})
        current.update(
            {"X-Request-ID": "req-2", "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
        )
        await manager.call_tool("up", "echo", {"text": "b"})
    events = read_events(fake_log, "http")
    calls = [e["headers"] for e in events if e["method"] == "tools/call"]
    assert [c["x-request-id"] for c in calls] == ["req-1", "req-2"]
    assert "traceparent" in calls[1]
    assert all(c["x-static"] == "static" for c in calls)
    # Connection set-up is nobody's request: it carries no per-call header.
    assert all("x-request-id" not in e["headers"] for e in events if e["method"] != "tools/call")


async def test_lost_session_is_reinitialized_and_a_read_only_call_retried(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path
) -> None:
    upstream = fake_http_upstream(log=fake_log, drop_session_after=2)
    config = http_config(upstream.url, mode="legacy", allow_tools=["echo", "write_note"])
    async with UpstreamManager([config]) as manager:
        assert (await manager.call_tool("up", "echo", {"text": "1"})).structured_content == {
            "result": "1"
        }
        assert (await manager.call_tool("up", "echo", {"text": "2"})).structured_content == {
            "result": "2"
        }
        status = manager.status()["up"]
        assert status.state == "up"
        assert status.circuit == "closed"
    assert len(read_events(fake_log, "session_dropped")) == 1
    inits = [e for e in read_events(fake_log, "http") if e["method"] == "initialize"]
    assert len(inits) == 2  # the original session and the re-initialized one
    assert [e["args"]["text"] for e in read_events(fake_log, "call")] == ["1", "2"]


async def test_lost_session_does_not_retry_a_write(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path
) -> None:
    upstream = fake_http_upstream(log=fake_log, drop_session_after=1)
    config = http_config(upstream.url, mode="legacy", allow_tools=["echo", "write_note"])
    async with UpstreamManager([config]) as manager:
        with pytest.raises(UpstreamUnavailableError, match="not read-only, not retried"):
            await manager.call_tool("up", "write_note", {"text": "once"})
        assert read_events(fake_log, "note") == []
        # The session was re-initialized: the next call works.
        assert (await manager.call_tool("up", "write_note", {"text": "x"})).is_error is False
    assert len(read_events(fake_log, "note")) == 1


async def test_required_upstream_down_stops_startup() -> None:
    config = http_config(f"http://127.0.0.1:{free_port()}/mcp", required=True)
    with pytest.raises(
        UpstreamUnavailableError, match=r"required upstream\(s\) down at start-up: up"
    ):
        async with UpstreamManager([config]):
            pytest.fail("must not start")


async def test_optional_upstream_may_start_down_and_come_back(observer: Any) -> None:
    port = free_port()
    breaker = {"fail_max": 2, "reset_timeout_s": 0.2}
    config = http_config(f"http://127.0.0.1:{port}/mcp", breaker=breaker)
    async with UpstreamManager([config], observer=observer) as manager:
        # The failed first connect and the failed reconnects count: the circuit opens
        # with no call made, and the upstream reads "down".
        await eventually(lambda: manager.status()["up"].state == "down", "circuit opened")
        status = manager.status()["up"]
        assert status.circuit == "open"
        assert "connect failed" in (status.last_error or "")
        assert manager.not_ready() == {}  # optional: readiness is not affected
        with pytest.raises(UpstreamUnavailableError, match="connect failed"):
            await manager.call_tool("up", "echo", {"text": "x"})
        with FakeHttpServer(port=port):
            # The breaker's probe (half-open, after reset_timeout_s) reconnects by itself.
            await eventually(lambda: manager.status()["up"].state == "up", "probe reconnected")
            assert manager.status()["up"].circuit == "closed"
            result = await manager.call_tool("up", "echo", {"text": "back"})
        assert result.structured_content == {"result": "back"}
    assert observer.circuit[:2] == [("up", 0), ("up", 2)]
    assert observer.circuit[-2:] == [("up", 1), ("up", 0)]


async def test_breaker_opens_fails_fast_and_closes_after_a_probe(
    fake_http_upstream: Callable[..., FakeHttpServer],
    fake_log: Path,
    tmp_path: Path,
    clock: Any,
    observer: Any,
) -> None:
    error_file = tmp_path / "answer-503"
    upstream = fake_http_upstream(log=fake_log, error_file=error_file)
    config = http_config(upstream.url, breaker={"fail_max": 2, "reset_timeout_s": 30})
    async with UpstreamManager([config], observer=observer, clock=clock) as manager:
        error_file.touch()
        for _ in range(2):
            with pytest.raises(UpstreamUnavailableError, match="HTTP 503"):
                await manager.call_tool("up", "echo", {"text": "x"})
        sent = len(read_events(fake_log, "http"))
        with pytest.raises(CircuitOpenError):
            await manager.call_tool("up", "echo", {"text": "x"})
        assert len(read_events(fake_log, "http")) == sent  # failed fast: no request
        assert manager.status()["up"].circuit == "open"
        assert manager.not_ready() == {}  # optional upstream
        error_file.unlink()
        clock.advance(31)
        assert (await manager.call_tool("up", "echo", {"text": "ok"})).is_error is False
        assert manager.status()["up"].circuit == "closed"
    assert observer.circuit == [("up", 0), ("up", 2), ("up", 1), ("up", 0)]  # 0: announced
    outcomes = [o for (_, _, o) in observer.requests]
    assert outcomes == ["unavailable", "unavailable", "circuit_open", "ok"]


async def test_required_upstream_with_open_circuit_is_not_ready(
    fake_http_upstream: Callable[..., FakeHttpServer], tmp_path: Path, clock: Any
) -> None:
    error_file = tmp_path / "answer-503"
    upstream = fake_http_upstream(error_file=error_file)
    config = http_config(upstream.url, required=True, breaker={"fail_max": 1})
    async with UpstreamManager([config], clock=clock) as manager:
        assert manager.not_ready() == {}
        error_file.touch()
        with pytest.raises(UpstreamUnavailableError):
            await manager.call_tool("up", "echo", {"text": "x"})
        assert "up" in manager.not_ready()
