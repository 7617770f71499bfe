"""Serve any ASGI app with uvicorn on a free 127.0.0.1 port, in a background thread.

For tests that need a real HTTP transport in-process (a FastAPI app with MCP mounted, a
JWKS endpoint, a fake upstream). The lifespan runs, so FastMCP's session manager starts.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["RunningApp", "free_port", "running_asgi"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningApp:
    """A served app: ``url`` is ``http://127.0.0.1:<port>``."""

    url: str
    port: int
    server: uvicorn.Server


@contextmanager
def running_asgi(app: Any, *, timeout_s: float = 20.0, **config: Any) -> Iterator[RunningApp]:
    """Run ``app`` until the block exits; raises if it does not start within ``timeout_s``."""
    port = free_port()
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
