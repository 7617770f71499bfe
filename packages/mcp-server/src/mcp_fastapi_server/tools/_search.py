"""``search``: ranked document search, paginated with signed cursors.

The cursor carries the absolute offset of the next page and a hash of the query, so pages
never overlap or leave gaps (the index is immutable) and a cursor cannot be replayed
against another query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult
from pydantic import BaseModel, Field

from mcp_fastapi_server._paging import WIRE_RESERVE_BYTES, InvalidCursorError, result_json_size
from mcp_fastapi_server._registry import READ_ONLY, ToolSpec
from mcp_fastapi_server._services import Services

__all__ = ["CURSOR_KIND", "MAX_LIMIT", "SPEC", "SearchResult", "SearchResultItem", "build_search"]

CURSOR_KIND = "search"
MAX_LIMIT = 100
MAX_QUERY_CHARS = 1000


class SearchResultItem(BaseModel):
    """One hit: pass ``id`` to ``fetch`` to read the whole document."""

    id: str
    title: str
    url: str
    snippet: str = Field(description="Matching passage; query words are marked **like this**.")


class SearchResult(BaseModel):
    """One page of hits, best first."""

    results: list[SearchResultItem]
    next_cursor: str | None = Field(
        None, description="Pass back as `cursor` (with the same query) for the next page."
    )


def _query_key(query: str) -> str:
    return hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def build_search(services: Services) -> Callable[..., Awaitable[SearchResult]]:
    """The ``search`` tool bound to ``services.documents`` and ``services.cursors``."""
    documents, cursors = services.documents, services.cursors
    default_limit = min(services.settings.page_size, MAX_LIMIT)
    budget = services.settings.max_response_bytes - WIRE_RESERVE_BYTES

    async def search(
        query: Annotated[str, Field(max_length=MAX_QUERY_CHARS, description="Words to look for.")],
        cursor: Annotated[
            str | None, Field(description="`next_cursor` from the previous page.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None,
    ) -> SearchResult:
        """Search the documents; returns ranked hits with snippets. Pass a hit's `id` to
        `fetch` to read it, and `next_cursor` back as `cursor` for more hits."""
        size = limit or default_limit
        offset = 0
        key = _query_key(query)
        if cursor:
            state = cursors.decode(CURSOR_KIND, cursor)
            if state.get("q") != key:
                raise InvalidCursorError(
                    "Invalid cursor: it belongs to a different query; repeat the same query "
                    "with it, or search again without a cursor."
                )
            raw = state.get("o")
            if not isinstance(raw, int) or raw < 0:
                raise InvalidCursorError("Invalid cursor: malformed.")
            offset = raw
        try:
            page = await documents.search(query, offset=offset, limit=size)
        except ValueError as exc:  # a team's source rejecting the query
            raise ToolError(f"Search failed: {exc}") from None
        items = [
            SearchResultItem(id=h.id, title=h.title, url=h.url, snippet=h.snippet)
            for h in page.hits
        ]
        has_more = page.has_more
        while True:
            result = SearchResult(
                results=items,
                next_cursor=(
                    cursors.encode(CURSOR_KIND, {"q": key, "o": offset + len(items)})
                    if has_more and items
                    else None
                ),
            )
            # A page over MCP_MAX_RESPONSE_BYTES (small limit, big page) keeps the hits
            # that fit and continues by cursor instead of failing in the size guard.
            used = result_json_size(ToolResult(structured_content=result.model_dump(mode="json")))
            if used <= budget or len(items) <= 1:
                return result
            items = items[: max(1, len(items) * budget // used)]
            has_more = True

    return search


SPEC = ToolSpec(
    name="search",
    description=(
        "Search the documents by keywords. Returns ranked results (id, title, url, snippet) "
        "and a next_cursor for more; read a result in full with `fetch`."
    ),
    factory=build_search,
    annotations=READ_ONLY,
)
