"""ScopeFilterMiddleware without HTTP (stdio / in-memory): no token, so nothing is filtered."""

from __future__ import annotations

from fastmcp import Client, FastMCP

from mcp_fastapi_server.auth import ScopePolicy
from mcp_fastapi_server.http import ScopeFilterMiddleware


async def test_without_http_every_tool_is_listed_and_callable() -> None:
    mcp = FastMCP("local")

    @mcp.tool
    async def admin_op() -> str:
        return "done"

    policy = ScopePolicy(required=frozenset({"mcp:use"}), tools={"admin_op": frozenset({"x"})})
    mcp.add_middleware(ScopeFilterMiddleware(policy))
    async with Client(mcp) as client:
        assert [t.name for t in await client.list_tools()] == ["admin_op"]
        assert (await client.call_tool("admin_op", {})).data == "done"
