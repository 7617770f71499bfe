"""The cached Host/Origin guard answers exactly like FastMCP's own, before and after caching."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from mcp_fastapi_server._settings import LOOPBACK_HOSTS, LOOPBACK_ORIGINS
from mcp_fastapi_server.http import CachedHostOriginGuard
from mcp_fastapi_server.http._host_guard import MAX_CACHED
from mcp_testkit.asgi import running_asgi


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_accepted_pairs_are_cached_refusals_never() -> None:
    inner = Counting()
    guard = CachedHostOriginGuard(
        inner, allowed_hosts=LOOPBACK_HOSTS, allowed_origins=LOOPBACK_ORIGINS
    )
    app = Starlette(routes=[Mount("/", app=guard)])
    with running_asgi(app) as server, httpx.Client(base_url=server.url) as http:
        port = server.url.rsplit(":", 1)[1]
        for _ in range(3):  # first through FastMCP's guard, then from the cache
            assert http.get("/mcp").status_code == 200
            same_origin = {"Origin": f"http://localhost:{port}"}
            assert http.get("/mcp", headers=same_origin).status_code == 200
        assert len(guard._accepted) == 2
        for _ in range(2):  # refusals are FastMCP's own answers, every time
            assert http.get("/mcp", headers={"Host": "evil.example"}).status_code == 421
            bad_origin = {"Origin": "https://evil.example"}
            answer = http.get("/mcp", headers=bad_origin)
            assert answer.status_code == 403
            assert answer.text == "Forbidden Origin"
        assert len(guard._accepted) == 2
    assert inner.calls == 6


def test_cache_is_bounded() -> None:
    inner = Counting()
    guard = CachedHostOriginGuard(inner, allowed_hosts=["*"], allowed_origins=["*"])
    app = Starlette(routes=[Mount("/", app=guard)])
    with running_asgi(app) as server, httpx.Client(base_url=server.url) as http:
        for i in range(MAX_CACHED + 20):
            origin = {"Origin": f"http://client-{i}.example"}
            assert http.get("/mcp", headers=origin).status_code == 200
    assert len(guard._accepted) == MAX_CACHED
