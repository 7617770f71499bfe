"""The limiter's behaviour, identical for the in-process and the Redis backend (real Redis)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable

import pytest

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import RateLimit, SettingsError, load_settings, parse_rate_limit
from mcp_fastapi_server.limits import (
    Backend,
    MemoryBackend,
    RateLimitPolicy,
    build_limiter,
    make_rule,
)
from mcp_fastapi_server.limits._redis import RedisBackend

PolicyFactory = Callable[..., RateLimitPolicy]


@pytest.fixture(params=["memory", "redis"])
async def make_policy(request: pytest.FixtureRequest) -> AsyncIterator[PolicyFactory]:
    """Build policies on one backend; ``closed`` so a store hiccup fails loudly instead of
    silently admitting (which would make a count look wrong for the wrong reason)."""
    backend: Backend
    if request.param == "memory":
        backend = MemoryBackend()
    else:
        url = request.getfixturevalue("redis_url")
        backend = RedisBackend.from_url(url, timeout_s=2.0)

    def make(default: str = "60/minute", **tools: str) -> RateLimitPolicy:
        return RateLimitPolicy(
            backend,
            default=parse_rate_limit(default),
            tools={name: parse_rate_limit(rate) for name, rate in tools.items()},
            key_prefix="test:",
            failure_mode="closed",
        )

    yield make
    await backend.aclose()


async def _admitted(policy: RateLimitPolicy, n: int, subject: str, tool: str) -> int:
    decisions = await asyncio.gather(*(policy.hit(subject, "tools/call", tool) for _ in range(n)))
    return sum(d.allowed for d in decisions)


async def test_exact_admissions_under_concurrency(make_policy: PolicyFactory) -> None:
    # /hour so no token refills while 200 calls run, whatever the machine's speed.
    policy = make_policy(search="50/hour")
    assert await _admitted(policy, 200, "sub:alice", "search") == 50


async def test_burst_then_refusal_carries_retry_and_reset(make_policy: PolicyFactory) -> None:
    policy = make_policy(search="3/hour")
    first = await policy.hit("sub:a", "tools/call", "search")
    assert (first.allowed, first.limit, first.remaining) == (True, 3, 2)
    assert 0 < first.reset_after_s <= 1200
    await policy.hit("sub:a", "tools/call", "search")
    third = await policy.hit("sub:a", "tools/call", "search")
    assert (third.allowed, third.remaining) == (True, 0)
    refused = await policy.hit("sub:a", "tools/call", "search")
    assert not refused.allowed
    assert refused.remaining == 0
    # One token comes back after T = 1200 s, minus the little time these calls took.
    assert 1100 < refused.retry_after_s <= 1200
    assert refused.retry_after_s < refused.reset_after_s <= 3600


async def test_subjects_and_tools_are_independent(make_policy: PolicyFactory) -> None:
    policy = make_policy("2/hour", search="2/hour", fetch="2/hour")
    assert await _admitted(policy, 5, "sub:alice", "search") == 2
    assert await _admitted(policy, 5, "sub:bob", "search") == 2
    assert await _admitted(policy, 5, "sub:alice", "fetch") == 2
    # Methods other than tools/call count per method, each at the default rate.
    listed = [await policy.hit("sub:alice", "tools/list") for _ in range(3)]
    assert [d.allowed for d in listed] == [True, True, False]
    discover = await policy.hit("sub:alice", "server/discover")
    assert discover.allowed


async def test_window_rolls_over(make_policy: PolicyFactory) -> None:
    policy = make_policy(search="2/second")
    assert await _admitted(policy, 3, "sub:a", "search") == 2
    refused = await policy.hit("sub:a", "tools/call", "search")
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await policy.hit("sub:a", "tools/call", "search")).allowed
    # After a whole idle period the full burst is back.
    await asyncio.sleep(1.1)
    assert await _admitted(policy, 3, "sub:a", "search") == 2


async def test_unknown_tools_share_one_bucket(make_policy: PolicyFactory) -> None:
    policy = make_policy("2/hour", search="10/hour")
    assert (await policy.hit("sub:a", "tools/call", "nope1")).allowed
    assert (await policy.hit("sub:a", "tools/call", "nope2")).allowed
    assert not (await policy.hit("sub:a", "tools/call", "nope3")).allowed
    assert not (await policy.hit("sub:a", "tools/call", None)).allowed
    assert (await policy.hit("sub:a", "tools/call", "search")).allowed


def test_rule_precomputes_key_suffix_and_headers() -> None:
    rule = make_rule("tool:search", "tool 'search'", "search", RateLimit(10, 1.0))
    assert rule.key_suffix == "|tool:search}"
    assert rule.policy_header == b'"search";q=10;w=1'
    assert rule.script_args == (100_000, 1_000_000)
    # T is rounded down so a full burst always fits: L * T <= P.
    odd = make_rule("tool:x", "tool 'x'", "x", RateLimit(7, 60.0))
    assert odd.interval_us * 7 <= odd.period_us < odd.interval_us * 8


async def test_a_wait_under_a_second_never_reads_zero() -> None:
    # 10/second: the next slot frees in 0.1 s; the message and Retry-After say 1 s.
    policy = RateLimitPolicy(
        MemoryBackend(), default=RateLimit(60, 60.0), tools={"search": RateLimit(10, 1.0)}
    )
    decisions = [await policy.hit("sub:a", "tools/call", "search") for _ in range(11)]
    refused = decisions[-1]
    assert not refused.allowed
    assert 0 < refused.retry_after_s < 1
    assert refused.message().endswith("retry in 1 s")
    assert dict(refused.headers())[b"retry-after"] == b"1"
    assert refused.error_data()["retry_after"] > 0


async def test_refusal_headers_and_message() -> None:
    policy = RateLimitPolicy(
        MemoryBackend(), default=RateLimit(60, 60.0), tools={"search": RateLimit(1, 10.0)}
    )
    await policy.hit("sub:a", "tools/call", "search")
    refused = await policy.hit("sub:a", "tools/call", "search")
    headers = dict(refused.headers())
    retry = int(headers[b"retry-after"])
    assert retry == max(1, math.ceil(refused.retry_after_s))
    assert headers[b"ratelimit-policy"] == b'"search";q=1;w=10'
    assert headers[b"ratelimit"] == f'"search";r=0;t={retry}'.encode()
    assert refused.policy == '"search";q=1;w=10'
    assert refused.message() == (
        f"Rate limit exceeded for tool 'search': 1 per 10s; retry in {retry} s"
    )
    data = refused.error_data()
    assert data["limit"] == 1
    assert 0 < data["retry_after"] <= 10
    allowed = await policy.hit("sub:a", "tools/list")
    assert dict(allowed.headers())[b"ratelimit-policy"] == b'"default";q=60;w=60'
    assert b"retry-after" not in dict(allowed.headers())


async def test_method_buckets_are_bounded() -> None:
    policy = RateLimitPolicy(MemoryBackend(), default=RateLimit(5, 60.0), tools={})
    rules = {policy.rule_for(f"junk/{i}", None).endpoint for i in range(500)}
    assert len(rules) == 65  # 64 named buckets, then one shared catch-all
    assert "method:*" in rules
    fresh = RateLimitPolicy(MemoryBackend(), default=RateLimit(5, 60.0), tools={})
    assert fresh.rule_for("x" * 10_000, None).endpoint == "method:*"


async def test_memory_backend_sweeps_idle_buckets() -> None:
    now = [0]
    backend = MemoryBackend(clock=lambda: now[0])
    policy = RateLimitPolicy(backend, default=RateLimit(10, 1.0), tools={})
    for i in range(100):
        await policy.hit(f"addr:{i}", "tools/list")
    assert len(backend) == 100
    now[0] += 61 * 1_000_000_000  # past every TAT and the sweep interval
    await policy.hit("addr:new", "tools/list")
    assert len(backend) == 1


# --- start-up resolution -----------------------------------------------------------------


def _spec(name: str, rate: str | None = None) -> ToolSpec:
    return ToolSpec(name=name, description=name, fn=lambda: None, rate_limit=rate)


def test_rates_resolve_env_over_registry_over_default() -> None:
    settings = load_settings(rate_limit_default="30/minute", rate_limit_tools={"fetch": "5/s"})
    policy = build_limiter(
        settings, [_spec("search", "10/second"), _spec("fetch", "1/s"), _spec("health")]
    )
    assert policy is not None
    rules = policy.tool_rules
    assert (rules["search"].limit, rules["search"].period_s) == (10, 1.0)
    assert (rules["fetch"].limit, rules["fetch"].period_s) == (5, 1.0)
    assert (rules["health"].limit, rules["health"].period_s) == (30, 60.0)
    assert rules["health"].name == "default"
    assert isinstance(policy.backend, MemoryBackend)


def test_unregistered_tool_in_env_is_a_startup_error() -> None:
    settings = load_settings(rate_limit_tools={"serch": "5/s"})
    with pytest.raises(SettingsError, match=r"MCP_RATE_LIMIT_TOOLS: serch not registered"):
        build_limiter(settings, [_spec("search")])


def test_extra_tools_may_be_named_in_env() -> None:
    settings = load_settings(rate_limit_tools={"docs_read": "2/s"})
    policy = build_limiter(settings, [_spec("search")], extra_tools=["docs_read"])
    assert policy is not None
    assert policy.tool_rules["docs_read"].limit == 2


def test_disabled_means_no_limiter() -> None:
    assert build_limiter(load_settings(rate_limit_enabled=False), [_spec("search")]) is None


async def test_memory_backend_reports_per_replica() -> None:
    policy = build_limiter(load_settings(), [])
    assert policy is not None
    result = await policy.check()
    assert result.status == "ok"
    assert "per replica" in result.detail
    await policy.aclose()
