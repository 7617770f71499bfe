"""The legacy SSE transport: off by default, and behind the streamable endpoint's chain.

Real fastmcp clients over ``SSETransport`` against uvicorn on 127.0.0.1; the chain's
answers (request id, Host guard, body limit, rate limit, auth, access line, metrics) are
checked on both SSE paths with plain HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastmcp import Client
from fastmcp.client.transports import SSETransport, StreamableHttpTransport

from mcp_fastapi_server import Settings, mount_mcp
from mcp_fastapi_server.http import mcp_paths, sse_paths
from mcp_testkit.asgi import running_asgi
from mcp_testkit.jwt import JwtIssuer

CALL_HEALTH = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "health"}}
BOGUS_SESSION = "0" * 32


def settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {"http_sse_enabled": True, "tools_enabled": ["health"]}
    return Settings(**{**base, **kw})


def sse_app(**kw: Any) -> FastAPI:
    app = FastAPI()
    mount_mcp(app, settings(**kw))
    return app


@asynccontextmanager
async def endpoint_of(http: httpx.AsyncClient, url: str, **headers: str) -> AsyncIterator[str]:
    """Open ``GET {path}/sse`` and yield the message URL its first ``endpoint`` event names."""
    async with http.stream("GET", url, headers={"accept": "text/event-stream", **headers}) as r:
        assert r.status_code == 200, r.status_code
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "endpoint":
                yield line.split(":", 1)[1].strip()
                return
        raise AssertionError("the stream closed before an endpoint event")


def test_paths_follow_mcp_http_path() -> None:
    cfg = settings(http_path="/tools/mcp")
    assert sse_paths(cfg).stream == "/tools/mcp/sse"
    assert sse_paths(cfg).messages == "/tools/mcp/messages/"
    assert mcp_paths(cfg) == {"/tools/mcp", "/tools/mcp/sse", "/tools/mcp/messages/"}
    assert mcp_paths(settings(http_sse_enabled=False)) == {"/mcp"}


async def test_off_by_default() -> None:
    app = FastAPI()
    mount_mcp(app, Settings(tools_enabled=["health"]))
    with running_asgi(app) as srv:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{srv.url}/mcp/sse")).status_code == 404
            posted = await http.post(f"{srv.url}/mcp/messages/?session_id=x", json=CALL_HEALTH)
            assert posted.status_code == 404


async def test_fastmcp_client_over_sse_lists_and_calls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mcp_fastapi_server")
    with running_asgi(sse_app()) as srv:
        async with Client(SSETransport(f"{srv.url}/mcp/sse")) as client:
            assert [t.name for t in await client.list_tools()] == ["health"]
            result = await client.call_tool("health")
            assert result.structured_content is not None
            assert result.structured_content["status"] == "ok"
        # The streamable endpoint still answers on the same app.
        async with Client(StreamableHttpTransport(f"{srv.url}/mcp")) as client:
            assert [t.name for t in await client.list_tools()] == ["health"]
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{srv.url}/metrics")).text
    sse_calls = [
        r
        for r in caplog.records
        if getattr(r, "transport", None) == "sse" and getattr(r, "tool", None) == "health"
    ]
    assert sse_calls, "no access line for the tools/call sent over SSE"
    assert sse_calls[0].__dict__["method"] == "tools/call"
    assert 'mcp_requests_total{method="tools/call",outcome="ok",tool="health"}' in metrics


async def test_both_sse_paths_carry_request_id_and_host_guard() -> None:
    with running_asgi(sse_app()) as srv:
        async with httpx.AsyncClient() as http:
            async with http.stream(
                "GET", f"{srv.url}/mcp/sse", headers={"x-request-id": "sse-rid-1"}
            ) as stream:
                assert stream.status_code == 200
                assert stream.headers["x-request-id"] == "sse-rid-1"
            posted = await http.post(
                f"{srv.url}/mcp/messages/?session_id={BOGUS_SESSION}",
                json=CALL_HEALTH,
                headers={"x-request-id": "sse-rid-2"},
            )
            assert posted.status_code == 404  # the SDK: no such session
            assert posted.headers["x-request-id"] == "sse-rid-2"
            for method, path in (("GET", "/mcp/sse"), ("POST", "/mcp/messages/?session_id=x")):
                evil = await http.request(
                    method, f"{srv.url}{path}", headers={"host": "evil.example.com"}, json={}
                )
                assert evil.status_code == 421, (method, path)
                assert "x-request-id" in evil.headers


async def test_message_endpoint_enforces_body_limit_and_rate_limit() -> None:
    app = sse_app(max_request_bytes=1024, rate_limit_tools={"health": "1/minute"})
    url_of = "{}/mcp/messages/?session_id=" + BOGUS_SESSION
    with running_asgi(app) as srv:
        url = url_of.format(srv.url)
        async with httpx.AsyncClient() as http:
            big = {**CALL_HEALTH, "params": {"name": "health", "arguments": {"x": "y" * 2048}}}
            assert (await http.post(url, json=big)).status_code == 413
            garbage = await http.post(url, content=b"{not json", headers={"content-type": "x"})
            assert garbage.status_code == 400
            assert garbage.json()["error"]["code"] == -32700
            # The limiter runs before the SDK looks up the session: the first call is
            # admitted (then 404, no session), the second is refused.
            assert (await http.post(url, json=CALL_HEALTH)).status_code == 404
            limited = await http.post(url, json=CALL_HEALTH)
            assert limited.status_code == 429
            assert "retry-after" in limited.headers


async def test_auth_applies_and_sessions_stay_with_their_principal(
    jwt_issuer: JwtIssuer,
) -> None:
    app = sse_app(
        auth_mode="jwt",
        auth_jwt_jwks_url=jwt_issuer.jwks_url,
        auth_jwt_issuer=jwt_issuer.issuer,
        auth_jwt_audience=jwt_issuer.audience,
        auth_required_scopes=["mcp:read"],
    )
    alice = jwt_issuer.token(sub="alice")
    with running_asgi(app) as srv:
        async with httpx.AsyncClient() as http:
            refused = await http.get(f"{srv.url}/mcp/sse")
            assert refused.status_code == 401
            assert "resource_metadata=" in refused.headers["www-authenticate"]
            no_scope = await http.get(
                f"{srv.url}/mcp/sse",
                headers={"authorization": f"Bearer {jwt_issuer.token(scopes=[])}"},
            )
            assert no_scope.status_code == 403
            bearer = {"authorization": f"Bearer {alice}"}
            async with endpoint_of(http, f"{srv.url}/mcp/sse", **bearer) as message_path:
                assert message_path.startswith("/mcp/messages/?session_id=")
                ping = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
                url = f"{srv.url}{message_path}"
                unsigned = await http.post(url, json=ping)
                assert unsigned.status_code == 401
                mallory = {"authorization": f"Bearer {jwt_issuer.token(sub='mallory')}"}
                assert (await http.post(url, json=ping, headers=mallory)).status_code == 404
                assert (await http.post(url, json=ping, headers=bearer)).status_code == 202
        async with Client(SSETransport(f"{srv.url}/mcp/sse", auth=alice)) as client:
            assert (await client.call_tool("health")).structured_content is not None
