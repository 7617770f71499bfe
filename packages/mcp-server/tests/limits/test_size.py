"""ResponseSizeMiddleware through a real FastMCP server and an in-memory client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.tools import ToolResult
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from mcp_fastapi_server._paging import WIRE_RESERVE_BYTES
from mcp_fastapi_server.limits import ResponseSizeMiddleware


class Blob(BaseModel):
    data: str
    n: int


def make_server(middleware: ResponseSizeMiddleware) -> FastMCP[Any]:
    mcp: FastMCP[Any] = FastMCP("size-test", middleware=[middleware])

    @mcp.tool
    def blob(size: int) -> Blob:
        """Structured result of about 2 * size bytes (text mirror + structured content)."""
        return Blob(data="x" * size, n=size)

    @mcp.tool
    def emoji(count: int) -> str:
        """Each emoji is 12 bytes on the wire as an ASCII escape."""
        return "😀" * count

    @mcp.tool
    def raw(size: int) -> ToolResult:
        """Hand-built result with _meta."""
        return ToolResult(content=[TextContent(type="text", text="y" * size)], meta={"k": "v"})

    @mcp.tool
    def other(size: int) -> Blob:
        """Same as blob, different name (for per-tool limits)."""
        return Blob(data="z" * size, n=size)

    return mcp


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def wire_size(result: CallToolResult) -> int:
    body = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return len(json.dumps(body, separators=(",", ":")))


async def test_result_that_fits_passes_untouched() -> None:
    async with Client(make_server(ResponseSizeMiddleware(default=4096))) as client:
        result = await client.call_tool_mcp("blob", {"size": 1000})
    assert not result.is_error
    assert result.structured_content == {"data": "x" * 1000, "n": 1000}
    assert json.loads(text_of(result)) == result.structured_content
    assert wire_size(result) <= 4096


async def test_oversized_result_becomes_a_named_tool_error() -> None:
    seen: list[str] = []
    mw = ResponseSizeMiddleware(default=4096, on_oversize=seen.append)
    async with Client(make_server(mw)) as client:
        result = await client.call_tool_mcp("blob", {"size": 3000})
    assert result.is_error
    assert result.structured_content is None
    text = text_of(result)
    assert "'blob'" in text
    assert "4096" in text
    assert "MCP_MAX_RESPONSE_BYTES" in text
    size = int(text.split(" is ", 1)[1].split(" ", 1)[0])
    assert size > 6000  # both copies counted
    assert seen == ["blob"]


async def test_boundary_is_measured_on_the_ascii_wire_form() -> None:
    # 100 emoji are 400 bytes of UTF-8 but 1200 bytes as JSON ASCII escapes, per copy.
    async with Client(make_server(ResponseSizeMiddleware(default=2048))) as client:
        small = await client.call_tool_mcp("emoji", {"count": 60})
        big = await client.call_tool_mcp("emoji", {"count": 100})
    assert not small.is_error
    assert wire_size(small) <= 2048
    assert big.is_error


async def test_every_passing_result_fits_its_limit_on_the_wire() -> None:
    limit = 3000
    async with Client(make_server(ResponseSizeMiddleware(default=limit))) as client:
        for size in range(0, 3000, 37):
            result = await client.call_tool_mcp("blob", {"size": size})
            if not result.is_error:
                assert wire_size(result) <= limit
            else:
                assert size * 2 > limit - WIRE_RESERVE_BYTES - 200


async def test_per_tool_limits_override_the_default() -> None:
    mw = ResponseSizeMiddleware(limits={"other": 20_000}, default=2048)
    assert mw.limit_for("other") == 20_000
    assert mw.limit_for("blob") == 2048
    async with Client(make_server(mw)) as client:
        assert (await client.call_tool_mcp("blob", {"size": 5000})).is_error
        other = await client.call_tool_mcp("other", {"size": 5000})
    assert not other.is_error
    assert other.structured_content == {"data": "z" * 5000, "n": 5000}


async def test_results_with_meta_are_measured_too() -> None:
    async with Client(make_server(ResponseSizeMiddleware(default=2048))) as client:
        ok = await client.call_tool_mcp("raw", {"size": 1000})
        too_big = await client.call_tool_mcp("raw", {"size": 1900})
    assert not ok.is_error
    assert ok.meta is not None
    assert ok.meta.get("k") == "v"
    assert too_big.is_error


async def test_other_methods_are_untouched() -> None:
    async with Client(make_server(ResponseSizeMiddleware(default=1024))) as client:
        tools = await client.list_tools()
    assert {t.name for t in tools} == {"blob", "emoji", "raw", "other"}


@pytest.mark.parametrize(
    "kwargs", [{"default": 0}, {"limits": {"x": 0}}, {"limits": {"x": -5}, "default": 10}]
)
def test_limits_must_be_positive(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive"):
        ResponseSizeMiddleware(**kwargs)
