"""What the tools call: one container built once per server from :class:`Settings`.

Tools and the reference REST API share these objects, so an MCP ``search`` and a
``GET /api/documents/search`` answer from the same code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_fastapi_server.documents import DocumentSource
    from mcp_fastapi_server.paging import CursorCodec
    from mcp_fastapi_server.registry import ToolSpec
    from mcp_fastapi_server.settings import Settings

__all__ = ["CheckResult", "Endpoint", "HealthCheck", "Services"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One health check's answer: ``ok``, ``degraded`` or ``down``."""

    status: str
    detail: str = ""


HealthCheck = Callable[[], Awaitable[CheckResult]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host-app REST route as ``metadata`` lists it."""

    method: str
    path: str
    summary: str


@dataclass
class Services:
    """Everything a tool needs; one per server instance."""

    settings: Settings
    documents: DocumentSource
    cursors: CursorCodec
    tools: list[ToolSpec] = field(default_factory=list)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    endpoints: Callable[[], list[Endpoint]] = field(default=lambda: [])
    extra: dict[str, Any] = field(default_factory=dict)
    on_truncated: Callable[[str], None] = field(default=lambda _tool: None)
    """Called with the tool name when a result is cut to fit (``mcp_response_truncated_total``)."""

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """Plug a check (Redis, an upstream, a team's DB) into ``health`` and ``/readyz``."""
        self.health_checks[name] = check
