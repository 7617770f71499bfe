"""``run_checks``: local checks inline, remote ones bounded and concurrent; the Redis check
reuses the limiter's last answer instead of a second round trip."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.core import CheckResult, HealthCheck, LocalCheck, run_checks
from mcp_fastapi_server.core import _health as health
from mcp_fastapi_server.limits import build_limiter


async def test_local_and_remote_checks_report_in_registration_order() -> None:
    async def remote() -> CheckResult:
        await asyncio.sleep(0)
        return CheckResult("degraded", "slow")

    report = await run_checks(
        {
            "a": LocalCheck(lambda: CheckResult("ok", "here")),
            "b": remote,
            "c": LocalCheck(lambda: CheckResult("ok", "there")),
        }
    )
    assert list(report.checks) == ["a", "b", "c"]
    assert report.status == "degraded"
    assert report.checks["b"].detail == "slow"


async def test_remote_checks_run_concurrently() -> None:
    first, second = asyncio.Event(), asyncio.Event()

    async def one() -> CheckResult:  # each waits for the other: sequential would hang
        first.set()
        await second.wait()
        return CheckResult("ok")

    async def two() -> CheckResult:
        second.set()
        await first.wait()
        return CheckResult("ok")

    report = await asyncio.wait_for(run_checks({"one": one, "two": two}), 10)
    assert report.status == "ok"


@pytest.mark.parametrize("remote_count", [1, 2])
async def test_a_hung_remote_check_is_down_not_a_hang(
    monkeypatch: pytest.MonkeyPatch, remote_count: int
) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT_S", 0.05)

    async def hung() -> CheckResult:
        await asyncio.Event().wait()
        return CheckResult("ok")

    async def fine() -> CheckResult:
        return CheckResult("ok")

    checks: dict[str, HealthCheck] = {"hung": hung}
    if remote_count == 2:
        checks["fine"] = fine
    report = await asyncio.wait_for(run_checks(checks), 10)
    assert report.checks["hung"].status == "down"
    assert "no answer" in report.checks["hung"].detail
    assert report.status == "down"


async def test_a_failing_local_check_is_down() -> None:
    def boom() -> CheckResult:
        raise RuntimeError("broken")

    report = await run_checks({"x": LocalCheck(boom)})
    assert report.checks["x"].status == "down"
    assert "broken" in report.checks["x"].detail


async def test_redis_check_reuses_the_limiters_round_trip(
    redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    specs = [ToolSpec(name="health", description="h", fn=lambda: None)]
    policy = build_limiter(load_settings(redis_url=redis_url, redis_timeout_ms=500), specs)
    assert policy is not None
    try:
        assert "script ran" in (await policy.recent_check()).detail  # a probe: nothing recent
        await policy.hit("sub:a", "tools/call", "health")

        async def scripts_run() -> int:
            stats = await redis_client.info("commandstats")
            return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

        before = await scripts_run()
        recent = await policy.recent_check()
        after = await scripts_run()
        assert recent.status == "ok"
        assert "answered" in recent.detail
        assert after == before  # no second round trip
        assert "script ran" in (await policy.check()).detail  # readiness still asks Redis
    finally:
        await policy.aclose()
