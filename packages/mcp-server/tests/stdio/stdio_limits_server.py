"""A tiny MCP server for test_ratelimit_stdio.py: one tool, limited to 2 calls an hour.

Run as a script it serves stdio; the test also imports :func:`build` to serve it over HTTP.
"""

from __future__ import annotations

from fastmcp import FastMCP

from mcp_fastapi_server._settings import RateLimit
from mcp_fastapi_server.limits import MemoryBackend, RateLimitPolicy
from mcp_fastapi_server.stdio import StdioRateLimitMiddleware


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
    build().run(show_banner=False)
