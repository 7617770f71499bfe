"""What the tools call: one container, built once per server by the composition root.

Tools and the reference REST API share these objects, so an MCP ``search`` and a
``GET /api/documents/search`` answer from the same code. Nothing here changes after the
runtime is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mcp_fastapi_server._paging import CursorCodec
from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.core import HealthCheck
from mcp_fastapi_server.documents import DocumentSource

__all__ = ["Endpoint", "Services", "ToolInfo"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host-app REST route as ``metadata`` lists it."""

    method: str
    path: str
    summary: str


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A served tool and its effective policy, as ``metadata`` describes it."""

    name: str
    description: str
    scopes: tuple[str, ...] = ()
    rate_limit: str | None = None


def _no_endpoints() -> list[Endpoint]:
    return []


def _ignore(_tool: str) -> None:
    return None


@dataclass(frozen=True)
class Services:
    """Everything a tool needs; one per server instance."""

    settings: Settings
    documents: DocumentSource
    cursors: CursorCodec
    tools: Sequence[ToolInfo] = ()
    health_checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    """Dependency checks for ``health`` (Redis, upstreams, a team's own), by name."""
    endpoints: Callable[[], list[Endpoint]] = _no_endpoints
    """The host app's REST routes (read lazily: routes may be added after mounting)."""
    on_truncated: Callable[[str], None] = _ignore
    """Called with the tool name when a result is cut to fit (``mcp_response_truncated_total``)."""
