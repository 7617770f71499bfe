"""Documents that ``search`` and ``fetch`` serve.

:class:`DocumentSource` is the seam a team implements over its own store;
:class:`SqliteFtsSource` is the default (an in-memory FTS5 index over a folder of Markdown
files), and :func:`default_source` picks ``MCP_DOCS_DIR`` or the bundled sample corpus.
"""

from __future__ import annotations

from mcp_fastapi_server.documents.source import Document, DocumentSource, SearchHit, SearchPage
from mcp_fastapi_server.documents.sqlite_fts import (
    DocumentsError,
    SqliteFtsSource,
    default_source,
    samples_dir,
)

__all__ = [
    "Document",
    "DocumentSource",
    "DocumentsError",
    "SearchHit",
    "SearchPage",
    "SqliteFtsSource",
    "default_source",
    "samples_dir",
]
