"""The RFC 9728 metadata document as host-app routes (when JWT auth is on)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_fastapi_server.auth import ResourceMetadata

__all__ = ["resource_metadata_routes"]


def resource_metadata_routes(metadata: ResourceMetadata) -> list[Route]:
    """``GET``/``HEAD`` routes at every path of :meth:`ResourceMetadata.paths`."""

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(
            metadata.document(request.scope),
            headers={"Cache-Control": "max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    return [Route(path, endpoint, methods=["GET", "HEAD"]) for path in metadata.paths()]
