"""Health checks and their runner, shared by ``health``, ``/readyz`` and ``mcp-server check``.

Checks run concurrently, each bounded by a timeout, so one hung dependency degrades the
answer instead of hanging it. In-process checks (:class:`LocalCheck`) are awaited inline,
a lone remote check runs inline under ``asyncio.timeout``, and only two or more remote
checks pay for a task each: agents and probes call ``health`` often.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

__all__ = [
    "CHECK_TIMEOUT_S",
    "CheckReport",
    "CheckResult",
    "CheckStatus",
    "HealthCheck",
    "HealthReport",
    "LocalCheck",
    "run_checks",
]

CHECK_TIMEOUT_S = 2.0

CheckStatus = Literal["ok", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One health check's answer: ``ok``, ``degraded`` or ``down``, and a detail line."""

    status: CheckStatus
    detail: str = ""


HealthCheck = Callable[[], Awaitable[CheckResult]]
"""A check: an async callable with no arguments (Redis, an upstream, a team's database)."""


class CheckReport(BaseModel):
    status: CheckStatus
    latency_ms: float
    detail: str = ""


class HealthReport(BaseModel):
    status: CheckStatus
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
    return CheckReport(status=result.status, latency_ms=latency, detail=result.detail)


async def run_checks(checks: Mapping[str, HealthCheck]) -> HealthReport:
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
    overall: CheckStatus = (
        "down" if "down" in statuses else "degraded" if "degraded" in statuses else "ok"
    )
    return HealthReport(status=overall, checks=by_name)
