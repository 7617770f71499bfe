"""Real fake upstreams as stdio subprocesses: crash, respawn, hang, drift, reaping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcp_testkit.fakes import DRIFTED_DESCRIPTION, read_events
from mcp_upstream_client import (
    ToolWithdrawnError,
    UpstreamConfig,
    UpstreamManager,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    compute_pins,
)

# Generous: spawning Python + FastMCP on a loaded CI box can take many seconds.
CONNECT_S = 120.0

StdioFactory = Callable[..., tuple[list[str], dict[str, str]]]


def stdio_config(factory: StdioFactory, *, allow: list[str], **options: Any) -> UpstreamConfig:
    extra = {
        k: options.pop(k) for k in ("pins", "breaker", "reconnect", "timeout_s") if k in options
    }
    command, env = factory(**options)
    return UpstreamConfig(
        name="fake",
        transport="stdio",
        command=command,
        env=env,
        allow_tools=allow,
        health_interval_s=0,
        connect_timeout_s=CONNECT_S,
        **extra,
    )


def alive(pid: int) -> bool:
    """True while the process exists, zombies included (a zombie is a leak too)."""
    return Path(f"/proc/{pid}").exists()


async def eventually(cond: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():  # noqa: ASYNC110 (polls state owned by the code under test)
            await asyncio.sleep(0.02)
    assert cond(), what


def pid_of(result: Any) -> int:
    return int(result.structured_content["result"])


async def test_crashed_child_is_respawned_and_reaped(
    fake_stdio_upstream: StdioFactory, fake_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_upstream_client")
    config = stdio_config(fake_stdio_upstream, allow=["pid"], crash_after=2, log=fake_log)
    async with UpstreamManager([config]) as manager:
        first = pid_of(await manager.call_tool("fake", "pid"))
        with pytest.raises(UpstreamUnavailableError, match="connection closed"):
            await manager.call_tool("fake", "pid")
        await eventually(lambda: manager.status()["fake"].reconnects == 1, "respawned")
        second = pid_of(await manager.call_tool("fake", "pid"))
        assert second != first
        await eventually(lambda: not alive(first), "crashed child reaped")
        assert manager.status()["fake"].state == "up"
    assert not alive(second), "child still running (or a zombie) after shutdown"
    # The child's stderr went through logging, tagged with the upstream.
    assert any(
        r.name == "mcp_upstream_client.stdio" and "crashing on call 2" in r.getMessage()
        for r in caplog.records
    )


async def test_failed_respawns_open_the_circuit_and_its_probe_recovers(
    fake_stdio_upstream: StdioFactory, tmp_path: Path, observer: Any
) -> None:
    gate = tmp_path / "may-start"
    gate.touch()
    command, env = fake_stdio_upstream(crash_after=1)
    # The child starts only while the gate file exists: respawns fail once it is gone.
    script = 'test -e "$GATE" || exit 1; exec "$@"'
    config = UpstreamConfig(
        name="fake",
        transport="stdio",
        command=["sh", "-c", script, "sh", *command],
        env={**env, "GATE": str(gate)},
        allow_tools=["pid"],
        health_interval_s=0,
        connect_timeout_s=CONNECT_S,
        breaker={"fail_max": 3, "reset_timeout_s": 0.2},
    )
    async with UpstreamManager([config], observer=observer) as manager:
        gate.unlink()
        with pytest.raises(UpstreamUnavailableError, match="connection closed"):
            await manager.call_tool("fake", "pid")  # crash_after=1: the child exits
        # The crash counted once, each failed respawn once more: open after fail_max.
        await eventually(lambda: manager.status()["fake"].state == "down", "circuit opened")
        status = manager.status()["fake"]
        assert status.circuit == "open"
        assert status.reconnects == 0
        assert "connect failed" in (status.last_error or "")
        with pytest.raises(UpstreamUnavailableError, match="connect failed"):
            await manager.call_tool("fake", "pid")  # fails fast, naming the cause
        gate.touch()
        # Half-open after reset_timeout_s: the supervisor's probe spawns a child that
        # answers, which closes the circuit without any call.
        await eventually(lambda: manager.status()["fake"].state == "up", "probe respawned")
        status = manager.status()["fake"]
        assert status.circuit == "closed"
        assert status.reconnects == 1
        assert status.failures == 0
    assert observer.circuit[:2] == [("fake", 0), ("fake", 2)]
    assert observer.circuit[-2:] == [("fake", 1), ("fake", 0)]
    assert observer.connections == [
        ("fake", False),  # announced
        ("fake", True),
        ("fake", False),  # the crash
        ("fake", True),  # the probe
        ("fake", False),  # shut down
    ]


async def test_hanging_tool_times_out_and_the_session_survives(
    fake_stdio_upstream: StdioFactory, observer: Any
) -> None:
    config = stdio_config(fake_stdio_upstream, allow=["hang", "echo"])
    async with UpstreamManager([config], observer=observer) as manager:
        with pytest.raises(UpstreamTimeoutError, match=r"no answer within 0\.5s") as info:
            await manager.call_tool("fake", "hang", timeout=0.5)
        assert info.value.timeout_s == 0.5
        result = await manager.call_tool("fake", "echo", {"text": "still here"})
        assert result.structured_content == {"result": "still here"}
    assert [o for (_, _, o) in observer.requests] == ["timeout", "ok"]


async def test_tool_errors_do_not_open_the_circuit(fake_stdio_upstream: StdioFactory) -> None:
    config = stdio_config(fake_stdio_upstream, allow=["fail"], breaker={"fail_max": 1})
    async with UpstreamManager([config]) as manager:
        for _ in range(3):
            result = await manager.call_tool("fake", "fail", {"reason": "no such row"})
            assert result.is_error is True
        assert manager.status()["fake"].circuit == "closed"


async def test_drifted_definition_is_withdrawn_until_it_matches_again(
    fake_stdio_upstream: StdioFactory, fake_log: Path, tmp_path: Path, observer: Any
) -> None:
    drift = tmp_path / "drift"
    unpinned = stdio_config(
        fake_stdio_upstream, allow=["echo", "pid"], drift_file=drift, log=fake_log
    )
    pins = (await compute_pins([unpinned]))["fake"]
    assert set(pins) == {"echo", "pid"}
    config = unpinned.model_copy(update={"pins": pins})
    async with UpstreamManager([config], observer=observer) as manager:
        assert (await manager.call_tool("fake", "echo", {"text": "a"})).is_error is False
        drift.touch()
        status = await manager.refresh("fake")
        assert "echo" in status.withdrawn
        assert status.tools == ("pid",)
        assert [t.name for t in await manager.list_tools("fake")] == ["pid"]
        calls_before = len(read_events(fake_log, "call"))
        with pytest.raises(ToolWithdrawnError, match="withdrawn until re-approved"):
            await manager.call_tool("fake", "echo", {"text": "b"})
        assert len(read_events(fake_log, "call")) == calls_before  # failed closed, no I/O
        drifted_pins = await compute_pins(manager)
        assert drifted_pins["fake"]["echo"] != pins["echo"]
        assert manager.current_pins()["fake"]["pid"] == pins["pid"]
        drift.unlink()
        assert (await manager.refresh("fake")).withdrawn == {}
        assert (await manager.call_tool("fake", "echo", {"text": "c"})).is_error is False
    assert observer.pin_mismatches == [("fake", "echo")]
    assert ("fake", "echo", "withdrawn") in observer.requests
    assert DRIFTED_DESCRIPTION.startswith("Echo the text.")


async def test_children_are_gone_after_shutdown(fake_stdio_upstream: StdioFactory) -> None:
    configs = [
        stdio_config(fake_stdio_upstream, allow=["pid"]).model_copy(update={"name": f"s{i}"})
        for i in range(3)
    ]
    async with UpstreamManager(configs) as manager:
        pids = [pid_of(await manager.call_tool(f"s{i}", "pid")) for i in range(3)]
        assert all(alive(p) for p in pids)
    assert not any(alive(p) for p in pids)
