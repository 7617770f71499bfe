"""``health``: is this process, its index and every plugged-in dependency answering?

The tool's own checks (process, index) come first, then ``Services.health_checks`` (Redis,
upstreams, a team's own), all run by :func:`mcp_fastapi_server.core.run_checks`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from mcp_fastapi_server._registry import READ_ONLY, ToolSpec
from mcp_fastapi_server._services import Services
from mcp_fastapi_server.core import CheckResult, HealthCheck, HealthReport, LocalCheck, run_checks
from mcp_fastapi_server.documents import SqliteFtsSource

__all__ = ["SPEC", "build_health"]


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
    checks = {"process": process_check(), "index": index_check(services)}
    checks.update(services.health_checks)

    async def health() -> HealthReport:
        """Report the health of this server and its dependencies."""
        return await run_checks(checks)

    return health


SPEC = ToolSpec(
    name="health",
    description="Health of this MCP server: process, document index, Redis and upstreams.",
    factory=build_health,
    annotations=READ_ONLY,
)
