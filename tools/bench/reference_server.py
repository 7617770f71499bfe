"""The baseline every benchmark ratio is taken against: bare FastMCP, nothing of ours.

One ``async def health`` tool returning a small dict like ours, served the way FastMCP's
docs serve it: ``http_app(stateless_http=True, json_response=True)`` under uvicorn with the
same uvicorn settings as ``mcp-server serve`` (no access log), or over stdio.

    python tools/bench/reference_server.py --port 8001      # streamable HTTP at /mcp
    python tools/bench/reference_server.py --stdio
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fastmcp import FastMCP

__all__ = ["build"]

_STARTED = time.monotonic()


def build() -> FastMCP[Any]:
    mcp: FastMCP[Any] = FastMCP(name="reference")

    @mcp.tool
    async def health() -> dict[str, Any]:
        """Report the health of this server."""
        return {
            "status": "ok",
            "checks": {
                "process": {
                    "status": "ok",
                    "latency_ms": 0.0,
                    "detail": f"up {time.monotonic() - _STARTED:.0f} s",
                }
            },
        }

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--stdio", action="store_true")
    args = parser.parse_args()
    mcp = build()
    if args.stdio:
        mcp.run(transport="stdio", show_banner=False)
        return
    import uvicorn

    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
