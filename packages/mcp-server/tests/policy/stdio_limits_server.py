"""A tiny MCP server for test_ratelimit_stdio.py: one tool, limited to 2 calls an hour.

Run over stdio by default; ``http <port>`` serves the same server over streamable HTTP.
"""

from __future__ import annotations

import sys

from fastmcp import FastMCP

from mcp_server.policy.ratelimit import MemoryBackend, RateLimitPolicy
from mcp_server.policy.stdio_limits import StdioRateLimitMiddleware
from mcp_server.settings import RateLimit


def build() -> FastMCP:
    policy = RateLimitPolicy(
        MemoryBackend(),
        default=RateLimit(100, 3600.0),
        tools={"echo": RateLimit(2, 3600.0)},
    )
    mcp = FastMCP("limited", middleware=[StdioRateLimitMiddleware(policy, subject="local:test")])

    @mcp.tool
    def echo(text: str) -> str:
        """Say it back."""
        return text

    return mcp


if __name__ == "__main__":
    server = build()
    if sys.argv[1:2] == ["http"]:
        server.run("http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        server.run(show_banner=False)
