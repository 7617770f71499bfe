"""mount_mcp over a real uvicorn server on 127.0.0.1, with real fastmcp clients in both eras."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_fastapi_server import Settings, create_app, mount_mcp
from mcp_testkit.asgi import RunningApp, running_asgi

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def served() -> Iterator[RunningApp]:
    with running_asgi(create_app(settings(max_request_bytes=4096))) as srv:
        yield srv


async def test_modern_and_legacy_clients_list_and_call(served: RunningApp) -> None:
    url = f"{served.url}/mcp"
    async with Client(url) as modern:
        names = {t.name for t in await modern.list_tools()}
        assert names == {"health", "metadata", "search", "fetch"}
        health = await modern.call_tool("health")
        assert health.structured_content is not None
        assert health.structured_content["status"] in {"ok", "degraded"}
    async with Client(StreamableHttpTransport(url), mode="legacy") as legacy:
        assert legacy.initialize_result is not None
        tools = await legacy.list_tools()
        assert all(t.annotations and t.annotations.read_only_hint for t in tools)
        found = await legacy.call_tool("search", {"query": "install"})
        assert found.structured_content is not None
        assert found.structured_content["results"]


async def test_rest_api_shares_the_document_source(served: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        listing = (await http.get("/api/documents", params={"limit": 2})).json()
        assert len(listing["items"]) == 2
        doc_id = listing["items"][0]["id"]
        doc = (await http.get(f"/api/documents/{doc_id}")).json()
        assert doc["id"] == doc_id
        assert (await http.get("/api/documents/nope/nothing")).status_code == 404
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
    async with Client(f"{served.url}/mcp") as client:
        fetched = await client.call_tool("fetch", {"id": doc_id})
        assert fetched.structured_content is not None
        assert fetched.structured_content["title"] == doc["title"]


async def test_metadata_lists_host_routes_not_mcp(served: RunningApp) -> None:
    async with Client(f"{served.url}/mcp") as client:
        result = await client.call_tool("metadata")
    data = result.structured_content
    assert data is not None
    paths = {e["path"] for e in data["endpoints"]}
    assert "/api/documents" in paths
    assert "/mcp" not in paths
    assert "2025-11-25" in data["protocol_versions"]
    assert "secret" not in repr(data).lower()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "evil.example.com"}, 421),
        ({"origin": "http://evil.example.com"}, 403),
        ({}, 200),
    ],
)
async def test_host_and_origin_are_checked(
    served: RunningApp, headers: dict[str, str], status: int
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{served.url}/mcp", json=body, headers=JSON | headers)
    assert answer.status_code == status
    if headers:  # the host app's own routes are not guarded
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{served.url}/healthz", headers=headers)).status_code == 200


async def test_oversized_body_is_413_declared_or_streamed(served: RunningApp) -> None:
    big = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"a" * 8000 + b'"}}'

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    async with httpx.AsyncClient() as http:
        declared = await http.post(f"{served.url}/mcp", content=big, headers=JSON)
        streamed = await http.post(f"{served.url}/mcp", content=chunks(), headers=JSON)
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["error"]["message"].startswith("Request body exceeds")


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b"{not json", {}, -32700),
        (b"[]", {}, -32600),
        (b'"hello"', {}, -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"tools/list"}', {}, -32600),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}',
            {"mcp-method": "tools/list"},
            -32020,
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}',
            {"mcp-method": "tools/call", "mcp-name": "fetch"},
            -32020,
        ),
    ],
)
async def test_malformed_requests_get_400_jsonrpc_errors(
    served: RunningApp, body: bytes, headers: dict[str, str], code: int
) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{served.url}/mcp", content=body, headers=JSON | headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


async def test_mount_into_app_with_its_own_lifespan_and_later_routes() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        events.append("app-start")
        yield
        events.append("app-stop")

    app = FastAPI(lifespan=lifespan)
    mount_mcp(app, settings(http_path="/tools/mcp"))

    @app.get("/added-later")
    async def added_later() -> dict[str, bool]:
        return {"ok": True}

    with running_asgi(app) as srv:
        assert events == ["app-start"]
        async with Client(f"{srv.url}/tools/mcp") as client:
            assert len(await client.list_tools()) == 4
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{srv.url}/added-later")).json() == {"ok": True}
            assert (await http.post(f"{srv.url}/mcp", json={})).status_code == 404
    assert events == ["app-start", "app-stop"]


async def test_disabled_mounts_nothing() -> None:
    app = FastAPI()
    assert mount_mcp(app, settings(enabled=False)) is None
    with running_asgi(app) as srv:
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{srv.url}/mcp", json={}, headers=JSON)
    assert answer.status_code == 404


async def test_stateful_sessions_when_asked() -> None:
    app = FastAPI()
    mount_mcp(app, settings(http_stateless=False, tools_enabled=["health"]))
    with running_asgi(app) as srv:
        async with Client(StreamableHttpTransport(f"{srv.url}/mcp"), mode="legacy") as client:
            assert [t.name for t in await client.list_tools()] == ["health"]
            await client.ping()  # needs a session: only the handshake era has ping
