"""ObserveMiddleware: request ids on every answer, one access line, metrics; real HTTP."""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from mcp_fastapi_server.core import RATE_LIMITED, current_request_id, get_request_context
from mcp_fastapi_server.http import (
    BodyMiddleware,
    ObserveMiddleware,
    metrics_route,
    send_jsonrpc_error,
)
from mcp_fastapi_server.observability import JsonFormatter, Metrics, RequestIdFilter
from mcp_testkit.asgi import running_asgi

HEX32 = re.compile(r"[0-9a-f]{32}")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class LineQueue:
    """A stream for a logging handler: each formatted line becomes a parsed JSON object."""

    def __init__(self) -> None:
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line:
                self.lines.put(orjson.loads(line))

    def flush(self) -> None:
        pass

    def next(self, **match: Any) -> dict[str, Any]:
        """The next line whose fields equal ``match`` (lines in between are skipped)."""
        while True:
            line = self.lines.get(timeout=10)  # the server thread logs after it answers
            if all(line.get(k) == v for k, v in match.items()):
                return line


@pytest.fixture
def log_lines() -> Iterator[LineQueue]:
    """Our JSON formatter on the root logger, as configure_logging would install it."""
    sink = LineQueue()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield sink
    root.removeHandler(handler)
    root.setLevel(saved_level)


