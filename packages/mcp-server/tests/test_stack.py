"""The whole production stack through mount_mcp on uvicorn: JWT + scopes + Redis limits +
request ids + metrics, in both protocol eras, with real clients and a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from prometheus_client import CollectorRegistry

from mcp_fastapi_server import Settings, mount_mcp
from mcp_testkit.asgi import RunningApp, running_asgi
from mcp_testkit.jwt import JwtIssuer

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def call(tool: str, rpc_id: int = 1, **arguments: Any) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": params}


@pytest.fixture
def stack(jwt_issuer: JwtIssuer, redis_url: str) -> Iterator[tuple[RunningApp, JwtIssuer]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **jwt_issuer.settings_fields(),
        auth_required_scopes=["mcp:use"],
        tool_scopes={"fetch": ["docs:read"]},
        redis_url=redis_url,
        rate_limit_tools={"search": "3/minute"},
        resource_url="https://api.example.test/mcp",
        auth_servers=[jwt_issuer.issuer],
    )
    app = FastAPI()
    mount_mcp(app, settings, metrics_registry=CollectorRegistry())
    with running_asgi(app) as srv:
        yield srv, jwt_issuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_clients_in_both_eras_see_only_permitted_tools(
    stack: tuple[RunningApp, JwtIssuer],
) -> None:
    srv, issuer = stack
    url = f"{srv.url}/mcp"
    narrow = issuer.token(sub="alice", scopes=["mcp:use"])
    wide = issuer.token(sub="bob", scopes=["mcp:use", "docs:read"])
    async with Client(StreamableHttpTransport(url, headers=bearer(narrow))) as modern:
        assert "fetch" not in {t.name for t in await modern.list_tools()}
    transport = StreamableHttpTransport(url, headers=bearer(wide))
    async with Client(transport, mode="legacy") as legacy:
        assert "fetch" in {t.name for t in await legacy.list_tools()}
        hits = await legacy.call_tool("search", {"query": "widget"})
        assert hits.structured_content is not None


async def test_http_answers_for_auth_scope_and_limits(
    stack: tuple[RunningApp, JwtIssuer],
) -> None:
    srv, issuer = stack
    url = f"{srv.url}/mcp"
    token = issuer.token(sub="carol", scopes=["mcp:use"])
    async with httpx.AsyncClient(headers=HEADERS) as http:
        missing = await http.post(url, json=call("health"))
        assert missing.status_code == 401
        challenge = missing.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "resource_metadata=" in challenge
        assert missing.headers["x-request-id"]

        expired = await http.post(url, json=call("health"), headers=bearer(issuer.expired()))
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]

        denied = await http.post(
            url,
            json=call("fetch", id="guides/install"),
            headers=bearer(token) | {"x-request-id": "trace-me-123"},
        )
        assert denied.status_code == 403
        header = denied.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in header
        assert "docs:read" in header
        assert "mcp:use" in header
        assert denied.headers["x-request-id"] == "trace-me-123"
        assert denied.json()["error"]["data"]["request_id"] == "trace-me-123"

        answers = [
            await http.post(url, json=call("search", i, query="widget"), headers=bearer(token))
            for i in range(4)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        limited = answers[-1]
        assert int(limited.headers["retry-after"]) >= 1
        assert "ratelimit-policy" in limited.headers
        assert limited.json()["error"]["data"]["retry_after"] > 0

        # Another subject has its own budget; the same subject's other tools too.
        other = issuer.token(sub="dave", scopes=["mcp:use"])
        fresh = await http.post(url, json=call("search", query="widget"), headers=bearer(other))
        assert fresh.status_code == 200
        health = await http.post(url, json=call("health"), headers=bearer(token))
        assert health.status_code == 200

        meta = await http.get(f"{srv.url}/.well-known/oauth-protected-resource/mcp")
        doc = meta.json()
        assert doc["resource"] == "https://api.example.test/mcp"
        assert doc["authorization_servers"] == [issuer.issuer]
        assert {"mcp:use", "docs:read"} <= set(doc["scopes_supported"])
        root = await http.get(f"{srv.url}/.well-known/oauth-protected-resource")
        assert root.status_code == 200

        scrape = (await http.get(f"{srv.url}/metrics")).text
    assert 'mcp_rate_limited_total{tool="search"} 1.0' in scrape
    assert 'mcp_auth_failures_total{reason="missing"}' in scrape
    assert 'mcp_requests_total{method="tools/call",outcome="ok",tool="search"} 4.0' in scrape
    assert "carol" not in scrape
    assert "trace-me-123" not in scrape
    assert token not in json.dumps(scrape)
