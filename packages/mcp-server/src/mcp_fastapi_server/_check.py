"""``mcp-server check``: the configuration, validated, shown, and tried against what it names.

Offline (``--offline``) it loads the settings and the upstream file and builds the runtime
(every setting, scope and limit is validated there), and refuses ``MCP_*`` variables that
no setting reads. Online (the default) it also connects: Redis through the limiter's own
client and script (the probe readiness runs), and each upstream as if it were required.
Any failure is a line naming the part and the cause, and a non-zero exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp_fastapi_server._runtime import Runtime, build_runtime
from mcp_fastapi_server._settings import Settings, describe_unknown, unknown_variables
from mcp_fastapi_server.limits import StoreError

__all__ = ["CheckReport", "run_check"]


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found: the effective configuration and one verdict per part."""

    config: dict[str, Any]
    problems: list[str]
    found: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def _redis(runtime: Runtime) -> tuple[list[str], list[str]]:
    limiter = runtime.limiter
    probe = getattr(limiter.backend, "probe", None) if limiter is not None else None
    if limiter is None or probe is None:
        return [], []
    try:
        found: str = await probe()
    except StoreError as exc:
        return [f"redis [{exc.reason}]: {exc}"], []
    finally:
        await limiter.aclose()
    return [], [f"redis: {found}"]


async def _upstreams(runtime: Runtime) -> tuple[list[str], list[str]]:
    setup = runtime.upstreams
    if setup is None:
        return [], []
    from mcp_upstream_client import UpstreamError, UpstreamManager

    configs = [
        setup.manager.config(name).model_copy(update={"required": True, "health_interval_s": 0.0})
        for name in setup.manager.names
    ]
    problems: list[str] = []
    found: list[str] = []
    for config in configs:  # one by one, so each failure names its upstream
        try:
            async with UpstreamManager([config], shutdown_grace_s=0) as manager:
                status = manager.status()[config.name]
        except UpstreamError as exc:
            problems.append(f"upstream {config.name}: {exc}")
            continue
        if status.withdrawn:
            withdrawn = ", ".join(f"{tool} ({why})" for tool, why in status.withdrawn.items())
            problems.append(f"upstream {config.name}: tools withdrawn: {withdrawn}")
        else:
            found.append(f"upstream {config.name}: {status.state}, {len(status.tools)} tools")
    return problems, found


async def run_check(settings: Settings, *, offline: bool) -> CheckReport:
    """Validate (and unless ``offline``, connect); never raises for a failing part."""
    problems = describe_unknown(unknown_variables())
    runtime = build_runtime(settings)
    config = runtime.describe()
    found: list[str] = []
    if not offline:
        for part in (_redis, _upstreams):
            part_problems, part_found = await part(runtime)
            problems += part_problems
            found += part_found
    return CheckReport(config=config, problems=problems, found=found)
