"""Serve any ASGI app with uvicorn on a free 127.0.0.1 port, in a background thread
(:func:`running_asgi`) or on the test's own event loop (:func:`serving_asgi`).

For tests that need a real HTTP transport in-process (a FastAPI app with MCP mounted, a
JWKS endpoint, a fake upstream). The lifespan runs, so FastMCP's session manager starts.
``read_body``/``replay`` serve test wrappers that look at a request body, then pass it on.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import Message, Receive

from mcp_testkit._process import free_port

__all__ = ["RunningApp", "free_port", "read_body", "replay", "running_asgi", "serving_asgi"]


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many ``http.request`` messages it came in."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands ``body`` (already read) to the app downstream, once.

    Later calls go to the original ``receive``, so the app still sees ``http.disconnect``.
    A wrapper that must look at the body before the app (fakes, test middleware) needs
    this; Starlette's ``Request`` caches the body only for its own use.
    """
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


@dataclass(frozen=True)
class RunningApp:
    """A served app: ``url`` is ``http://127.0.0.1:<port>``."""

    url: str
    port: int
    server: uvicorn.Server


@contextmanager
def running_asgi(
    app: Any, *, port: int | None = None, timeout_s: float = 20.0, **config: Any
) -> Iterator[RunningApp]:
    """Run ``app`` until the block exits; raises if it does not start within ``timeout_s``.

    ``port`` is for an app that must know its own URL before it is built (an OAuth server's
    issuer); pick it with :func:`free_port`. Default: a free port.
    """
    port = port or free_port()
    cfg = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        **config,
    )
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield RunningApp(url=f"http://127.0.0.1:{port}", port=port, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout_s)


@asynccontextmanager
async def serving_asgi(app: Any, **config: Any) -> AsyncIterator[RunningApp]:
    """Like :func:`running_asgi`, but as a task on the running event loop.

    For apps that hold loop-bound clients (``redis.asyncio``, anyio primitives) made by the
    test itself, which a second loop in a thread would break. The socket is bound before
    uvicorn starts, so there is no port race; a start-up error is raised here.
    ``config`` goes to ``uvicorn.Config`` (``log_level`` defaults to ``"warning"``).
    """
    config.setdefault("log_level", "warning")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, **config))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                    raise RuntimeError(f"uvicorn exited before it started on 127.0.0.1:{port}")
                await asyncio.sleep(0.01)
            yield RunningApp(url=f"http://127.0.0.1:{port}", port=port, server=server)
        finally:
            server.should_exit = True
            await task
