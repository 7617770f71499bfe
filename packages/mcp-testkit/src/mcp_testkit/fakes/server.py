"""A fake upstream MCP server with fault injection, for testing MCP clients for real.

Run it as ``python -m mcp_testkit.fakes.server --transport stdio|http [--port N]``.
Every option is also read from an environment variable (``FAKE_*``), so a stdio child
can be configured through its environment alone:

================================  ==================================================
``--log`` / FAKE_LOG              JSON-lines file: every tools/call (tool, pid, args,
                                  the request's ``_meta``) and, over HTTP, every
                                  request's headers
``--crash-after`` / FAKE_CRASH_AFTER   exit the process on the Nth tools/call
``--delay`` / FAKE_DELAY          seconds every tool call waits first (slow)
``--drift-file`` / FAKE_DRIFT_FILE     while this file exists, ``echo`` has a new description
``--drop-session-after`` /        HTTP: forget the session of the Nth tools/call (404)
FAKE_DROP_SESSION_AFTER
``--error-file`` / FAKE_ERROR_FILE     HTTP: while this file exists, answer every POST 503
================================  ==================================================

Tools: ``echo``, ``add``, ``pid``, ``slow``, ``hang`` (never returns), ``big`` (oversized
result), ``fail`` (isError), ``headers`` (the HTTP request's headers), ``meta`` (the
``_meta`` of the request, over any transport), ``write_note``
(not read-only), ``delete_all`` (the one no allowlist should ever let through) and ``ask``
(elicits :data:`ASK_SCHEMA`, whose optional fields have defaults, and returns the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_context, get_http_headers
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from mcp_types import (
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    ToolAnnotations,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_testkit.asgi import read_body, replay
from mcp_testkit.fakes.options import DRIFTED_DESCRIPTION, FakeOptions

__all__ = [
    "ASK_SCHEMA",
    "DRIFTED_DESCRIPTION",
    "FakeOptions",
    "build_server",
    "main",
    "wrap_http_app",
]

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)

#: What ``ask`` elicits: ``answer`` is required, the rest have SEP-1034 defaults.
ASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "color": {"type": "string", "default": "blue"},
        "count": {"type": "integer", "default": 3},
    },
    "required": ["answer"],
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Log:
    """Append-only JSON lines, safe across the server's tasks and threads."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        if self._path is None:
            return
        line = json.dumps({"pid": os.getpid(), **event}, sort_keys=True)
        with self._lock, self._path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class _Faults(Middleware):
    """Counts calls, logs them before running, crashes / slows / drifts on request."""

    def __init__(self, options: FakeOptions, log: _Log) -> None:
        self.options = options
        self.log = log
        self.calls = 0

    async def on_call_tool(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        self.calls += 1
        message = context.message
        self.log.write(
            {
                "event": "call",
                "tool": message.name,
                "args": message.arguments or {},
                "meta": _request_meta(),
            }
        )
        if self.options.crash_after and self.calls >= self.options.crash_after:
            sys.stderr.write(f"fake upstream: crashing on call {self.calls}\n")
            sys.stderr.flush()
            os._exit(3)
        if self.options.delay:
            await asyncio.sleep(self.options.delay)
        return await call_next(context)

    async def on_list_tools(
        self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]
    ) -> Any:
        tools = await call_next(context)
        drift = self.options.drift_file
        if drift is None or not drift.exists():
            return tools
        return [
            t.model_copy(update={"description": DRIFTED_DESCRIPTION}) if t.name == "echo" else t
            for t in tools
        ]


def _request_meta() -> dict[str, Any]:
    """The current request's raw ``params._meta`` (what the client sent)."""
    try:
        request = get_context().request_context
    except RuntimeError:  # no request being served
        return {}
    return dict(request.meta or {}) if request is not None else {}


