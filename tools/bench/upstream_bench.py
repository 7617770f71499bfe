"""Upstream client benchmarks (prints numbers; asserts nothing).

1. Fail-fast latency of ``UpstreamManager.call_tool`` while the circuit is open
   (p50/p99 over ``--fail-fast-calls`` calls; no network is touched).
2. Overhead of ``manager.call_tool`` over a direct FastMCP ``Client.call_tool_mcp``
   against the same fake upstream (HTTP on 127.0.0.1, and stdio), interleaved rounds.

Run: ``uv run python tools/bench/upstream_bench.py [--calls 300] [--fail-fast-calls 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from mcp_testkit.fakes import FakeHttpServer, free_port, stdio_command
from mcp_upstream_client import (
    CircuitOpenError,
    UpstreamConfig,
    UpstreamError,
    UpstreamManager,
    set_testing,
)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, samples_s: list[float]) -> str:
    us = [s * 1e6 for s in samples_s]
    return (
        f"{label:<34} n={len(us):>6}  p50={pct(us, 0.50):9.1f}us  "
        f"p99={pct(us, 0.99):9.1f}us  mean={statistics.fmean(us):9.1f}us"
    )


async def bench_fail_fast(calls: int) -> None:
    set_testing(True)  # the one reconnect attempt below starts at once
    config = UpstreamConfig(
        name="down",
        transport="http",
        url=f"http://127.0.0.1:{free_port()}/mcp",
        allow_tools=["echo"],
        breaker={"fail_max": 1, "reset_timeout_s": 3600},
        reconnect={"max_attempts": 1},
        health_interval_s=0,
    )
    async with UpstreamManager([config]) as manager:
        while manager.status()["down"].state != "down":  # noqa: ASYNC110 (the reconnect gives up)
            await asyncio.sleep(0.01)
        while manager.status()["down"].circuit != "open":  # a real connect attempt fails
            with contextlib.suppress(UpstreamError):
                await manager.call_tool("down", "echo", {"text": "x"})
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            with contextlib.suppress(CircuitOpenError):
                await manager.call_tool("down", "echo", {"text": "x"})
            samples.append(time.perf_counter() - start)
    print(line("fail-fast, circuit open", samples))


async def interleave(
    rounds: int, calls: int, a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]]
) -> tuple[list[float], list[float]]:
    sa: list[float] = []
    sb: list[float] = []
    for _ in range(3):  # warm-up
        await a()
        await b()
    for _ in range(rounds):
        for fn, out in ((a, sa), (b, sb)):
            for _ in range(calls // rounds):
                start = time.perf_counter()
                await fn()
                out.append(time.perf_counter() - start)
    return sa, sb


async def bench_overhead(calls: int) -> None:
    args = {"text": "hello"}
    with FakeHttpServer() as server:
        config = UpstreamConfig(
            name="up", transport="http", url=server.url, allow_tools=["echo"], health_interval_s=0
        )
        async with Client(server.url) as direct, UpstreamManager([config]) as manager:
            d, m = await interleave(
                5,
                calls,
                lambda: direct.call_tool_mcp("echo", args),
                lambda: manager.call_tool("up", "echo", args),
            )
        report("HTTP", d, m)

    command, env = stdio_command()
    stdio_config = UpstreamConfig(
        name="up",
        transport="stdio",
        command=command,
        env=env,
        allow_tools=["echo"],
        health_interval_s=0,
    )
    direct_client = Client(StdioTransport(command[0], command[1:], env=env))
    async with direct_client as direct, UpstreamManager([stdio_config]) as manager:
        d, m = await interleave(
            5,
            calls,
            lambda: direct.call_tool_mcp("echo", args),
            lambda: manager.call_tool("up", "echo", args),
        )
    report("stdio", d, m)


def report(transport: str, direct: list[float], managed: list[float]) -> None:
    print(line(f"{transport}: direct fastmcp Client", direct))
    print(line(f"{transport}: manager.call_tool", managed))
    delta = (statistics.median(managed) - statistics.median(direct)) * 1e6
    print(f"{transport + ': overhead (median difference)':<34} {delta:+.1f}us")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--fail-fast-calls", type=int, default=10_000)
    ns = parser.parse_args()
    await bench_fail_fast(ns.fail_fast_calls)
    await bench_overhead(ns.calls)


if __name__ == "__main__":
    asyncio.run(main())