# --- a dummy inner app: answers like the inner middleware would -----------------------


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers by path, the way auth/limit middleware and FastMCP would."""
    ctx = get_request_context(scope)
    path = scope["path"]
    if path == "/mcp/limited":
        await send_jsonrpc_error(send, status=429, code=RATE_LIMITED, message="slow down",
                                 headers=[(b"retry-after", b"3")])  # fmt: skip
        return
    if path == "/mcp/boom":
        raise RuntimeError("bug in the app")
    if path == "/mcp/denied":
        assert ctx is not None
        ctx.outcome = "denied"  # explicit outcome wins over the status
        await send_jsonrpc_error(send, status=401, code=-32001, message="no token")
        return
    body = orjson.dumps(
        {
            "client_addr": ctx.client_addr if ctx else None,
            "traceparent": ctx.traceparent if ctx else None,
            "request_id": ctx.request_id if ctx else None,
            "contextvar": current_request_id.get(),
        }
    )
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body[:10], "more_body": True})
    await send({"type": "http.response.body", "body": body[10:]})


def _observed(registry: CollectorRegistry, **kw: Any) -> tuple[ObserveMiddleware, Metrics]:
    metrics = Metrics(registry, known_tools={"search"})
    paths = kw.pop("paths", lambda p: p.startswith("/mcp"))
    return ObserveMiddleware(inner, paths=paths, metrics=metrics, **kw), metrics


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.9", 1234)),
        base_url="http://127.0.0.1",
    )


async def test_request_id_taken_validated_or_generated(log_lines: LineQueue) -> None:
    app, _ = _observed(CollectorRegistry())
    async with _client(app) as client:
        given = await client.get("/mcp", headers={"X-Request-ID": "abc-123"})
        corr = await client.get("/mcp", headers={"X-Correlation-ID": "corr:7"})
        bad = await client.get("/mcp", headers={"X-Request-ID": 'evil" id' + "x" * 200})
        none = await client.get("/mcp")
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    assert given.json()["contextvar"] == "abc-123"  # inner middleware logs carry it
    assert corr.headers["x-request-id"] == "corr:7"
    assert HEX32.fullmatch(bad.headers["x-request-id"])
    assert HEX32.fullmatch(none.headers["x-request-id"])
    assert bad.headers["x-request-id"] != none.headers["x-request-id"]
    assert log_lines.next(logger="mcp_fastapi_server.access")["request_id"] == "abc-123"
    assert log_lines.next(logger="mcp_fastapi_server.access")["request_id"] == "corr:7"
    assert (
        log_lines.next(logger="mcp_fastapi_server.access")["request_id"]
        == bad.headers["x-request-id"]
    )
    assert current_request_id.get() is None  # reset after the request


async def test_access_line_fields_and_status_outcomes(log_lines: LineQueue) -> None:
    registry = CollectorRegistry()
    app, _ = _observed(registry)
    async with _client(app) as client:
        ok = await client.get("/mcp")
        limited = await client.post("/mcp/limited", headers={"X-Request-ID": "r-429"})
        denied = await client.post("/mcp/denied", headers={"X-Request-ID": "r-401"})
    assert ok.status_code == 200
    line = log_lines.next(logger="mcp_fastapi_server.access")
    assert set(line) >= {
        "time", "level", "request_id", "transport", "method", "tool", "subject",
        "outcome", "status", "duration_ms", "response_bytes",
    }  # fmt: skip
    assert line["transport"] == "http"
    assert line["outcome"] == "ok"
    assert line["status"] == 200
    assert line["response_bytes"] == len(ok.content)
    assert isinstance(line["duration_ms"], float)
    assert line["method"] is None

    assert limited.status_code == 429
    assert limited.headers["x-request-id"] == "r-429"
    assert limited.headers["retry-after"] == "3"
    assert log_lines.next(request_id="r-429")["outcome"] == "rate_limited"
    assert denied.status_code == 401
    assert denied.headers["x-request-id"] == "r-401"
    assert log_lines.next(request_id="r-401")["outcome"] == "denied"
    sample = registry.get_sample_value
    assert sample("mcp_requests_total", {"method": "none", "tool": "", "outcome": "rate_limited"})
    assert sample("mcp_requests_total", {"method": "none", "tool": "", "outcome": "denied"}) == 1


async def test_unhandled_error_becomes_500_with_request_id(log_lines: LineQueue) -> None:
    app, _ = _observed(CollectorRegistry())
    async with _client(app) as client:
        resp = await client.post("/mcp/boom", headers={"X-Request-ID": "r-500"})
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "r-500"
    assert resp.json()["error"]["data"] == {"request_id": "r-500"}
    tb = log_lines.next(logger="mcp_fastapi_server.http")
    assert tb["request_id"] == "r-500"
    assert "bug in the app" in tb["exc"]
    access = log_lines.next(logger="mcp_fastapi_server.access")
    assert (access["outcome"], access["status"], access["level"]) == ("error", 500, "WARNING")


async def test_client_address_and_traceparent() -> None:
    untrusted, _ = _observed(CollectorRegistry())
    trusted, _ = _observed(CollectorRegistry(), trust_proxy_headers=True)
    headers = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "traceparent": TRACEPARENT}
    async with _client(untrusted) as client:
        plain = (await client.get("/mcp", headers=headers)).json()
        bad_tp = (await client.get("/mcp", headers={"traceparent": "00-zz"})).json()
    async with _client(trusted) as client:
        proxied = (await client.get("/mcp", headers=headers)).json()
    assert plain["client_addr"] == "10.0.0.9"  # a client cannot pick its own rate-limit key
    assert proxied["client_addr"] == "203.0.113.7"
    assert plain["traceparent"] == TRACEPARENT
    assert bad_tp["traceparent"] is None


async def test_other_paths_pass_through_untouched(log_lines: LineQueue) -> None:
    app, _ = _observed(CollectorRegistry(), paths={"/mcp"})
    async with _client(app) as client:
        other = await client.get("/api/items")
        exact = await client.get("/mcp")
    assert "x-request-id" not in other.headers
    assert other.json()["request_id"] is None  # no RequestContext was created
    assert "x-request-id" in exact.headers
    assert (
        log_lines.next(logger="mcp_fastapi_server.access")["request_id"]
        == exact.headers["x-request-id"]
    )
    rest = [log_lines.lines.get_nowait() for _ in range(log_lines.lines.qsize())]
    assert [x for x in rest if x["logger"] == "mcp_fastapi_server.access"] == []


# --- the real chain: observe -> body -> FastMCP, over uvicorn ---------------------------


def _mcp_app(registry: CollectorRegistry) -> tuple[Starlette, Metrics]:
    metrics = Metrics(registry)
    mcp = FastMCP("observe-test")  # stateless: no FastMCP-side correlation middleware

    @mcp.tool
    async def echo(text: str) -> str:
        """Echo, logging from inside the tool."""
        logging.getLogger("team.tool").info("echoing", extra={"chars": len(text)})
        return text

    @mcp.tool
    async def fail() -> str:
        """Always a tool error."""
        raise ToolError("nope")

    mcp_app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    chain = ObserveMiddleware(
        BodyMiddleware(mcp_app, max_bytes=4096),
        paths={"/mcp"},
        metrics=metrics,
        known_tools={"echo", "fail"},
    )
    app = Starlette(
        routes=[metrics_route("/metrics", metrics), Mount("/", app=chain)],
        lifespan=mcp_app.lifespan,
    )
    return app, metrics


@pytest.mark.parametrize("era", ["auto", "legacy"])  # 2026-07-28 and the handshake era
async def test_full_chain_over_http(log_lines: LineQueue, era: str) -> None:
    registry = CollectorRegistry()
    app, _ = _mcp_app(registry)
    with running_asgi(app) as server:
        url = f"{server.url}/mcp"
        transport = StreamableHttpTransport(url, headers={"X-Request-ID": "chain-1"})
        async with Client(transport, mode=era) as client:
            result = await client.call_tool("echo", {"text": "hi"})
            assert result.data == "hi"
            bad = await client.call_tool("fail", {}, raise_on_error=False)
            assert bad.is_error
            unknown = await client.call_tool("ghost", {}, raise_on_error=False)
            assert unknown.is_error
        async with httpx.AsyncClient() as raw:
            accept = "application/json, text/event-stream"
            garbage = await raw.post(
                url,
                content=b"{not json",
                headers={"content-type": "application/json", "accept": accept},
            )
            huge = await raw.post(url, content=b"x" * 5000, headers={"X-Request-ID": "big-1"})
            scrape = await raw.get(f"{server.url}/metrics")

    tool_line = log_lines.next(logger="team.tool")
    assert tool_line["request_id"] == "chain-1"  # set inside FastMCP's handler task
    assert tool_line["chars"] == 2
    access = log_lines.next(logger="mcp_fastapi_server.access", method="tools/call", tool="echo")
    assert access["request_id"] == "chain-1"
    assert (access["outcome"], access["status"], access["transport"]) == ("ok", 200, "http")
    assert access["response_bytes"] > 0
    assert (
        log_lines.next(logger="mcp_fastapi_server.access", tool="fail")["outcome"] == "tool_error"
    )
    assert (
        log_lines.next(logger="mcp_fastapi_server.access", tool="ghost")["outcome"] == "tool_error"
    )

    assert garbage.status_code == 400
    rid = garbage.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert garbage.json()["error"]["data"]["request_id"] == rid
    assert (
        log_lines.next(logger="mcp_fastapi_server.access", request_id=rid)["outcome"] == "invalid"
    )
    assert huge.status_code == 413
    assert huge.headers["x-request-id"] == "big-1"
    assert (
        log_lines.next(logger="mcp_fastapi_server.access", request_id="big-1")["outcome"]
        == "too_large"
    )

    assert scrape.status_code == 200
    assert "x-request-id" not in scrape.headers  # not the MCP path
    text = scrape.text
    assert 'mcp_requests_total{method="tools/call",outcome="ok",tool="echo"} 1.0' in text
    assert 'mcp_requests_total{method="tools/call",outcome="tool_error",tool="fail"} 1.0' in text
    assert 'mcp_requests_total{method="tools/call",outcome="tool_error",tool="other"} 1.0' in text
    assert 'mcp_requests_total{method="none",outcome="too_large",tool=""} 1.0' in text
    assert "ghost" not in text


def test_one_log_line_per_request_at_info(caplog: pytest.LogCaptureFixture) -> None:
    # The SDK's per-request "Terminating session: None" (a stateless transport ending with
    # its request) doubled the log volume; the access line is the one line per request.
    from fastapi import FastAPI

    from mcp_fastapi_server import Settings, mount_mcp

    app = FastAPI()
    mount_mcp(app, Settings())
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        "x-request-id": "one-line-1",
    }
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "health", "arguments": {}}}  # fmt: skip
    with caplog.at_level(logging.INFO), running_asgi(app) as server:
        resp = httpx.post(f"{server.url}/mcp", json=call, headers=headers)
        assert resp.status_code == 200
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "one-line-1"]
    assert [(r.name, r.getMessage()) for r in mine] == [("mcp_fastapi_server.access", "access")]
    assert not [r for r in caplog.records if r.getMessage() == "Terminating session: None"]
