"""``metadata``: what this server is and what the host app offers, paginated.

Lists the host app's REST routes from FastAPI's route table (method, path, summary) so an
assistant can discover the API without the API being exposed as tools. No secrets and no
environment: only names, versions and limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from mcp_fastapi_server._registry import READ_ONLY, ToolSpec
from mcp_fastapi_server._services import Services
from mcp_fastapi_server._version import __version__

__all__ = ["SPEC", "EndpointInfo", "MetadataResult", "build_metadata"]

CURSOR_KIND = "metadata"


class EndpointInfo(BaseModel):
    method: str
    path: str
    summary: str


class ToolInfo(BaseModel):
    name: str
    description: str
    scopes: list[str]
    rate_limit: str | None


class Limits(BaseModel):
    page_size: int
    max_response_bytes: int
    max_request_bytes: int
    rate_limit_default: str | None


class MetadataResult(BaseModel):
    name: str
    version: str
    protocol_versions: list[str]
    transports: list[str]
    tools: list[ToolInfo]
    limits: Limits
    endpoints: list[EndpointInfo]
    next_cursor: str | None = Field(
        None, description="Pass back as `cursor` for the next page of endpoints."
    )


def build_metadata(services: Services) -> Callable[..., Awaitable[MetadataResult]]:
    settings = services.settings
    transports = ["stdio", "streamable-http"] + (["sse"] if settings.http_sse_enabled else [])
    tools = [
        ToolInfo(
            name=info.name,
            description=info.description,
            scopes=list(info.scopes),
            rate_limit=info.rate_limit,
        )
        for info in services.tools
    ]
    limits = Limits(
        page_size=settings.page_size,
        max_response_bytes=settings.max_response_bytes,
        max_request_bytes=settings.max_request_bytes,
        rate_limit_default=settings.rate_limit_default if settings.rate_limit_enabled else None,
    )

    async def metadata(cursor: str | None = None) -> MetadataResult:
        """Describe this server: version, protocols, tools, limits, and the host app's REST
        endpoints (paginated; pass `next_cursor` back as `cursor`)."""
        start = 0
        if cursor:
            start = int(services.cursors.decode(CURSOR_KIND, cursor)["o"])
        endpoints = services.endpoints()
        end = start + settings.page_size
        page = endpoints[start:end]
        return MetadataResult(
            name="mcp-server",
            version=__version__,
            protocol_versions=list(SUPPORTED_PROTOCOL_VERSIONS),
            transports=transports,
            tools=tools,
            limits=limits,
            endpoints=[EndpointInfo(method=e.method, path=e.path, summary=e.summary) for e in page],
            next_cursor=(
                services.cursors.encode(CURSOR_KIND, {"o": end}) if end < len(endpoints) else None
            ),
        )

    return metadata


SPEC = ToolSpec(
    name="metadata",
    description=(
        "Describe this server and the host application's REST API: name, version, protocol "
        "versions, transports, tools, limits and endpoints (paginated)."
    ),
    factory=build_metadata,
    annotations=READ_ONLY,
)
