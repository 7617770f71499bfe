"""The seam between the MCP tools (and the REST API) and a team's own data.

``search``/``fetch`` and ``/api/documents`` call a :class:`DocumentSource`; the default is
:class:`~mcp_fastapi_server.documents.SqliteFtsSource` over a folder of Markdown files.
A team plugs in its database by implementing these four coroutines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Document", "DocumentSource", "DocumentsError", "SearchHit", "SearchPage"]


class DocumentsError(ValueError):
    """The documents can't be served: an unusable folder or index file, clashing ids.

    The message names the setting to fix (``MCP_DOCS_DIR``, ``MCP_INDEX_PATH``) when one
    is to blame, so start-up and ``mcp-server index`` stop with one clear line.
    """


@dataclass(frozen=True, slots=True)
class Document:
    """One whole document as ``fetch`` returns it."""

    id: str
    title: str
    text: str
    url: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked search result."""

    id: str
    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """``hits`` for ``[offset, offset + limit)``; ``has_more`` when more follow."""

    hits: list[SearchHit]
    has_more: bool


@runtime_checkable
class DocumentSource(Protocol):
    """What the tools need from a document store."""

    async def search(self, query: str, *, offset: int, limit: int) -> SearchPage:
        """Ranked hits for ``query``; ``[]`` for no match. Bad query syntax never raises."""
        ...

    async def get(self, doc_id: str) -> Document | None:
        """The document, or ``None`` when ``doc_id`` is unknown."""
        ...

    async def count(self) -> int:
        """How many documents are indexed (``health`` reports it)."""
        ...

    async def list(self, *, offset: int, limit: int) -> SearchPage:
        """Documents in a stable order, for ``GET /api/documents``."""
        ...
