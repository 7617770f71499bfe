"""What a team tells the contract suite about its server, and the checks built on that.

A probe names a real call on the team's server (tool, arguments, result keys); the suite
only knows MCP, not the team's domain, so it cannot invent a query that returns two pages.
The helpers here run over a connected fastmcp ``Client`` and raise ``AssertionError`` with
a message that says what broke.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastmcp import Client
from mcp import MCPError

__all__ = [
    "ContinuationProbe",
    "PaginationProbe",
    "RateLimitProbe",
    "call_expecting_error",
    "collect_continuation",
    "collect_pages",
]


@dataclass(frozen=True)
class PaginationProbe:
    """A paginated tool call: its pages must chain via the cursor with no overlap or gap.

    ``page_arg`` (e.g. ``"limit"``) lets the suite compare small pages against large ones,
    which is what proves "no gap"; without it only "no overlap, terminates" is checked.
    ``id_key=None`` compares whole items (for items without an id field). ``transports``
    limits the probe to some transports (e.g. data only the HTTP host app has).
    ``arguments`` must match more than ``small_page`` items. ``tamper_evident`` also sends a
    real cursor with one character changed and expects a tool error.
    """

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    items_key: str = "results"
    id_key: str | None = "id"
    cursor_arg: str = "cursor"
    next_key: str = "next_cursor"
    page_arg: str | None = "limit"
    small_page: int = 2
    large_page: int = 50
    max_pages: int = 200
    tamper_evident: bool = False
    transports: Collection[str] | None = None


@dataclass(frozen=True)
class ContinuationProbe:
    """A call whose answer is cut at a size limit; the rest follows with the cursor.

    ``expected_text`` (when known) must equal the reassembled text; otherwise the parts must
    simply be non-empty and at least ``min_parts``. ``transports`` limits the probe.
    """

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    text_key: str = "text"
    cursor_arg: str = "cursor"
    next_key: str = "next_cursor"
    expected_text: str | None = None
    min_parts: int = 2
    max_parts: int = 1000
    transports: Collection[str] | None = None


@dataclass(frozen=True)
class RateLimitProbe:
    """How to make the server answer 429: call ``tool`` until it does (at most ``max_calls``).

    ``env`` is added to the target's environment for a separate server started just for
    this probe (so the tiny limit never starves the other tests); a target given by ``url``
    is probed as it runs.
    """

    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    max_calls: int = 50


def _identity(item: Any, id_key: str | None) -> Any:
    """What makes an item itself: its ``id_key`` field, or the whole item as canonical JSON."""
    if id_key is not None and isinstance(item, dict):
        return item.get(id_key)
    return json.dumps(item, sort_keys=True)


def _structured(result: Any, what: str) -> dict[str, Any]:
    assert not result.is_error, f"{what} returned a tool error: {result.content}"
    data = result.structured_content
    assert isinstance(data, dict), f"{what} returned no structured content: {result.content}"
    return data


async def collect_pages(client: Client[Any], probe: PaginationProbe, page: int | None) -> list[Any]:
    """Follow the cursor from the first page to the last; the item ids in order."""
    ids: list[Any] = []
    cursor: str | None = None
    for number in range(1, probe.max_pages + 1):
        args = dict(probe.arguments)
        if page is not None and probe.page_arg:
            args[probe.page_arg] = page
        if cursor is not None:
            args[probe.cursor_arg] = cursor
        data = _structured(
            await client.call_tool(probe.tool, args, raise_on_error=False),
            f"{probe.tool} page {number}",
        )
        items = data.get(probe.items_key)
        assert isinstance(items, list), f"{probe.tool}: no list under {probe.items_key!r}"
        ids.extend(_identity(item, probe.id_key) for item in items)
        cursor = data.get(probe.next_key)
        if cursor is None:
            return ids
        assert items, f"{probe.tool} page {number} is empty but has a next cursor"
    raise AssertionError(f"{probe.tool}: still a next cursor after {probe.max_pages} pages")


async def collect_continuation(client: Client[Any], probe: ContinuationProbe) -> list[str]:
    """Every text part of a cut answer, following the cursor to the end."""
    parts: list[str] = []
    cursor: str | None = None
    while len(parts) < probe.max_parts:
        args = dict(probe.arguments)
        if cursor is not None:
            args[probe.cursor_arg] = cursor
        data = _structured(
            await client.call_tool(probe.tool, args, raise_on_error=False),
            f"{probe.tool} part {len(parts) + 1}",
        )
        text = data.get(probe.text_key)
        assert isinstance(text, str), f"{probe.tool}: no text under {probe.text_key!r}"
        parts.append(text)
        cursor = data.get(probe.next_key)
        if cursor is None:
            return parts
        assert text, f"{probe.tool} part {len(parts)} is empty but has a next cursor"
    raise AssertionError(f"{probe.tool}: still a next cursor after {probe.max_parts} parts")


async def call_expecting_error(
    client: Client[Any], tool: str, arguments: Mapping[str, Any] | None
) -> str:
    """Call a tool that must fail; the error text (an ``isError`` result or JSON-RPC error)."""
    try:
        result = await client.call_tool(tool, dict(arguments or {}), raise_on_error=False)
    except MCPError as exc:
        return str(exc)
    assert result.is_error, f"{tool}({arguments!r}) succeeded but must fail: {result.content}"
    return " ".join(getattr(part, "text", "") for part in result.content)


def first_page_cursor(result: Any, probe: PaginationProbe) -> str | None:
    """The next cursor of a first-page result (for the tamper check)."""
    data = result.structured_content or {}
    cursor = data.get(probe.next_key)
    return cursor if isinstance(cursor, str) else None


def tamper(cursor: str) -> str:
    """The same cursor with one character changed (in the middle, where the payload is)."""
    middle = len(cursor) // 2
    swapped = "A" if cursor[middle] != "A" else "B"
    return cursor[:middle] + swapped + cursor[middle + 1 :]
