"""``fetch``: one whole document, cut to the response-size limit and continued by cursor.

Size accounting. We return the pydantic model and let FastMCP do what it does with one:
``structured_content`` holds the object and ``content`` holds the same object as JSON
text. The spec asks tools with structured output to mirror it that way, and clients that
read only ``content`` (ChatGPT-style connectors call exactly these ``search``/``fetch``
shapes) need the mirror to see the text and ``next_cursor``. The price is that the text
counts twice, and is escaped twice in the mirror, so :func:`_mirrored_cost` charges both
copies. Both are charged at their widest wire form (ASCII escapes, as modern streamable
HTTP sends them), so a page fits on every transport.

The cursor holds the document id, the character offset of the rest and a hash of the
text, so a document that changed between pages is refused instead of spliced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pydantic_core
from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult
from pydantic import BaseModel, Field

from mcp_fastapi_server._paging import (
    WIRE_RESERVE_BYTES,
    InvalidCursorError,
    longest_prefix,
    result_json_size,
)
from mcp_fastapi_server._registry import READ_ONLY, ToolSpec
from mcp_fastapi_server._services import Services

__all__ = ["CURSOR_KIND", "SPEC", "FetchResult", "build_fetch"]

CURSOR_KIND = "fetch"
MAX_ID_CHARS = 1024
# Widest wire cost of one character, both copies: an emoji is 12 bytes as "\\ud83d\\ude00"
# in structured content and 12 more in the mirror.
_MAX_CHAR_COST = 24


class FetchResult(BaseModel):
    """A document, or one page of it when ``next_cursor`` is set."""

    id: str
    title: str
    text: str = Field(description="The text, or the part of it that fits in one response.")
    url: str
    metadata: dict[str, Any]
    next_cursor: str | None = Field(
        None, description="Pass back as `cursor` (with the same id) for the rest of the text."
    )


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _mirrored_cost(chunk: str) -> int:
    """Wire bytes ``chunk`` adds to a result: once as a JSON string in structured content,
    once inside the JSON mirror (pydantic's escapes, then escaped again as a string)."""
    structured = len(json.dumps(chunk)) - 2
    mirror = pydantic_core.to_json(chunk).decode()[1:-1]
    return structured + len(json.dumps(mirror)) - 2


def build_fetch(services: Services) -> Callable[..., Awaitable[FetchResult]]:
    """The ``fetch`` tool bound to ``services.documents`` and ``services.cursors``."""
    documents, cursors = services.documents, services.cursors
    max_bytes = services.settings.max_response_bytes
    budget = max_bytes - WIRE_RESERVE_BYTES

    async def fetch(
        id: Annotated[
            str, Field(max_length=MAX_ID_CHARS, description="A document id from `search`.")
        ],
        cursor: Annotated[
            str | None, Field(description="`next_cursor` from the previous part.")
        ] = None,
    ) -> FetchResult:
        """Read a document by id. Long texts come in parts: pass `next_cursor` back as
        `cursor` (with the same id) until it is null."""
        doc = await documents.get(id)
        if doc is None:
            raise ToolError(f"Unknown document id {id!r}; use `search` to find document ids.")
        text = doc.text
        digest = _digest(text)
        start = 0
        if cursor:
            state = cursors.decode(CURSOR_KIND, cursor)
            if state.get("id") != id:
                raise InvalidCursorError(
                    "Invalid cursor: it belongs to another document; pass it with the id it "
                    "came with."
                )
            if state.get("h") != digest:
                raise InvalidCursorError(
                    "Invalid cursor: the document changed since this cursor was issued; "
                    "fetch it again without a cursor."
                )
            raw = state.get("o")
            if not isinstance(raw, int) or not 0 <= raw <= len(text):
                raise InvalidCursorError("Invalid cursor: malformed.")
            start = raw

        def page(body: str, next_cursor: str | None) -> FetchResult:
            return FetchResult(
                id=doc.id,
                title=doc.title,
                text=body,
                url=doc.url,
                metadata=doc.metadata,
                next_cursor=next_cursor,
            )

        # Everything but the text, with the longest cursor this document can need.
        longest = cursors.encode(CURSOR_KIND, {"id": id, "h": digest, "o": len(text)})
        frame = page("", longest)
        overhead = result_json_size(ToolResult(structured_content=frame.model_dump(mode="json")))
        end = longest_prefix(
            text, start, budget - overhead, _mirrored_cost, max_char_cost=_MAX_CHAR_COST
        )
        if end == start < len(text):
            raise ToolError(
                f"Document {id!r} cannot be sent: its title and metadata alone fill the "
                f"response limit of {max_bytes} bytes (MCP_MAX_RESPONSE_BYTES)."
            )
        rest = None
        if end < len(text):
            rest = cursors.encode(CURSOR_KIND, {"id": id, "h": digest, "o": end})
            services.on_truncated("fetch")
        return page(text[start:end], rest)

    return fetch


SPEC = ToolSpec(
    name="fetch",
    description=(
        "Read a document by the id `search` returned: title, text, url, metadata. Long texts "
        "come in parts; pass next_cursor back as cursor (same id) until it is null."
    ),
    factory=build_fetch,
    annotations=READ_ONLY,
)
