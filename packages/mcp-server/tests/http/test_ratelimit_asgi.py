"""The 429/503 answers of the ASGI rate-limit middleware, in front of a tiny JSON-RPC app."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.core import RATE_LIMITED, SCOPE_KEY, UNAVAILABLE, RequestContext
from mcp_fastapi_server.http import BodyMiddleware, ObserveMiddleware, RateLimitMiddleware
from mcp_fastapi_server.limits import RateLimitPolicy, build_limiter
from mcp_testkit.asgi import read_body, replay, serving_asgi
from mcp_testkit.redis import RedisServer

SPECS = [
    ToolSpec(name="search", description="s", fn=lambda: None, rate_limit="2/hour"),
    ToolSpec(name="fetch", description="f", fn=lambda: None),
]


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for FastMCP: answers every request with an empty JSON-RPC result."""
    body = await read_body(receive)
    rpc_id = orjson.loads(body).get("id") if body else None
    payload = orjson.dumps({"jsonrpc": "2.0", "id": rpc_id, "result": {}})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


class ContextShim:
    """Does what observe + body + auth do before us: a RequestContext with the parsed call
    and the subject (here from an ``x-test-subject`` header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        if b"x-no-context" in headers:
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(request_id="rid-1", client_addr="127.0.0.1")
        subject = headers.get(b"x-test-subject")
        ctx.subject = subject.decode() if subject else None
        body = await read_body(receive)
        if body:
            msg = orjson.loads(body)
            ctx.method, ctx.rpc_id = msg.get("method"), msg.get("id")
            if ctx.method == "tools/call":
                ctx.tool = msg["params"]["name"]
        scope[SCOPE_KEY] = ctx
        await self.app(scope, replay(body, receive), send)


def _call(tool: str, rpc_id: int = 7) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": tool}}


@contextlib.asynccontextmanager
async def _client(policy: RateLimitPolicy, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = ContextShim(RateLimitMiddleware(echo_app, policy=policy, **kw))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture(params=["memory", "redis"])
async def policy(request: pytest.FixtureRequest) -> AsyncIterator[RateLimitPolicy]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    settings = load_settings(redis_url=url, redis_timeout_ms=1000, rate_limit_default="3/hour")
    limiter = build_limiter(settings, SPECS)
    assert limiter is not None
    yield limiter
    await limiter.aclose()


def _assert_429(resp: httpx.Response, *, rpc_id: int, tool: str, limit: int) -> None:
    assert resp.status_code == 429
    retry = int(resp.headers["retry-after"])
    assert retry >= 1
    assert resp.headers["ratelimit-policy"] == f'"{tool}";q={limit};w=3600'
    assert resp.headers["ratelimit"] == f'"{tool}";r=0;t={retry}'
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == rpc_id
    error = body["error"]
    assert error["code"] == RATE_LIMITED
    assert error["message"].startswith(
        f"Rate limit exceeded for tool '{tool}': {limit} per 3600s; retry in "
    )
    assert isinstance(error["data"]["retry_after"], float)
    assert retry == max(1, math.ceil(error["data"]["retry_after"]))
    assert error["data"]["limit"] == limit
    assert error["data"]["request_id"] == "rid-1"


async def test_over_limit_answers_429_with_headers_and_jsonrpc_error(
    policy: RateLimitPolicy,
) -> None:
    async with _client(policy) as client:
        statuses = [(await client.post("/mcp", json=_call("search"))).status_code for _ in range(2)]
        assert statuses == [200, 200]
        _assert_429(
            await client.post("/mcp", json=_call("search", 8)), rpc_id=8, tool="search", limit=2
        )
        # Another tool, another subject: their own buckets.
        assert (await client.post("/mcp", json=_call("fetch"))).status_code == 200
        other = await client.post("/mcp", json=_call("search"), headers={"x-test-subject": "bob"})
        assert other.status_code == 200


async def test_methods_are_limited_per_method(policy: RateLimitPolicy) -> None:
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with _client(policy) as client:
        statuses = [(await client.post("/mcp", json=listing)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        resp = await client.post("/mcp", json=listing)
        assert resp.headers["ratelimit-policy"] == '"default";q=3;w=3600'
        assert "method 'tools/list'" in resp.json()["error"]["message"]
        discover = {"jsonrpc": "2.0", "id": 2, "method": "server/discover"}
        assert (await client.post("/mcp", json=discover)).status_code == 200


async def test_uncountable_requests_pass_through(policy: RateLimitPolicy) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    async with _client(policy) as client:
        for _ in range(5):
            assert (await client.post("/mcp", json=note)).status_code == 200
            assert (await client.get("/mcp")).status_code == 200
            no_ctx = await client.post("/mcp", json=_call("search"), headers={"x-no-context": "1"})
            assert no_ctx.status_code == 200
        # None of that was counted: the tool's two calls are still there.
        assert (await client.post("/mcp", json=_call("search"))).status_code == 200


async def test_headers_on_success_are_optional(policy: RateLimitPolicy) -> None:
    async with _client(policy, headers_on_success=True) as client:
        resp = await client.post("/mcp", json=_call("search"))
        assert resp.status_code == 200
        assert resp.headers["ratelimit-policy"] == '"search";q=2;w=3600'
        assert resp.headers["ratelimit"].startswith('"search";r=1;t=')
    async with _client(policy) as client:
        assert "ratelimit" not in (await client.post("/mcp", json=_call("fetch"))).headers


async def test_dead_redis_closed_is_503_and_open_admits(
    redis_factory: Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    closed = build_limiter(
        load_settings(redis_url=server.url, rate_limit_failure_mode="closed"), SPECS
    )
    opened = build_limiter(load_settings(redis_url=server.url), SPECS)
    assert closed is not None
    assert opened is not None
    try:
        async with _client(closed) as c_closed, _client(opened) as c_open:
            assert (await c_closed.post("/mcp", json=_call("fetch"))).status_code == 200
            assert (await c_open.post("/mcp", json=_call("fetch"))).status_code == 200
            server.stop(kill=True)
            resp = await c_closed.post("/mcp", json=_call("fetch", 9))
            assert resp.status_code == 503
            assert resp.headers["retry-after"] == "1"
            body = resp.json()
            assert body["id"] == 9
            assert body["error"]["code"] == UNAVAILABLE
            assert body["error"]["data"] == {"reason": "connection", "request_id": "rid-1"}
            assert body["error"]["message"] == (
                "Rate limiter unavailable: the rate-limit store (Redis) is unreachable; "
                "try again shortly"
            )
            assert (await c_open.post("/mcp", json=_call("fetch"))).status_code == 200
            server.start()
            assert (await c_closed.post("/mcp", json=_call("fetch"))).status_code == 200
    finally:
        await closed.aclose()
        await opened.aclose()


# --- one real server ---------------------------------------------------------------------


async def test_real_uvicorn_behind_the_real_front_of_the_chain(redis_url: str) -> None:
    settings = load_settings(redis_url=redis_url, rate_limit_tools={"search": "1/minute"})
    policy = build_limiter(settings, SPECS)
    assert policy is not None
    app = ObserveMiddleware(
        BodyMiddleware(RateLimitMiddleware(echo_app, policy=policy), max_bytes=65536),
        paths={"/mcp"},
    )
    try:
        async with (
            serving_asgi(app, lifespan="off") as srv,
            httpx.AsyncClient(base_url=srv.url) as client,
        ):
            assert (await client.post("/mcp", json=_call("search"))).status_code == 200
            resp = await client.post(
                "/mcp", json=_call("search", 3), headers={"x-request-id": "abc-123"}
            )
            assert resp.status_code == 429
            assert resp.headers["x-request-id"] == "abc-123"
            assert resp.headers["ratelimit-policy"] == '"search";q=1;w=60'
            assert 1 <= int(resp.headers["retry-after"]) <= 60
            error = resp.json()["error"]
            assert error["code"] == RATE_LIMITED
            assert error["data"]["request_id"] == "abc-123"
    finally:
        await policy.aclose()
