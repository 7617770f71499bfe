"""An upstream's state as a health check (``health``, and ``/readyz`` when it is required)."""

from __future__ import annotations

from mcp_fastapi_server.core import CheckResult, CheckStatus, HealthCheck
from mcp_upstream_client import UpstreamManager

__all__ = ["upstream_check"]


def upstream_check(manager: UpstreamManager, name: str) -> HealthCheck:
    """``ok`` while connected; ``down`` (required) or ``degraded`` otherwise, with why."""

    async def check() -> CheckResult:
        status = manager.status()[name]
        if status.ok:
            return CheckResult("ok", f"{status.state}, {len(status.tools)} tools")
        level: CheckStatus = "down" if status.required else "degraded"
        return CheckResult(level, status.last_error or f"{status.state}, circuit {status.circuit}")

    return check
