"""``health``: is this process, its index and every plugged-in dependency answering?

Checks run concurrently, each bounded by a timeout, so one hung dependency degrades the
answer instead of hanging it. Redis and upstreams add themselves through
:meth:`Services.add_health_check`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from mcp_server.registry import READ_ONLY, ToolSpec
from mcp_server.services import CheckResult, HealthCheck, Services

__all__ = ["SPEC", "CheckReport", "HealthReport", "build_health", "run_checks"]

Status = Literal["ok", "degraded", "down"]
CHECK_TIMEOUT_S = 2.0


class CheckReport(BaseModel):
    status: Status
    latency_ms: float
    detail: str = ""


class HealthReport(BaseModel):
    status: Status
    checks: dict[str, CheckReport]


async def _timed(check: HealthCheck) -> CheckReport:
    start = time.perf_counter()
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        result = CheckResult("down", f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # a failing check is a report, never a crash
        result = CheckResult("down", f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - start) * 1000, 3)
    status: Status = result.status if result.status in ("ok", "degraded", "down") else "down"  # type: ignore[assignment]
    return CheckReport(status=status, latency_ms=latency, detail=result.detail)


async def run_checks(checks: dict[str, HealthCheck]) -> HealthReport:
    """Run every check; overall ``down`` if any is down, ``degraded`` if any is degraded."""
    names = list(checks)
    reports = await asyncio.gather(*(_timed(checks[n]) for n in names))
    by_name = dict(zip(names, reports, strict=True))
    statuses = {r.status for r in reports}
    overall: Status = (
        "down" if "down" in statuses else "degraded" if "degraded" in statuses else "ok"
    )
    return HealthReport(status=overall, checks=by_name)


def process_check() -> HealthCheck:
    started = time.monotonic()

    async def check() -> CheckResult:
        return CheckResult("ok", f"up {time.monotonic() - started:.0f} s")

    return check


def index_check(services: Services) -> HealthCheck:
    async def check() -> CheckResult:
        count = await services.documents.count()
        return CheckResult("ok" if count else "degraded", f"{count} documents indexed")

    return check


def build_health(services: Services) -> Callable[[], Awaitable[HealthReport]]:
    services.health_checks.setdefault("process", process_check())
    services.health_checks.setdefault("index", index_check(services))

    async def health() -> HealthReport:
        """Report the health of this server and its dependencies."""
        return await run_checks(services.health_checks)

    return health


SPEC = ToolSpec(
    name="health",
    description="Health of this MCP server: process, document index, Redis and upstreams.",
    factory=build_health,
    annotations=READ_ONLY,
)
