"""Per-request CPU cost of ObserveMiddleware (request id, header echo, access line, metrics).

Calls the ASGI app directly in one event loop, so only our code is measured (no sockets,
no uvicorn). Prints µs per request for: the bare app, observe with metrics and the access
line logged as JSON to /dev/null, and observe with the access logger disabled.

    uv run python tools/bench/observe_bench.py [requests]
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry

from mcp_fastapi_server.core import get_request_context
from mcp_fastapi_server.http import ObserveMiddleware
from mcp_fastapi_server.observability import JsonFormatter, Metrics, RequestIdFilter

BODY = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/mcp",
    "client": ("127.0.0.1", 50000),
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", b"2026-07-28"),
        (b"mcp-method", b"tools/call"),
        (b"mcp-name", b"search"),
        (b"x-request-id", b"bench-request-0001"),
        (b"content-length", b"120"),
    ],
}


async def app(scope: Any, receive: Any, send: Any) -> None:
    ctx = get_request_context(scope)
    if ctx is not None:  # what the body parser would have filled
        ctx.method, ctx.tool = "tools/call", "search"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": BODY})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def run(target: Any, n: int, rounds: int = 3) -> float:
    """CPU µs per request, the best of ``rounds`` (other load only ever adds time)."""
    for _ in range(2000):  # warm up caches and bound children
        await target(dict(SCOPE), receive, send)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(n):
            await target(dict(SCOPE), receive, send)
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives for the process
    handler = logging.StreamHandler(devnull)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("bench.access")
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO)
    silent = logging.getLogger("bench.silent")
    silent.setLevel(logging.WARNING)
    silent.propagate = False

    metrics = Metrics(CollectorRegistry(), known_tools={"search"})
    full = ObserveMiddleware(app, paths={"/mcp"}, metrics=metrics, logger=access)
    no_log = ObserveMiddleware(app, paths={"/mcp"}, metrics=metrics, logger=silent)
    no_obs = ObserveMiddleware(app, paths={"/mcp"}, metrics=None, logger=silent)

    async def bench() -> None:
        bare = await run(app, n)
        results = {
            "observe + metrics + JSON access line": await run(full, n),
            "observe + metrics, access logger off": await run(no_log, n),
            "observe only (no metrics, no log)": await run(no_obs, n),
        }
        print(f"python {sys.version.split()[0]}, {n} requests, CPU µs per request (best of 3)")
        print(f"  bare app                                   {bare:7.2f}")
        for name, value in results.items():
            print(f"  {name:<42} {value:7.2f}   (+{value - bare:.2f})")

    asyncio.run(bench())


if __name__ == "__main__":
    main()
