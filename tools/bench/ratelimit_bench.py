"""The rate limiter against a bare Redis ``PING``: latency, CPU and round trips per call.

Starts throw-away Redis servers with the testkit (a standalone server and a 3-master
cluster), builds the limiter exactly as production does (``build_limiter`` from settings,
redis-py underneath), and for each topology, at 1 and 64 concurrent callers, measures in
one interleaved run:

- ``PING`` through the limiter's own client (the floor: one round trip, nothing else);
- ``limiter.hit`` (one ``EVALSHA`` of the GCRA script, plus our Python);
- the in-process limiter (no Redis), for scale;

and prints p50/p99 wall time per call, CPU time per call (this process), their ratios,
and the Redis commands per call counted with ``INFO commandstats`` on every node (it must
be exactly 1). Asserts nothing about speed.

    uv run python tools/bench/ratelimit_bench.py [calls-per-variant]
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.limits import build_limiter
from mcp_fastapi_server.limits._redis import GCRA_SHA
from mcp_testkit.redis import start_redis, start_redis_cluster

Call = Callable[[int], Awaitable[object]]
SPECS = [ToolSpec(name="search", description="s", fn=lambda: None, rate_limit="1000000/hour")]


async def _measure(call: Call, n: int, concurrency: int) -> tuple[list[float], float]:
    """Per-call wall times (µs) and CPU µs per call, ``concurrency`` calls at a time."""
    samples: list[float] = []

    async def timed(i: int) -> None:
        start = time.perf_counter_ns()
        await call(i)
        samples.append((time.perf_counter_ns() - start) / 1000)

    cpu = time.process_time()
    for base in range(0, n, concurrency):
        if concurrency == 1:
            await timed(base)
        else:
            await asyncio.gather(*(timed(base + k) for k in range(concurrency)))
    return samples, (time.process_time() - cpu) / n * 1e6


# Commands a script runs inside Redis are counted in commandstats too; they are not
# round trips. Our client never sends these itself.
_INSIDE_THE_SCRIPT = {"cmdstat_time", "cmdstat_get", "cmdstat_set", "cmdstat_info"}


def _commands(nodes: list[redis.Redis]) -> int:
    """Commands clients sent (round trips), summed over every node."""
    total = 0
    for node in nodes:
        stats = node.info("commandstats")
        total += sum(int(v["calls"]) for k, v in stats.items() if k not in _INSIDE_THE_SCRIPT)
    return total


async def _topology(label: str, url: str, mode: str, nodes: list[redis.Redis], n: int) -> None:
    settings = load_settings(redis_url=url, redis_mode=mode, redis_timeout_ms=1000)
    limiter = build_limiter(settings, SPECS)
    memory = build_limiter(load_settings(), SPECS)
    assert limiter is not None
    assert memory is not None
    client: Any = limiter.backend.client  # type: ignore[attr-defined]
    subjects = [f"sub:{i:04x}-bench@example.com" for i in range(500)]
    try:
        await limiter.open()
        for i in range(500):  # warm: connections to every master, the script loaded
            await limiter.hit(subjects[i % 500], "tools/call", "search")
        before = _commands(nodes)
        for i in range(1000):
            await limiter.hit(subjects[i % 500], "tools/call", "search")
        per_call = (_commands(nodes) - before) / 1000
        print(f"\n{label}: {per_call:.3f} Redis round trips per limiter call (INFO commandstats)")
        args = limiter.rule_for("tools/call", "search").script_args
        keys = [f"bench:{{{s}|tool:search}}" for s in subjects]
        variants: dict[str, Call] = {
            "PING (the limiter's client)": lambda i: client.ping(),
            "EVALSHA alone (redis-py)": lambda i: client.evalsha(GCRA_SHA, 1, keys[i % 500], *args),
            "limiter (Redis)": lambda i: limiter.hit(subjects[i % 500], "tools/call", "search"),
            "limiter (in process)": lambda i: memory.hit(subjects[i % 500], "tools/call", "search"),
        }
        for concurrency in (1, 64):
            results: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in variants}
            for _round in range(3):  # interleaved rounds: load hits every variant alike
                for name, call in variants.items():
                    samples, cpu = await _measure(call, n // 3, concurrency)
                    old_samples, old_cpu = results[name]
                    results[name] = (old_samples + samples, old_cpu + cpu / 3)
            print(f"  concurrency {concurrency}:")
            ping_p50 = statistics.median(results["PING (the limiter's client)"][0])
            ping_cpu = results["PING (the limiter's client)"][1]
            for name, (samples, cpu) in results.items():
                samples.sort()
                p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
                print(
                    f"    {name:<30} p50 {p50:8.1f} µs ({p50 / ping_p50:4.2f}× PING)  "
                    f"p99 {p99:8.1f} µs   CPU {cpu:6.1f} µs/call ({cpu / ping_cpu:4.2f}× PING)"
                )
    finally:
        await limiter.aclose()


async def main(n: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = "hiredis" if importlib.util.find_spec("hiredis") else "pure-Python (no hiredis)"
    print(f"redis-py {redis.__version__}, {parser} parser, {n} calls per variant and concurrency")
    server = start_redis()
    cluster = start_redis_cluster()
    try:
        await _topology(
            f"standalone ({server.provider} {server.version})",
            server.url,
            "standalone",
            [redis.Redis.from_url(server.url)],
            n,
        )
        await _topology(
            "cluster (3 masters)",
            cluster.url,
            "cluster",
            [node.client() for node in cluster.nodes],
            n,
        )
    finally:
        cluster.close()
        server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6000))
