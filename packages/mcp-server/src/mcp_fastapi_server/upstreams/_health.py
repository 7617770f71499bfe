"""An upstream's state as a health check (``health``, and ``/readyz`` when it is required)."""

from __future__ import annotations

from mcp_fastapi_server.core import CheckResult, CheckStatus, HealthCheck
from mcp_upstream_client import UpstreamManager

__all__ = ["upstream_check"]


def upstream_check(manager: UpstreamManager, name: str) -> HealthCheck:
    """``ok`` while connected and its breaker lets calls through; ``down`` (required) or
    ``degraded`` otherwise. The detail names the state, the breaker state and (when not ok)
    the last error, e.g. "down, circuit open (probe in 12.3 s); 5 consecutive failure(s);
    0 tools; last error: ..."."""

    async def check() -> CheckResult:
        status = manager.status()[name]
        if status.ok:
            return CheckResult("ok", status.describe())
        level: CheckStatus = "down" if status.required else "degraded"
        return CheckResult(level, status.describe())

    return check
