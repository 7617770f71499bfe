"""Latency of one rate-limit decision vs a bare Redis ``PING`` round trip.

Starts a throw-away Redis with the testkit's provider chain (or uses
``MCP_TESTKIT_REDIS_URL``), then, one call at a time in one event loop, times: ``PING``
through the same pooled client, the limiter's Redis backend (one ``EVALSHA`` of the GCRA
script), and the in-process backend. Prints p50/p99/mean in µs. The Redis limiter should
cost about one round trip plus a few µs of Python; anything near two round trips would
mean an extra command slipped in.

    uv run python tools/bench/ratelimit_bench.py [calls]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from mcp_fastapi_server._settings import RateLimit
from mcp_fastapi_server.limits import MemoryBackend, RateLimitPolicy
from mcp_fastapi_server.limits._redis import GCRA_LUA, RedisBackend
from mcp_testkit.redis import start_redis

Call = Callable[[int], Awaitable[object]]


async def _bench(n: int, variants: dict[str, Call]) -> None:
    """Time the variants interleaved (each iteration runs all of them once), so a busy
    machine slows every variant alike instead of whichever happened to run then."""
    for i in range(min(n, 500)):  # warm up: connections, script cache
        for call in variants.values():
            await call(i)
    samples: dict[str, list[float]] = {label: [] for label in variants}
    for i in range(n):
        for label, call in variants.items():
            start = time.perf_counter_ns()
            await call(i)
            samples[label].append((time.perf_counter_ns() - start) / 1000)
    for label, values in samples.items():
        values.sort()
        p50, p99 = values[len(values) // 2], values[int(len(values) * 0.99)]
        mean = statistics.fmean(values)
        print(f"{label:<38} p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   mean {mean:7.1f} µs")


async def main(n: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    server = start_redis()
    # 1M/hour so every call is admitted and writes (the costlier branch of the script).
    rates = {"search": RateLimit(1_000_000, 3600.0)}
    backend = RedisBackend.from_url(server.url, timeout_s=0.25)
    client = backend.client
    errors: list[BaseException] = []
    redis_policy = RateLimitPolicy(
        backend, default=RateLimit(60, 60.0), tools=rates, on_error=errors.append
    )
    memory_policy = RateLimitPolicy(MemoryBackend(), default=RateLimit(60, 60.0), tools=rates)
    subjects = [f"sub:user{i}" for i in range(100)]
    sha = await client.script_load(GCRA_LUA)
    args = redis_policy.rule_for("tools/call", "search").script_args
    print(f"Redis {server.version} via {server.provider}, {n} sequential calls each")
    try:
        await _bench(
            n,
            {
                "redis PING (same pooled client)": lambda i: client.ping(),
                "raw EVALSHA of the script (redis-py)": lambda i: client.evalsha(
                    sha, 1, f"raw:{{{subjects[i % 100]}|tool:search}}", *args
                ),
                "limiter, Redis backend": lambda i: redis_policy.hit(
                    subjects[i % 100], "tools/call", "search"
                ),
                "limiter, in-process backend": lambda i: memory_policy.hit(
                    subjects[i % 100], "tools/call", "search"
                ),
            },
        )
        print(f"degraded (timed-out) Redis calls during the run: {len(errors)}")
    finally:
        await redis_policy.aclose()
        server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
