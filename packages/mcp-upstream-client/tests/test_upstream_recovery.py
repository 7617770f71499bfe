"""One story for a dead upstream: connection failures count toward the breaker, which
opens, half-opens after ``reset_timeout_s`` and closes when the upstream is back; the
status, the observer (metrics) and the logs all tell it. Real fakes over HTTP and stdio.

No timed assertions: small reset timeouts, and polling for state under generous deadlines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_testkit.fakes import FakeHttpServer, OAuthFake, free_port, read_events
from mcp_upstream_client import (
    REQUEST_ID_META_KEY,
    AuthorizationCodeResult,
    CircuitOpenError,
    UpstreamAuthError,
    UpstreamConfig,
    UpstreamManager,
    UpstreamUnavailableError,
    set_testing,
)

StdioFactory = Callable[..., tuple[list[str], dict[str, str]]]
CONNECT_S = 120.0  # generous: spawning Python + FastMCP on a loaded CI box is slow
TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


async def eventually(cond: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():  # noqa: ASYNC110 (polls state owned by the code under test)
            await asyncio.sleep(0.02)
    assert cond(), what


def http_config(url: str, **kw: Any) -> UpstreamConfig:
    kw.setdefault("allow_tools", ["echo", "meta"])
    kw.setdefault("health_interval_s", 0)
    kw.setdefault("timeout_s", 20)
    kw.setdefault("connect_timeout_s", CONNECT_S)
    return UpstreamConfig(name="up", transport="http", url=url, **kw)


def stdio_config(factory: StdioFactory, **options: Any) -> UpstreamConfig:
    breaker = options.pop("breaker", None)
    command, env = factory(**options)
    return UpstreamConfig(
        name="fake",
        transport="stdio",
        command=command,
        env=env,
        allow_tools=["pid", "echo", "meta"],
        health_interval_s=0,
        connect_timeout_s=CONNECT_S,
        **({"breaker": breaker} if breaker else {}),
    )


@pytest.fixture
def real_backoff() -> Iterator[None]:
    """Reconnect backoff as configured (test mode would make it instant)."""
    set_testing(False)
    yield
    set_testing(True)


async def test_killed_http_upstream_opens_after_fail_max_calls_and_recovers(
    real_backoff: None, observer: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_upstream_client")
    port = free_port()
    config = http_config(
        f"http://127.0.0.1:{port}/mcp",
        breaker={"fail_max": 3, "reset_timeout_s": 0.2},
        # Background reconnects wait long here, so the calls alone drive the count.
        reconnect={"initial_backoff_s": 3600, "max_backoff_s": 3600},
    )

    def probed(state: str) -> Callable[[], bool]:
        # The breaker's clock is ours: each poll lets reset_timeout_s pass on it, and the
        # supervisor (which looks again every reset_timeout_s) sends its probe.
        def cond() -> bool:
            clock.advance(1)
            return manager.status()["up"].state == state

        return cond

    server = FakeHttpServer(port=port).start()
    try:
        async with UpstreamManager([config], observer=observer, clock=clock) as manager:
            assert (await manager.call_tool("up", "echo", {"text": "a"})).is_error is False
            server.stop()  # killed
            for n in range(1, 4):
                assert manager.status()["up"].circuit == "closed"
                with pytest.raises(UpstreamUnavailableError) as failed:
                    await manager.call_tool("up", "echo", {"text": "b"})
                assert not isinstance(failed.value, CircuitOpenError)
                assert manager.status()["up"].failures == n
            # fail_max (3) failed calls: the circuit opened on the third; calls fail fast.
            assert observer.circuit == [("up", 0), ("up", 2)]
            with pytest.raises(CircuitOpenError, match="connect failed"):
                await manager.call_tool("up", "echo", {"text": "c"})
            assert manager.status()["up"].state == "down"
            # Half-open after reset_timeout_s: the supervisor's probe finds it still dead.
            clock.advance(1)
            await eventually(lambda: ("up", 1) in observer.circuit, "half-open")
            await eventually(lambda: observer.circuit[-1] == ("up", 2), "probe failed")
            assert observer.circuit == [("up", 0), ("up", 2), ("up", 1), ("up", 2)]
            server = FakeHttpServer(port=port).start()  # back on the same port
            await eventually(probed("up"), "probe reconnected")
            assert manager.status()["up"].circuit == "closed"
            assert (await manager.call_tool("up", "echo", {"text": "d"})).is_error is False
    finally:
        server.stop()
    assert observer.circuit[0] == ("up", 0)  # announced before any call
    assert observer.circuit[-2:] == [("up", 1), ("up", 0)]
    assert observer.connections[:3] == [("up", False), ("up", True), ("up", False)]
    assert observer.connections[-2:] == [("up", True), ("up", False)]
    outcomes = [o for (_, _, o) in observer.requests]
    assert outcomes == ["ok", "unavailable", "unavailable", "unavailable", "circuit_open", "ok"]
    # The logs tell the same story, with the count toward the breaker.
    messages = [r.getMessage() for r in caplog.records]
    assert any("circuit closed -> open" in m for m in messages)
    assert any("circuit half-open -> closed" in m for m in messages)
    assert any("(circuit closed, 2/3 failures)" in m for m in messages)


async def test_failed_reconnects_alone_open_the_circuit_of_a_required_upstream(
    fake_http_upstream: Callable[..., FakeHttpServer], observer: Any
) -> None:
    server = fake_http_upstream()
    config = http_config(
        server.url, required=True, breaker={"fail_max": 4, "reset_timeout_s": 3600}
    )
    async with UpstreamManager([config], observer=observer) as manager:
        assert manager.not_ready() == {}
        server.stop()
        with pytest.raises(UpstreamUnavailableError, match="connection closed"):
            await manager.call_tool("up", "echo", {"text": "x"})
        # One failed call, then the background reconnects: no further call needed.
        await eventually(lambda: manager.status()["up"].circuit == "open", "circuit opened")
        status = manager.status()["up"]
        assert status.state == "down"
        assert status.failures == 4
        assert status.retry_in_s is not None
        assert status.retry_in_s > 0
        reason = manager.not_ready()["up"]
        assert reason.startswith("down, circuit open (probe in ")
        assert "last error: connect failed" in reason
    assert observer.circuit == [("up", 0), ("up", 2)]


async def test_a_crashing_stdio_child_opens_the_circuit_and_a_probe_recovers(
    fake_stdio_upstream: StdioFactory, observer: Any
) -> None:
    config = stdio_config(
        fake_stdio_upstream, crash_after=1, breaker={"fail_max": 2, "reset_timeout_s": 0.2}
    )
    async with UpstreamManager([config], observer=observer) as manager:
        # Each child dies on its first call; respawns work, and do not reset the count.
        with pytest.raises(UpstreamUnavailableError, match="connection closed"):
            await manager.call_tool("fake", "pid")
        await eventually(lambda: manager.status()["fake"].state == "up", "respawned")
        assert manager.status()["fake"].failures == 1
        with pytest.raises(UpstreamUnavailableError, match="connection closed"):
            await manager.call_tool("fake", "pid")
        assert ("fake", 2) in observer.circuit
        # After reset_timeout_s the probe spawns a child that answers: closed again.
        await eventually(
            lambda: (
                manager.status()["fake"].circuit == "closed"
                and manager.status()["fake"].state == "up"
            ),
            "probe closed the circuit",
        )
    assert observer.circuit == [("fake", 0), ("fake", 2), ("fake", 1), ("fake", 0)]


async def test_every_upstream_is_announced_before_it_connects(
    fake_stdio_upstream: StdioFactory, observer: Any
) -> None:
    configs = [
        stdio_config(fake_stdio_upstream),
        http_config(f"http://127.0.0.1:{free_port()}/mcp"),
    ]
    manager = UpstreamManager(configs, observer=observer)
    assert observer.circuit == [("fake", 0), ("up", 0)]
    assert observer.connections == [("fake", False), ("up", False)]
    async with manager:
        late = type(observer)()
        up_now = {"closed": 0, "half-open": 1, "open": 2}[manager.status()["up"].circuit]
        manager.add_observer(late)
        manager.add_observer(late)  # twice: no effect
        assert late.circuit[:2] == [("fake", 0), ("up", up_now)]
        assert late.connections[:2] == [("fake", True), ("up", False)]
        await manager.call_tool("fake", "pid")
    assert [(u, o) for (u, _, o) in late.requests] == [("fake", "ok")]
    assert late.connections[-1] == ("fake", False)


async def test_request_id_and_trace_context_reach_a_stdio_upstream_in_meta(
    fake_stdio_upstream: StdioFactory, fake_log: Path
) -> None:
    current = {"X-Request-ID": "req-1"}
    config = stdio_config(fake_stdio_upstream, log=fake_log)
    async with UpstreamManager([config], outgoing_headers=lambda: dict(current)) as manager:
        first = (await manager.call_tool("fake", "meta")).structured_content
        current.update({"X-Request-ID": "req-2", "traceparent": TRACEPARENT})
        await manager.call_tool("fake", "echo", {"text": "x"})
    assert first is not None
    assert first[REQUEST_ID_META_KEY] == "req-1"
    assert "traceparent" not in first
    metas = [e["meta"] for e in read_events(fake_log, "call")]
    assert [m.get(REQUEST_ID_META_KEY) for m in metas] == ["req-1", "req-2"]
    assert metas[1]["traceparent"] == TRACEPARENT


async def test_http_upstreams_get_the_ids_as_headers_and_in_meta(
    fake_http_upstream: Callable[..., FakeHttpServer], fake_log: Path
) -> None:
    server = fake_http_upstream(log=fake_log)
    headers = {"X-Request-ID": "req-h", "traceparent": TRACEPARENT}
    async with UpstreamManager(
        [http_config(server.url)], outgoing_headers=lambda: headers
    ) as manager:
        seen = (await manager.call_tool("up", "meta")).structured_content
    assert seen is not None
    assert seen[REQUEST_ID_META_KEY] == "req-h"
    assert seen["traceparent"] == TRACEPARENT
    posts = [e for e in read_events(fake_log, "http") if e["method"] == "tools/call"]
    assert posts[0]["headers"]["x-request-id"] == "req-h"


async def test_credential_refusals_never_count_toward_the_breaker(
    fake_oauth_upstream: Callable[..., OAuthFake], observer: Any
) -> None:
    fake = fake_oauth_upstream()

    async def operator(url: str) -> AuthorizationCodeResult:
        raise RuntimeError("operator declined")

    config = UpstreamConfig.model_validate(
        {
            "name": "secured",
            "transport": "http",
            "url": fake.url,
            "allow_tools": ["echo"],
            "health_interval_s": 0,
            "breaker": {"fail_max": 1},
            "reconnect": {"max_attempts": 3},
            "oauth": {},
        }
    )
    async with UpstreamManager(
        [config], observer=observer, authorization_handler=operator
    ) as manager:
        # Reconnects stop after max_attempts refusals in a row; the circuit never opens.
        await eventually(lambda: manager.status()["secured"].state == "down", "gave up")
        with pytest.raises(UpstreamAuthError, match="operator declined"):
            await manager.call_tool("secured", "echo", {"text": "x"})
        status = manager.status()["secured"]
        assert status.circuit == "closed"
        assert status.failures == 0
        assert "operator declined" in (status.last_error or "")
    assert observer.circuit == [("secured", 0)]
