"""A small stand-alone MCP server that is *not* ours: the testkit must work against any server.

``python demo_server.py serve --port N`` (HTTP, ``/healthz`` + ``/mcp``) or ``... stdio``.
Environment: ``DEMO_TOKEN`` turns on bearer auth (401 + ``WWW-Authenticate`` with
``resource_metadata``), ``DEMO_RATE_LIMIT=N`` answers 429 after N ``tools/call`` requests,
``DEMO_BROKEN_STDOUT=1`` prints a stray line to stdout (a purity bug, for negative tests),
``DEMO_CRASH_ON=<text>`` answers HTTP bodies containing the text with a 500,
``DEMO_PAGE_OVERLAP=1`` repeats the last item of each page on the next (a paging bug).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

import uvicorn
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp_types import ToolAnnotations

# Only the request-body plumbing comes from the testkit; the server itself stays foreign.
from mcp_testkit.asgi import read_body, replay

DOCS = {f"doc-{i:02d}": f"Document {i} about apples and pears. " * (1 + i) for i in range(23)}
DOCS["big"] = "".join(f"line {i:04d} of the big document\n" for i in range(400))
CHUNK = 1000
READ_ONLY = ToolAnnotations(read_only_hint=True)

mcp = FastMCP("demo")


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": "demo"}).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if data["k"] != "demo" or not isinstance(data["o"], int) or data["o"] < 0:
            raise ValueError
        return int(data["o"])
    except Exception:
        raise ToolError("invalid cursor") from None


@mcp.tool(annotations=READ_ONLY)
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@mcp.tool(annotations=READ_ONLY)
def search(query: str, cursor: str | None = None, limit: int = 5) -> dict[str, Any]:
    """Documents whose text contains ``query``, paginated."""
    hits = [doc_id for doc_id, text in DOCS.items() if query.lower() in text.lower()]
    start = _decode(cursor) if cursor else 0
    end = start + max(1, min(limit, 50))
    results = [{"id": doc_id, "title": doc_id} for doc_id in hits[start:end]]
    resume = end - 1 if os.environ.get("DEMO_PAGE_OVERLAP") and limit > 1 else end
    return {"results": results, "next_cursor": _encode(resume) if end < len(hits) else None}


@mcp.tool(annotations=READ_ONLY)
def fetch(id: str, cursor: str | None = None) -> dict[str, Any]:
    """One document, cut into chunks that follow with ``cursor``."""
    if id not in DOCS:
        raise ToolError(f"unknown id {id!r}")
    text = DOCS[id]
    start = _decode(cursor) if cursor else 0
    end = start + CHUNK
    next_cursor = _encode(end) if end < len(text) else None
    return {"id": id, "text": text[start:end], "next_cursor": next_cursor}


@mcp.tool
def shout(text: str) -> str:
    """Not read-only by annotation (a team may have such tools)."""
    return text.upper()


def http_app() -> Any:
    inner = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    token = os.environ.get("DEMO_TOKEN")
    limit = int(os.environ.get("DEMO_RATE_LIMIT", "0"))
    crash_on = os.environ.get("DEMO_CRASH_ON", "").encode()
    calls = 0

    async def answer(send: Any, status: int, body: dict[str, Any], headers: list[Any]) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), *headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        if scope["type"] != "http":
            return await inner(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").decode()
        if scope["path"] == "/healthz":
            return await answer(send, 200, {"status": "ok"}, [])
        if scope["path"].startswith("/.well-known/oauth-protected-resource") and token:
            meta = {"resource": f"http://{host}/mcp", "authorization_servers": []}
            return await answer(send, 200, meta, [])
        body = await read_body(receive)
        if crash_on and crash_on in body:
            return await answer(send, 500, {"error": "boom"}, [])
        if token and dict(scope["headers"]).get(b"authorization") != f"Bearer {token}".encode():
            metadata = f"http://{host}/.well-known/oauth-protected-resource/mcp"
            challenge = f'Bearer error="invalid_token", resource_metadata="{metadata}"'
            error = {"error": "invalid_token"}
            return await answer(send, 401, error, [(b"www-authenticate", challenge.encode())])
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        if limit and isinstance(message, dict) and message.get("method") == "tools/call":
            calls += 1
            if calls > limit:
                rpc_error: dict[str, Any] = {
                    "code": -32029,
                    "message": "rate limited",
                    "data": {"retry_after": 60},
                }
                rpc = {"jsonrpc": "2.0", "id": message.get("id"), "error": rpc_error}
                return await answer(send, 429, rpc, [(b"retry-after", b"60")])
        return await inner(scope, replay(body, receive), send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "stdio"])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.mode == "stdio":
        if os.environ.get("DEMO_BROKEN_STDOUT"):
            print("starting demo server")  # the bug a purity check must catch
        mcp.run("stdio", show_banner=False)
        return
    print(f"demo server on port {args.port}", file=sys.stderr)
    uvicorn.run(http_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
