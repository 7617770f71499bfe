"""The reference host app that ``mcp-server serve`` runs: a small real REST API with MCP mounted.

It is also the worked example of :func:`mount_mcp`: the REST routes and the MCP tools call
the same :class:`DocumentSource`, never each other over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from mcp_fastapi_server.documents import DocumentSource, default_source
from mcp_fastapi_server.mount import McpMount, mount_mcp
from mcp_fastapi_server.settings import Settings, load_settings
from mcp_fastapi_server.tools.metadata import package_version

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, **mount_kwargs: Any) -> FastAPI:
    """Build the reference app: ``/api/documents``, ``/healthz``, ``/readyz`` and MCP."""
    settings = settings or load_settings()
    documents: DocumentSource = mount_kwargs.pop("documents", None) or default_source(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.started = True
        yield
        app.state.started = False

    app = FastAPI(
        title="Acme documents API",
        version=package_version(),
        summary="Reference host app for the MCP toolkit.",
        lifespan=lifespan,
    )

    @app.get("/api/documents", summary="List documents")
    async def list_documents(
        offset: int = Query(0, ge=0), limit: int = Query(20, ge=1, le=100)
    ) -> dict[str, Any]:
        page = await documents.list(offset=offset, limit=limit)
        return {"items": [asdict(h) for h in page.hits], "has_more": page.has_more}

    @app.get("/api/documents/search", summary="Search documents")
    async def search_documents(
        q: str = Query(..., min_length=1, max_length=500),
        offset: int = Query(0, ge=0),
        limit: int = Query(20, ge=1, le=100),
    ) -> dict[str, Any]:
        page = await documents.search(q, offset=offset, limit=limit)
        return {"items": [asdict(h) for h in page.hits], "has_more": page.has_more}

    @app.get("/api/documents/{doc_id:path}", summary="Get one document")
    async def get_document(doc_id: str) -> dict[str, Any]:
        doc = await documents.get(doc_id)
        if doc is None:
            raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
        return asdict(doc)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mounted: McpMount | None = mount_mcp(app, settings, documents=documents, **mount_kwargs)

    @app.get("/readyz", summary="Readiness")
    async def readyz() -> JSONResponse:
        if mounted is None:
            return JSONResponse({"status": "ok", "checks": {}})
        report = await mounted.readiness()
        failing = [name for name, check in report.checks.items() if check.status == "down"]
        body = report.model_dump() | {"failing": failing}
        return JSONResponse(body, status_code=503 if failing else 200)

    app.state.mcp = mounted
    return app
