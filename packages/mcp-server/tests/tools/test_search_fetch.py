"""``search`` and ``fetch`` through a real FastMCP server and an in-memory client.

Sizes are checked on the result as the client receives it, serialized the way modern
streamable HTTP writes it (``json.dumps`` with ASCII escapes, the widest form).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.tools import Tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_types import CallToolResult, TextContent

from mcp_fastapi_server import Services
from mcp_fastapi_server._paging import WIRE_RESERVE_BYTES, CursorCodec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.documents import DocumentSource, SqliteFtsSource, samples_dir
from mcp_fastapi_server.limits import ResponseSizeMiddleware
from mcp_fastapi_server.tools._fetch import SPEC as FETCH
from mcp_fastapi_server.tools._search import SPEC as SEARCH

SAMPLES = SqliteFtsSource.from_directory(samples_dir())


def make_server(
    source: DocumentSource, *, max_bytes: int = 65536, page_size: int = 20, secret: str = "k"
) -> FastMCP[Any]:
    cfg = load_settings(max_response_bytes=max_bytes, page_size=page_size)
    services = Services(settings=cfg, documents=source, cursors=CursorCodec(secret))
    mcp: FastMCP[Any] = FastMCP("test", middleware=[ResponseSizeMiddleware(default=max_bytes)])
    for spec in (SEARCH, FETCH):
        mcp.add_tool(
            Tool.from_function(
                spec.build(services),
                name=spec.name,
                description=spec.description,
                annotations=spec.annotations,
            )
        )
    return mcp


def wire_size(result: CallToolResult) -> int:
    body = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return len(json.dumps(body, separators=(",", ":")))


async def call(client: Client[Any], tool: str, **args: Any) -> CallToolResult:
    return await client.call_tool_mcp(tool, {k: v for k, v in args.items() if v is not None})


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return text_of(result)


async def read_all(client: Client[Any], doc_id: str, limit: int) -> tuple[str, list[int]]:
    parts, sizes, cursor = [], [], None
    while True:
        result = await call(client, "fetch", id=doc_id, cursor=cursor)
        assert not result.is_error, result.content
        sc = result.structured_content
        assert sc is not None
        size = wire_size(result)
        assert size <= limit
        # the JSON mirror in `content` is the same object (for content-only clients)
        assert json.loads(text_of(result)) == sc
        parts.append(sc["text"])
        sizes.append(size)
        cursor = sc["next_cursor"]
        if cursor is None:
            return "".join(parts), sizes


# fetch --------------------------------------------------------------------------------

pieces = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(['"', "\\", "\n", "\t", "\x00", "\x7f", "é", "€", "東", "😀", "𝄞", "\u2028"]),
    st.sampled_from(["word ", "the ", "Widget "]),
)
texts = st.lists(pieces, max_size=1500).map("".join)


@given(text=texts, limit=st.integers(1200, 6000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fetch_pages_fit_and_reassemble_exactly(text: str, limit: int) -> None:
    source = SqliteFtsSource.from_documents([("doc/ü", "# Title 😀\n" + text)])
    original = source.get_now("doc/ü")
    assert original is not None

    async def run() -> tuple[str, list[int]]:
        async with Client(make_server(source, max_bytes=limit)) as client:
            return await read_all(client, "doc/ü", limit)

    joined, sizes = asyncio.run(run())
    assert joined == original.text
    for size in sizes[:-1]:  # every page but the last is full, give or take one character
        assert size >= limit - WIRE_RESERVE_BYTES - 64


async def test_sample_documents_read_whole_at_the_default_limit() -> None:
    async with Client(make_server(SAMPLES)) as client:
        for hit in (await SAMPLES.list(offset=0, limit=100)).hits:
            result = await call(client, "fetch", id=hit.id)
            sc = result.structured_content
            assert sc is not None
            assert sc["next_cursor"] is None
            doc = SAMPLES.get_now(hit.id)
            assert doc is not None
            assert sc == {
                "id": doc.id,
                "title": doc.title,
                "text": doc.text,
                "url": doc.url,
                "metadata": doc.metadata,
                "next_cursor": None,
            }


async def test_emoji_and_quote_heavy_document_at_the_smallest_limit() -> None:
    text = ('😀"\\\n' * 300) + "end"
    source = SqliteFtsSource.from_documents([("heavy", text)])
    async with Client(make_server(source, max_bytes=1024)) as client:
        joined, sizes = await read_all(client, "heavy", 1024)
    assert joined == text
    assert len(sizes) > 10


async def test_unknown_id_is_a_tool_error() -> None:
    async with Client(make_server(SAMPLES)) as client:
        result = await call(client, "fetch", id="no/such/doc")
    assert "Unknown document id 'no/such/doc'" in error_text(result)


async def test_fetch_cursor_errors() -> None:
    source = SqliteFtsSource.from_documents([("a", "alpha " * 2000), ("b", "beta " * 2000)])
    async with Client(make_server(source, max_bytes=2048)) as client:
        first = await call(client, "fetch", id="a")
        cursor = first.structured_content["next_cursor"]
        assert cursor
        other_doc = await call(client, "fetch", id="b", cursor=cursor)
        assert "another document" in error_text(other_doc)
        tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
        bad = await call(client, "fetch", id="a", cursor=tampered)
        assert error_text(bad).startswith("Invalid cursor")
        garbage = await call(client, "fetch", id="a", cursor="not a cursor")
        assert "Invalid cursor" in error_text(garbage)
        search_cursor = await call(client, "search", query="alpha beta", limit=1)
        foreign = await call(
            client,
            "fetch",
            id="a",
            cursor=search_cursor.structured_content["next_cursor"],
        )
        assert "issued by 'search', not 'fetch'" in error_text(foreign)


async def test_changed_document_invalidates_its_cursor() -> None:
    old = SqliteFtsSource.from_documents([("a", "version one " * 1000)])
    new = SqliteFtsSource.from_documents([("a", "version two " * 1000)])
    async with Client(make_server(old, max_bytes=2048, secret="shared")) as client:
        cursor = (await call(client, "fetch", id="a")).structured_content["next_cursor"]
    async with Client(make_server(new, max_bytes=2048, secret="shared")) as client:
        result = await call(client, "fetch", id="a", cursor=cursor)
    assert "document changed" in error_text(result)


async def test_metadata_too_large_for_the_limit_is_a_clear_error() -> None:
    source = SqliteFtsSource.from_documents([("a" * 1000, "text")])
    async with Client(make_server(source, max_bytes=1024)) as client:
        result = await call(client, "fetch", id="a" * 1000)
    assert "MCP_MAX_RESPONSE_BYTES" in error_text(result)


# search -------------------------------------------------------------------------------


async def test_search_shape_and_output_schemas() -> None:
    async with Client(make_server(SAMPLES)) as client:
        result = await call(client, "search", query="install widgets")
        tools = {t.name: t for t in await client.list_tools()}
    sc = result.structured_content
    assert sc is not None
    assert set(sc) == {"results", "next_cursor"}
    assert sc["results"][0]["id"] == "guides/install"
    assert set(sc["results"][0]) == {"id", "title", "url", "snippet"}
    assert set(tools["search"].output_schema["properties"]) == {"results", "next_cursor"}
    assert set(tools["fetch"].output_schema["properties"]) == {
        "id", "title", "text", "url", "metadata", "next_cursor"
    }  # fmt: skip
    for tool in tools.values():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint


@pytest.mark.parametrize("query", ["", '"', "*", "NEAR(", "AND OR NOT", "   "])
async def test_odd_queries_give_results_or_nothing_never_errors(query: str) -> None:
    async with Client(make_server(SAMPLES)) as client:
        result = await call(client, "search", query=query)
    assert not result.is_error
    assert result.structured_content is not None


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_limit_is_bounded(limit: int) -> None:
    async with Client(make_server(SAMPLES)) as client:
        result = await call(client, "search", query="widget", limit=limit)
    assert "limit" in error_text(result)


async def test_default_limit_is_the_page_size() -> None:
    async with Client(make_server(SAMPLES, page_size=3)) as client:
        result = await call(client, "search", query="widget")
    assert len(result.structured_content["results"]) == 3
    assert result.structured_content["next_cursor"]


async def test_search_cursor_is_bound_to_the_query() -> None:
    async with Client(make_server(SAMPLES)) as client:
        first = await call(client, "search", query="widget", limit=2)
        cursor = first.structured_content["next_cursor"]
        other = await call(client, "search", query="widgets", limit=2, cursor=cursor)
        assert "different query" in error_text(other)
        fetch_cursor = None
        big = SqliteFtsSource.from_documents([("a", "x " * 5000)])
        async with Client(make_server(big, max_bytes=2048)) as other_client:
            fetch_cursor = (await call(other_client, "fetch", id="a")).structured_content[
                "next_cursor"
            ]
        foreign = await call(client, "search", query="widget", cursor=fetch_cursor)
        assert "Invalid cursor" in error_text(foreign)


QUERIES = ["widget", "acme widgets", "api token", "the", "error", "data feed"]


@given(
    query=st.sampled_from(QUERIES),
    limits=st.lists(st.integers(1, 7), min_size=1, max_size=30),
    max_bytes=st.sampled_from([2048, 4096, 65536]),
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_search_pages_have_no_overlap_and_no_gap(
    query: str, limits: list[int], max_bytes: int
) -> None:
    async def run() -> tuple[list[str], list[str]]:
        async with Client(make_server(SAMPLES)) as client:
            whole = await call(client, "search", query=query, limit=100)
            assert whole.structured_content is not None
        async with Client(make_server(SAMPLES, max_bytes=max_bytes)) as client:
            paged: list[str] = []
            cursor = None
            for i in range(200):
                result = await call(
                    client, "search", query=query, cursor=cursor, limit=limits[i % len(limits)]
                )
                assert not result.is_error
                assert wire_size(result) <= max_bytes
                sc = result.structured_content
                assert sc is not None
                paged += [r["id"] for r in sc["results"]]
                cursor = sc["next_cursor"]
                if cursor is None:
                    break
            return [r["id"] for r in whole.structured_content["results"]], paged

    whole, paged = asyncio.run(run())
    assert 0 < len(whole) < 100
    assert paged == whole


async def test_search_page_over_the_size_limit_is_cut_and_continued() -> None:
    async with Client(make_server(SAMPLES, max_bytes=1500)) as client:
        first = await call(client, "search", query="widget", limit=100)
        assert not first.is_error
        assert wire_size(first) <= 1500
        sc = first.structured_content
        assert sc is not None
        assert 1 <= len(sc["results"]) < 10
        assert sc["next_cursor"]