def build_server(options: FakeOptions) -> FastMCP:
    """The fake server with every tool and the fault middleware."""
    log = _Log(options.log)
    mcp = FastMCP("fake-upstream", version="0.1.0", middleware=[_Faults(options, log)])

    @mcp.tool(annotations=READ_ONLY)
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    @mcp.tool(annotations=READ_ONLY)
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool(annotations=READ_ONLY)
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @mcp.tool(annotations=READ_ONLY)
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "done"

    @mcp.tool(annotations=READ_ONLY)
    async def hang() -> str:
        """Never answer."""
        await asyncio.Event().wait()
        return "unreachable"

    @mcp.tool(annotations=READ_ONLY)
    def big(size: int) -> str:
        """An oversized result of ``size`` characters."""
        return "x" * size

    @mcp.tool(annotations=READ_ONLY)
    def fail(reason: str = "requested failure") -> str:
        """Fail at tool level (an isError result)."""
        raise ToolError(reason)

    @mcp.tool(annotations=READ_ONLY)
    def headers() -> dict[str, str]:
        """The current HTTP request's headers (empty over stdio)."""
        return get_http_headers(include_all=True)

    @mcp.tool(annotations=READ_ONLY)
    def meta() -> dict[str, Any]:
        """The ``_meta`` of this tools/call request as received (``{}`` if none)."""
        return _request_meta()

    @mcp.tool(annotations=WRITE)
    def write_note(text: str) -> str:
        """Not read-only: a client must not retry it blindly."""
        log.write({"event": "note", "text": text})
        return "noted"

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    def delete_all() -> str:
        """Destructive: the canary of allowlists."""
        log.write({"event": "delete_all"})
        return "deleted everything"

    reached: dict[str, int] = {}
    reached_cond = asyncio.Condition()

    async def together_at(point: str, together: int) -> None:
        # A barrier across calls (one process serves them all), so tests can make
        # concurrent questions overlap without sleeping; bounded so a test fails, not hangs.
        async with reached_cond:
            reached[point] = reached.get(point, 0) + 1
            reached_cond.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    reached_cond.wait_for(lambda: reached[point] >= together), 20
                )

    @mcp.tool(annotations=READ_ONLY)
    async def ask(
        question: str, ctx: Context, together: int = 1
    ) -> dict[str, Any] | InputRequiredResult:
        """Elicit ``ASK_SCHEMA`` with ``question``; return the action and content received.

        ``together``: wait until that many ``ask`` calls (in total) are about to ask, and
        again until that many have their answer, so concurrent calls overlap.
        Handshake-era callers get a server-initiated ``elicitation/create``; 2026-07-28
        callers an ``InputRequiredResult`` (SEP-2322), then the tool reads the response.
        """
        request = ctx.request_context
        modern = request is not None and request.protocol_version in MODERN_PROTOCOL_VERSIONS
        if modern:
            responses = ctx.input_responses
            if not responses or "answer" not in responses:
                await together_at("ask", together)
                params = ElicitRequestFormParams(message=question, requested_schema=ASK_SCHEMA)
                return InputRequiredResult(input_requests={"answer": ElicitRequest(params=params)})
            result = ElicitResult.model_validate(responses["answer"].model_dump())
        else:
            await together_at("ask", together)
            result = await ctx.session.elicit(
                question, ASK_SCHEMA, related_request_id=ctx.request_id
            )
        await together_at("answered", together)
        answer = {"question": question, "action": result.action, "content": result.content}
        log.write({"event": "elicited", **answer})
        return answer

    return mcp


def wrap_http_app(app: ASGIApp, options: FakeOptions) -> ASGIApp:
    """ASGI hook: log request headers, drop sessions, inject 503s."""
    log = _Log(options.log)
    dropped: set[str] = set()
    calls = 0

    async def send_error(send: Send, status: int, code: int, message: str) -> None:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal calls
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        body = await read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            method = json.loads(body).get("method")
        except (ValueError, AttributeError):
            method = None
        log.write({"event": "http", "method": method, "headers": headers})
        session = headers.get("mcp-session-id")
        if options.error_file is not None and options.error_file.exists():
            await send_error(send, 503, -32603, "Service Unavailable")
            return
        if session is not None and session in dropped:
            await send_error(send, 404, -32600, "Session not found")
            return
        if method == "tools/call":
            calls += 1
            if options.drop_session_after and calls == options.drop_session_after and session:
                dropped.add(session)
                log.write({"event": "session_dropped", "session": session})
                await send_error(send, 404, -32600, "Session not found")
                return
        await app(scope, replay(body, receive), send)

    return wrapped


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, FakeOptions]:
    parser = argparse.ArgumentParser(prog="python -m mcp_testkit.fakes.server")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, default=_env_path("FAKE_LOG"))
    parser.add_argument(
        "--crash-after", type=int, default=int(os.environ.get("FAKE_CRASH_AFTER", "0"))
    )
    parser.add_argument("--delay", type=float, default=float(os.environ.get("FAKE_DELAY", "0")))
    parser.add_argument("--drift-file", type=Path, default=_env_path("FAKE_DRIFT_FILE"))
    parser.add_argument(
        "--drop-session-after",
        type=int,
        default=int(os.environ.get("FAKE_DROP_SESSION_AFTER", "0")),
    )
    parser.add_argument("--error-file", type=Path, default=_env_path("FAKE_ERROR_FILE"))
    ns = parser.parse_args(argv)
    options = FakeOptions(
        log=ns.log,
        crash_after=ns.crash_after,
        delay=ns.delay,
        drift_file=ns.drift_file,
        drop_session_after=ns.drop_session_after,
        error_file=ns.error_file,
    )
    return ns, options


def main(argv: list[str] | None = None) -> None:
    """Entry point: serve over stdio, or over HTTP at ``/mcp`` with uvicorn."""
    ns, options = _parse(argv)
    os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
    server = build_server(options)
    if ns.transport == "stdio":
        server.run("stdio", show_banner=False)
        return
    import uvicorn

    # Sessions on (stateful) so the legacy era has a session to lose.
    app = server.http_app(path="/mcp", stateless_http=False)
    uvicorn.run(
        wrap_http_app(app, options),
        host=ns.host,
        port=ns.port,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
