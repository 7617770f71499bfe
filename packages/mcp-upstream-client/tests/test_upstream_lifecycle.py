"""Shutdown: in-flight calls finish within the grace period, later ones are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_upstream_client import (
    UnknownUpstreamError,
    UpstreamConfig,
    UpstreamManager,
    UpstreamUnavailableError,
)

StdioFactory = Callable[..., tuple[list[str], dict[str, str]]]


def alive(pid: int) -> bool:
    """True while the process exists, zombies included."""
    return Path(f"/proc/{pid}").exists()


def config(factory: StdioFactory, name: str = "fake") -> UpstreamConfig:
    command, env = factory()
    return UpstreamConfig(
        name=name,
        transport="stdio",
        command=command,
        env=env,
        allow_tools=["slow", "hang", "pid"],
        health_interval_s=0,
        connect_timeout_s=120,
    )


async def test_in_flight_call_finishes_during_shutdown(fake_stdio_upstream: StdioFactory) -> None:
    manager = UpstreamManager([config(fake_stdio_upstream)], shutdown_grace_s=30)
    await manager.__aenter__()
    pid = (await manager.call_tool("fake", "pid")).structured_content
    assert pid is not None
    call = asyncio.create_task(manager.call_tool("fake", "slow", {"seconds": 0.5}))
    await asyncio.sleep(0.05)  # let the call get under way
    closing = asyncio.create_task(manager.aclose())
    await asyncio.sleep(0)
    with pytest.raises(UpstreamUnavailableError, match="not running"):
        await manager.call_tool("fake", "pid")
    result = await call
    await closing
    assert result.structured_content == {"result": "done"}
    assert not alive(pid["result"])


async def test_call_outliving_the_grace_period_is_cut_off(
    fake_stdio_upstream: StdioFactory,
) -> None:
    manager = UpstreamManager([config(fake_stdio_upstream)], shutdown_grace_s=0.2)
    await manager.__aenter__()
    pid = (await manager.call_tool("fake", "pid")).structured_content
    assert pid is not None
    call = asyncio.create_task(manager.call_tool("fake", "hang"))
    await asyncio.sleep(0.05)
    await manager.aclose()
    with pytest.raises(UpstreamUnavailableError):
        await call
    assert not alive(pid["result"])


async def test_no_background_tasks_leak(fake_stdio_upstream: StdioFactory) -> None:
    before = asyncio.all_tasks()
    cfg = config(fake_stdio_upstream).model_copy(update={"health_interval_s": 3600.0})
    async with UpstreamManager([cfg]) as manager:
        await manager.call_tool("fake", "pid")
    await asyncio.sleep(0)
    leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leaked == set(), [t.get_name() for t in leaked]


async def test_bad_input_is_a_typed_error(fake_stdio_upstream: StdioFactory) -> None:
    async with UpstreamManager([config(fake_stdio_upstream)]) as manager:
        with pytest.raises(UnknownUpstreamError, match="no upstream named 'nope'"):
            await manager.call_tool("nope", "pid")
        with pytest.raises(ValueError, match="timeout must be > 0"):
            await manager.call_tool("fake", "pid", timeout=0)
        with pytest.raises(UnknownUpstreamError):
            manager.config("nope")


async def test_entering_twice_is_refused() -> None:
    manager = UpstreamManager([])
    async with manager:
        with pytest.raises(RuntimeError, match="only once"):
            await manager.__aenter__()
