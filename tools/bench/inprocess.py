"""Our own code's cost per call, without sockets: the ASGI app called directly.

Served numbers (``run.py``) include the kernel, uvicorn and the event loop waiting; this
calls the app in-process with the same ``tools/call health`` request (2026-07-28 era), so
what is left is Python work. Two measures:

- CPU µs per call (``time.process_time`` over ``--calls`` calls after a warm-up);
- with ``--callgrind``, instructions per call under ``valgrind --tool=callgrind``: the
  difference between two runs (``--calls`` and 4× that) over the extra calls, so start-up
  and imports cancel out. Deterministic: a change is judged on instructions, not on a
  noisy clock.

    python tools/bench/inprocess.py full                    # CPU µs/call
    python tools/bench/inprocess.py bare mounted auth full --callgrind
    <older checkout>/.venv/bin/python tools/bench/inprocess.py auth --callgrind

Variants: ``bare`` (FastMCP alone, ``reference_server.py``), ``mounted`` (our app, every
layer off), ``auth`` (+ JWT HS256, one cached token), ``full`` (+ auth, rate limits on the
in-process backend, JSON logs to /dev/null, metrics). An older checkout whose package is
still ``mcp_server`` is measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

# Run as a script (``python tools/bench/inprocess.py``): make ``tools.bench`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jwt

__all__ = ["VARIANTS", "build_app", "main", "measure_cpu"]

VARIANTS = ("bare", "mounted", "auth", "full")
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
Message = MutableMapping[str, Any]


def build_app(variant: str) -> Any:
    """The ASGI app of ``variant`` (see the module docstring)."""
    os.environ.setdefault("MCP_LOG_LEVEL", "WARNING")
    if variant == "bare":
        from tools.bench.reference_server import build

        return build().http_app(path="/mcp", stateless_http=True, json_response=True)
    settings_type, create_app, configure_logging = _package()
    options: dict[str, Any] = {"rate_limit_enabled": False, "metrics_enabled": False}
    if variant in ("auth", "full"):
        options |= {
            "auth_mode": "jwt",
            "auth_jwt_secret": SECRET,
            "auth_jwt_algorithms": ["HS256"],
            "auth_jwt_audience": "bench",
        }
    if variant == "full":
        options |= {
            "rate_limit_enabled": True,
            "rate_limit_default": "1000000/second",
            "metrics_enabled": True,
            "log_level": "INFO",
        }
    app = create_app(settings_type(**options))
    if variant == "full":
        configure_logging(settings_type(log_level="INFO"), stream=open(os.devnull, "w"))  # noqa: SIM115
    return app


def _package() -> tuple[Any, Any, Any]:
    """``Settings``, ``create_app``, ``configure_logging`` of the installed server; an
    older checkout's package was still ``mcp_server``."""
    try:
        new = importlib.import_module("mcp_fastapi_server")
        observability = importlib.import_module("mcp_fastapi_server.observability")
        return new.Settings, new.create_app, observability.configure_logging
    except ImportError:
        old = importlib.import_module("mcp_server")
        app = importlib.import_module("mcp_server.app")
        observability = importlib.import_module("mcp_server.observability")
        return old.Settings, app.create_app, observability.configure_logging


def _request(variant: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "health", "arguments": {}, "_meta": meta},
        }
    ).encode()
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", b"2026-07-28"),
        (b"mcp-method", b"tools/call"),
        (b"mcp-name", b"health"),
        (b"content-length", str(len(body)).encode()),
    ]
    if variant in ("auth", "full"):
        now = int(time.time())
        claims = {"sub": "bench", "iat": now, "exp": now + 3600, "scope": "mcp", "aud": "bench"}
        headers.append((b"authorization", b"Bearer " + jwt.encode(claims, SECRET).encode()))
    return headers, body


async def _run(variant: str, calls: int, warmup: int) -> float:
    app = build_app(variant)
    headers, body = _request(variant)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
    }

    async def one() -> None:
        sent: list[Message] = []
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(dict(scope, state={}), receive, send)
        if sent[0].get("status") != 200:
            raise RuntimeError(f"{variant}: {sent}")

    lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
    lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
    await lifespan_in.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            lifespan_in.get,
            lifespan_out.put,
        )
    )
    await lifespan_out.get()
    for _ in range(warmup):
        await one()
    start = time.process_time()
    for _ in range(calls):
        await one()
    spent = time.process_time() - start
    await lifespan_in.put({"type": "lifespan.shutdown"})
    await lifespan_out.get()
    await task
    return spent / calls * 1e6


def measure_cpu(variant: str, calls: int, warmup: int = 200) -> float:
    """CPU µs per call of ``variant``, in this process."""
    return asyncio.run(_run(variant, calls, warmup))


def _instructions(variant: str, calls: int) -> int:
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        variant,
        "--calls",
        str(calls),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total: {done.stderr[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", choices=VARIANTS)
    parser.add_argument("--calls", type=int, default=None, help="3000 (CPU) or 100 (callgrind)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per call")
    args = parser.parse_args(argv)
    for variant in args.variants:
        if args.callgrind:
            low = args.calls or 100
            per_call = (_instructions(variant, 4 * low) - _instructions(variant, low)) / (3 * low)
            print(f"{variant}: {per_call:,.0f} instructions/call", flush=True)
        else:
            cpu = measure_cpu(variant, args.calls or 3000)
            print(f"{variant}: {cpu:.0f} µs CPU/call", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
