"""``health``: is this process, its index and every plugged-in dependency answering?

Checks run concurrently, each bounded by a timeout, so one hung dependency degrades the
answer instead of hanging it. Redis and upstreams add themselves through
:meth:`Services.add_health_check`.

The tool is cheap because agents and probes call it often: our own in-process checks
(process, index) are awaited inline, a lone remote check runs inline under
``asyncio.timeout``, and only two or more remote checks pay for a task each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from mcp_fastapi_server.documents import SqliteFtsSource
from mcp_fastapi_server.registry import READ_ONLY, ToolSpec
from mcp_fastapi_server.services import CheckResult, HealthCheck, Services

__all__ = ["SPEC", "CheckReport", "HealthReport", "LocalCheck", "build_health", "run_checks"]

Status = Literal["ok", "degraded", "down"]
CHECK_TIMEOUT_S = 2.0


class CheckReport(BaseModel):
    status: Status
    latency_ms: float
    detail: str = ""


class HealthReport(BaseModel):
    status: Status
    checks: dict[str, CheckReport]


class LocalCheck:
    """A check that never waits on I/O (it reads this process's state): run inline."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], CheckResult]) -> None:
        self._fn = fn

    async def __call__(self) -> CheckResult:
        return self._fn()


async def _timed(check: HealthCheck) -> CheckReport:
    start = time.perf_counter()
    try:
        if isinstance(check, LocalCheck):
            result = await check()
        else:
            async with asyncio.timeout(CHECK_TIMEOUT_S):  # no task, unlike wait_for
                result = await check()
    except TimeoutError:
        result = CheckResult("down", f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # a failing check is a report, never a crash
        result = CheckResult("down", f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - start) * 1000, 3)
    status: Status = result.status if result.status in ("ok", "degraded", "down") else "down"  # type: ignore[assignment]
    return CheckReport(status=status, latency_ms=latency, detail=result.detail)


async def run_checks(checks: dict[str, HealthCheck]) -> HealthReport:
    """Run every check; overall ``down`` if any is down, ``degraded`` if any is degraded."""
    by_name: dict[str, CheckReport] = {}
    remote = [name for name, check in checks.items() if not isinstance(check, LocalCheck)]
    if len(remote) > 1:
        reports = await asyncio.gather(*(_timed(checks[n]) for n in remote))
        by_name.update(zip(remote, reports, strict=True))
    for name, check in checks.items():
        if name not in by_name:
            by_name[name] = await _timed(check)
    by_name = {name: by_name[name] for name in checks}  # keep the registration order
    statuses = {r.status for r in by_name.values()}
    overall: Status = (
        "down" if "down" in statuses else "degraded" if "degraded" in statuses else "ok"
    )
    return HealthReport(status=overall, checks=by_name)


def process_check() -> HealthCheck:
    started = time.monotonic()
    return LocalCheck(lambda: CheckResult("ok", f"up {time.monotonic() - started:.0f} s"))


def _index_result(count: int) -> CheckResult:
    return CheckResult("ok" if count else "degraded", f"{count} documents indexed")


def index_check(services: Services) -> HealthCheck:
    documents = services.documents
    if isinstance(documents, SqliteFtsSource):  # in memory: no I/O to bound
        return LocalCheck(lambda: _index_result(documents.count_now()))

    async def check() -> CheckResult:  # a team's store may be remote
        return _index_result(await services.documents.count())

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
