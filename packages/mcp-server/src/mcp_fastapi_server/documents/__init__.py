"""Documents that ``search`` and ``fetch`` serve.

:class:`DocumentSource` is the seam a team implements over its own store;
:class:`SqliteFtsSource` is the default (an FTS5 index over a folder of Markdown files,
in memory, or in the file ``MCP_INDEX_PATH`` that :func:`sync_index` keeps up to date),
and :func:`default_source` picks it from the settings.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_fastapi_server.documents._index import IndexReport, open_index, sync_index
from mcp_fastapi_server.documents._source import (
    Document,
    DocumentsError,
    DocumentSource,
    SearchHit,
    SearchPage,
)
from mcp_fastapi_server.documents._sqlite_fts import SqliteFtsSource

if TYPE_CHECKING:
    from mcp_fastapi_server._settings import Settings

__all__ = [
    "Document",
    "DocumentSource",
    "DocumentsError",
    "IndexReport",
    "SearchHit",
    "SearchPage",
    "SqliteFtsSource",
    "default_source",
    "index_documents",
    "open_index",
    "samples_dir",
    "sync_index",
]

log = logging.getLogger("mcp_fastapi_server.documents")


def samples_dir() -> Path:
    """The sample corpus shipped inside the package (used when MCP_DOCS_DIR is unset)."""
    return Path(str(resources.files("mcp_fastapi_server.documents") / "samples"))


def default_source(settings: Settings, **options: Any) -> SqliteFtsSource:
    """The source ``search``/``fetch`` serve: ``MCP_DOCS_DIR`` or the bundled samples,
    indexed in memory, or in ``MCP_INDEX_PATH`` (opened and brought up to date).

    Raises :class:`DocumentsError` naming ``MCP_DOCS_DIR`` or ``MCP_INDEX_PATH`` when the
    folder or the index file is unusable, so start-up stops with one clear line instead of
    serving an empty or stale index.
    """
    docs_dir = settings.docs_dir if settings.docs_dir is not None else samples_dir()
    if settings.index_path is not None:
        source, report = open_index(settings.index_path, docs_dir, **options)
        log.info(report.summary())
        return source
    try:
        return SqliteFtsSource.from_directory(docs_dir, **options)
    except DocumentsError as exc:
        if settings.docs_dir is None:
            raise
        raise DocumentsError(f"MCP_DOCS_DIR: {exc}") from None


def index_documents(settings: Settings) -> IndexReport:
    """``mcp-server index``: build or update ``MCP_INDEX_PATH`` for ``MCP_DOCS_DIR``.

    Refuses a read-only index file, and waits out the racy-mtime window once so files
    written just before the run are checked again and the next start need not read them.
    """
    if settings.index_path is None:
        raise DocumentsError(
            "MCP_INDEX_PATH is not set: set it to the file the search index should live in"
        )
    docs_dir = settings.docs_dir if settings.docs_dir is not None else samples_dir()
    return sync_index(settings.index_path, docs_dir, require_write=True, settle=True)
