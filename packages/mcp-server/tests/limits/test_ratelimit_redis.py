"""What only a real Redis can prove: round trips, NOSCRIPT, key layout, several processes,
and a Redis that dies or freezes mid-run."""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.limits import (
    LimiterUnavailableError,
    RateLimitPolicy,
    build_limiter,
)
from mcp_fastapi_server.limits._redis import RedisBackend
from mcp_testkit.redis import RedisServer

SPECS = [ToolSpec(name="search", description="s", fn=lambda: None, rate_limit="1000/hour")]


def _policy(
    url: str, on_error: Callable[[BaseException], None] | None = None, **overrides: Any
) -> RateLimitPolicy:
    settings = load_settings(redis_url=url, redis_timeout_ms=500, **overrides)
    policy = build_limiter(settings, SPECS, on_error=on_error)
    assert policy is not None
    assert isinstance(policy.backend, RedisBackend)
    return policy


@pytest.fixture
async def policy(redis_url: str) -> AsyncIterator[RateLimitPolicy]:
    limiter = _policy(redis_url, redis_key_prefix="t:", rate_limit_failure_mode="closed")
    yield limiter
    await limiter.aclose()


async def _commandstats(client: redis.asyncio.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {name: after[name] - before.get(name, 0) for name in after}
    return {name: n for name, n in out.items() if n and name != "info"}


async def test_exactly_one_round_trip_per_call(
    policy: RateLimitPolicy, redis_client: redis.asyncio.Redis
) -> None:
    await policy.hit("sub:warm", "tools/call", "search")  # connect, load the script
    before = await _commandstats(redis_client)
    for i in range(25):
        await policy.hit(f"sub:{i % 5}", "tools/call", "search")
    delta = _delta(before, await _commandstats(redis_client))
    # The client sent 25 EVALSHA and nothing else; GET/SET/TIME ran inside the script
    # (Redis counts script-internal commands too), once each per call.
    assert delta.pop("evalsha") == 25
    assert delta == {"time": 25, "get": 25, "set": 25}


async def test_reloads_after_script_flush(
    policy: RateLimitPolicy, redis_client: redis.asyncio.Redis
) -> None:
    assert (await policy.hit("sub:a", "tools/call", "search")).remaining == 999
    await redis_client.script_flush()
    before = await _commandstats(redis_client)
    decision = await policy.hit("sub:a", "tools/call", "search")
    assert decision.allowed
    assert decision.remaining == 998  # the bucket survived, only the script was gone
    delta = _delta(before, await _commandstats(redis_client))
    assert delta.get("evalsha") == 2  # NOSCRIPT, then the retry
    assert delta.get("script|load", delta.get("script")) == 1
    before = await _commandstats(redis_client)
    await policy.hit("sub:a", "tools/call", "search")
    assert _delta(before, await _commandstats(redis_client)).get("evalsha") == 1


async def test_key_layout_and_expiry(
    policy: RateLimitPolicy, redis_client: redis.asyncio.Redis
) -> None:
    await policy.hit("sub:alice", "tools/call", "search")
    await policy.hit("addr:10.0.0.7", "tools/list")
    keys = sorted(
        k.decode() if isinstance(k, bytes) else k for k in await redis_client.keys("t:rl:*")
    )
    assert keys == ["t:rl:{addr:10.0.0.7|method:tools/list}", "t:rl:{sub:alice|tool:search}"]
    # The key lives exactly until its bucket would be full again: T = 3.6 s here.
    ttl = await redis_client.pttl("t:rl:{sub:alice|tool:search}")
    assert 0 < ttl <= 3600
    # tools/list runs at the default 60/minute: T = 1 s, so the key is gone after it.
    await asyncio.sleep(1.2)
    assert await redis_client.exists("t:rl:{addr:10.0.0.7|method:tools/list}") == 0


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from mcp_fastapi_server.limits import build_limiter
    from mcp_fastapi_server import ToolSpec
    from mcp_fastapi_server._settings import load_settings

    async def main() -> None:
        settings = load_settings(redis_url=sys.argv[1], redis_timeout_ms=2000,
                                 rate_limit_failure_mode="closed")
        spec = ToolSpec(name="search", description="s", fn=print, rate_limit="50/hour")
        policy = build_limiter(settings, [spec])
        hits = [policy.hit("sub:shared", "tools/call", "search") for _ in range(100)]
        print(sum(d.allowed for d in await asyncio.gather(*hits)))
        await policy.aclose()

    asyncio.run(main())
    """
)


async def test_two_processes_share_one_limit(redis_url: str) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            redis_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    # Each process alone would admit 50; together they admit 50, not 100.
    assert sum(int(out) for out, _ in outputs) == 50


async def test_existing_client_is_reused_and_not_closed(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    settings = load_settings(redis_key_prefix="mine:")
    policy = build_limiter(settings, SPECS, redis=client)
    assert policy is not None
    assert (await policy.hit("sub:a", "tools/call", "search")).allowed
    assert await client.exists("mine:rl:{sub:a|tool:search}") == 1
    health = await policy.check()
    assert health.status == "ok"
    assert "script ran" in health.detail  # readiness runs the limiter's own script
    await policy.aclose()
    assert await client.ping()  # still ours to use
    await client.aclose()


# --- Redis dies or freezes mid-run -------------------------------------------------------


@pytest.fixture
def private_redis(redis_factory: Callable[[], RedisServer]) -> RedisServer:
    """A server of our own, so killing it disturbs no other test."""
    server = redis_factory()
    if not server.running:
        server.start()
    return server


async def test_fail_open_admits_counts_and_logs_once(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []
    policy = _policy(private_redis.url, rate_limit_failure_mode="open", on_error=errors.append)
    try:
        assert not (await policy.hit("sub:a", "tools/call", "search")).degraded
        private_redis.stop(kill=True)
        with caplog.at_level(logging.WARNING, logger="mcp_fastapi_server.ratelimit"):
            decisions = [await policy.hit("sub:a", "tools/call", "search") for _ in range(20)]
        assert all(d.allowed and d.degraded for d in decisions)
        assert errors == ["connection"] * 20  # the metric hook gets the reason label
        warnings = [r for r in caplog.records if "rate-limit store failed" in r.message]
        assert len(warnings) == 1  # a dead Redis does not flood the log
        assert "admitting calls" in warnings[0].getMessage()
        assert (await policy.check()).status == "down"
        private_redis.start()
        recovered = await policy.hit("sub:a", "tools/call", "search")
        assert recovered.allowed
        assert not recovered.degraded  # the pool reconnected by itself
        assert (await policy.check()).status == "ok"
    finally:
        await policy.aclose()


async def test_fail_closed_refuses_then_recovers(private_redis: RedisServer) -> None:
    policy = _policy(private_redis.url, rate_limit_failure_mode="closed")
    try:
        assert (await policy.hit("sub:a", "tools/call", "search")).allowed
        private_redis.stop()
        for _ in range(3):
            with pytest.raises(LimiterUnavailableError):
                await policy.hit("sub:a", "tools/call", "search")
        private_redis.start()
        assert (await policy.hit("sub:a", "tools/call", "search")).allowed
    finally:
        await policy.aclose()


async def test_frozen_redis_times_out_instead_of_hanging(private_redis: RedisServer) -> None:
    settings = load_settings(redis_url=private_redis.url, redis_timeout_ms=50)
    policy = build_limiter(settings, SPECS)
    assert policy is not None
    try:
        assert not (await policy.hit("sub:a", "tools/call", "search")).degraded
        private_redis.pause()
        try:
            # The guard only turns a hang into a failure; the limiter's own 50 ms apply.
            decision = await asyncio.wait_for(policy.hit("sub:a", "tools/call", "search"), 10)
            health = await asyncio.wait_for(policy.check(), 10)
        finally:
            private_redis.resume()
        assert decision.allowed
        assert decision.degraded
        assert health.status == "down"
        assert not (await policy.hit("sub:a", "tools/call", "search")).degraded
    finally:
        await policy.aclose()
