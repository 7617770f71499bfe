"""The default :class:`DocumentSource`: documents in SQLite FTS5, in memory or in a file.

Without ``MCP_INDEX_PATH`` the index lives in memory (the ``memdb`` VFS) and is built at
start-up; with it, :mod:`._index` keeps it in a file and this class only reads it. FTS5
does the hard parts: BM25 ranking (``bm25()``) and highlighted snippets (``snippet()``);
this module sanitizes queries, bounds the ranking cost and decides where calls run.

Where the work runs: a primary-key ``get``/``list`` is microseconds, so it runs inline on
the event loop; so does a ``search`` over a small corpus (cheaper than the ~0.1 ms a
worker-thread hop costs). Past ``inline_search_max_docs`` documents a search runs in a
worker thread so one slow query cannot stall every other request on the loop.

Thread safety: each query borrows a connection from a small pool, so concurrent searches
in worker threads neither share a connection nor wait on one lock. A file index may be
updated by another process (``mcp-server index``, another replica's start-up): every
borrow compares SQLite's ``data_version`` and reloads the counters when it moved.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import orjson

from mcp_fastapi_server.documents._files import load_directory, markdown_title
from mcp_fastapi_server.documents._query import (
    clean_snippet,
    fold,
    match_expr,
    query_terms,
)
from mcp_fastapi_server.documents._source import Document, DocumentsError, SearchHit, SearchPage
from mcp_fastapi_server.documents._store import (
    SCHEMA_VERSION,
    FileRecord,
    IndexWriter,
    create_schema,
    read_meta,
)

__all__ = ["DEFAULT_MAX_RANKED", "SqliteFtsSource", "build_into", "check_folder"]

log = logging.getLogger("mcp_fastapi_server.documents")

DEFAULT_MAX_RANKED = 1_000
_MMAP_BYTES = 1 << 30  # file indexes are read through the page cache, shared by replicas

# Rank first, then build snippets for the page only: snippet() re-reads a whole document.
# bm25(fts, 5.0, 1.0) weighs a title hit five times a body hit.
_RANK_ALL = """
SELECT rowid FROM fts WHERE fts MATCH :q
ORDER BY bm25(fts, 5.0, 1.0), rowid LIMIT :limit OFFSET :offset
"""
# Past `max_ranked` matches: the shortest ones (rowids run shortest first, and BM25
# favours short documents), plus the first `max_ranked` of the documents that BM25 is
# likely to put first whatever their length: those with a query term in the title (a
# title hit weighs five body hits) and, for an any-term query, those with two of its
# terms or more.
_RANK_CAPPED = """
SELECT rowid FROM fts WHERE fts MATCH :q AND (rowid < :bound OR rowid IN (
    SELECT rowid FROM fts WHERE fts MATCH :extra LIMIT :cap))
ORDER BY bm25(fts, 5.0, 1.0), rowid LIMIT :limit OFFSET :offset
"""
MAX_PAIRED_TERMS = 5  # an any-term query of up to 5 terms also ranks its pairs (10)
# Every term in half of all documents or more: BM25 can barely tell the documents apart
# (their scores differ by ~2 %), and telling them apart at all costs an IDF pass over
# ~every posting plus ~1 µs per match, so the matches come in stored order, shortest first.
_UNRANKED = """
SELECT rowid FROM fts WHERE fts MATCH :q ORDER BY rowid LIMIT :limit OFFSET :offset
"""
_PAGE = """
SELECT d.id, d.title, d.url, snippet(fts, 1, char(57344), char(57345), '…', 16)
FROM json_each(:rowids) AS top CROSS JOIN fts CROSS JOIN docs AS d
WHERE fts MATCH :q AND fts.rowid = top.value AND d.rowid = top.value
ORDER BY top.key
"""


class _Connection(sqlite3.Connection):
    data_version = -1  # the last PRAGMA data_version this connection saw


@dataclass(frozen=True, slots=True)
class _State:
    generation: str
    count: int
    common: frozenset[str]


def build_into(
    db: sqlite3.Connection,
    items: Iterable[tuple[Document, FileRecord | None]],
    options: dict[str, str],
    *,
    scan_ns: int | None = None,
) -> None:
    """Create the schema in the empty database ``db`` and fill it in one transaction."""
    create_schema(db, options)
    writer = IndexWriter(db)
    db.execute("BEGIN")
    try:
        writer.add_bulk(items)
        writer.finish(scan_ns=scan_ns, full=True)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SqliteFtsSource:
    """An FTS5 index over :class:`Document` objects (see the module docstring).

    Ranking is FTS5's BM25 (a title hit weighs five body hits), with cost bounds, because
    BM25 costs ~1-2 µs per matching document and a query for a very common word would
    otherwise cost hundreds of ms on a 100k-document corpus:

    * In corpora of 1,000 documents or more, terms found in at least half of all
      documents are dropped when the query has rarer ones: BM25 gives them an IDF of
      ~zero, so they barely change the order, only filter. A query of such terms only
      gets its matches unranked, shortest first.
    * Past ``max_ranked`` matches, the ``max_ranked`` shortest are ranked, plus (up to
      ``max_ranked`` more) the matches with a query term in the title, whatever their
      length (a title hit weighs five body hits), and for an any-term query those with
      two of its terms or more; the other matches are not returned.
    """

    def __init__(
        self,
        documents: Iterable[Document],
        *,
        inline_search_max_docs: int = 1_000,
        max_ranked: int = DEFAULT_MAX_RANKED,
    ) -> None:
        uri = f"file:/mcp-docs-{uuid.uuid4().hex}?vfs=memdb"
        anchor = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:  # the anchor keeps the memdb alive; it is used only to build it
            anchor.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            build_into(anchor, ((doc, None) for doc in documents), {})
        except BaseException:
            anchor.close()
            raise
        self._setup(
            uri,
            anchor=anchor,
            label="the in-memory index",
            watch=False,
            inline_search_max_docs=inline_search_max_docs,
            max_ranked=max_ranked,
        )

    # Construction -------------------------------------------------------------------
    @classmethod
    def from_directory(
        cls,
        path: str | os.PathLike[str],
        *,
        url_base: str = "docs://",
        max_file_bytes: int = 10 * 1024 * 1024,
        **options: Any,
    ) -> SqliteFtsSource:
        """Index every ``.md``/``.markdown``/``.txt`` file under ``path`` in memory.

        The id is the path relative to ``path`` without its extension (``guides/install``),
        the URL ``url_base + id``. Unreadable or oversized single files are logged and
        skipped; an unusable folder raises :class:`DocumentsError`.
        """
        root = check_folder(Path(path))
        loaded = load_directory(root, url_base, max_file_bytes)
        return cls((f.document for f in loaded), **options)

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Document | tuple[str, str]],
        *,
        url_base: str = "docs://",
        **options: Any,
    ) -> SqliteFtsSource:
        """Index ready-made documents, or ``(id, text)`` pairs whose title, URL and metadata
        are derived as for files (for tests, benchmarks and non-file corpora)."""

        def normalized() -> Iterator[Document]:
            for item in documents:
                if isinstance(item, Document):
                    yield item
                else:
                    doc_id, text = item
                    yield Document(
                        id=doc_id,
                        title=markdown_title(text, doc_id.rsplit("/", 1)[-1]),
                        text=text,
                        url=url_base + quote(doc_id),
                        metadata={"bytes": len(text.encode("utf-8", "surrogatepass"))},
                    )

        return cls(normalized(), **options)

    @classmethod
    def open_file(cls, path: Path, *, label: str, **options: Any) -> SqliteFtsSource:
        """Serve an index file (read-only connections) built by :mod:`._index`."""
        source = cls.__new__(cls)
        uri = path.resolve().as_uri() + "?mode=ro"
        source._setup(uri, anchor=None, label=label, watch=True, **options)
        return source

    def _setup(
        self,
        uri: str,
        *,
        anchor: sqlite3.Connection | None,
        label: str,
        watch: bool,
        inline_search_max_docs: int = 1_000,
        max_ranked: int = DEFAULT_MAX_RANKED,
    ) -> None:
        self._uri = uri
        self._anchor = anchor
        self._label = label
        self._watch = watch
        self._pool: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._inline_max = inline_search_max_docs
        self._max_ranked = max_ranked
        self._state = _State("", 0, frozenset())
        with self._conn() as db:
            self._reload(db)

    def _connect(self) -> _Connection:
        # check_same_thread=False: a pooled connection moves between threads, but the pool
        # hands it to one user at a time. timeout: wait out another process's commit.
        conn = sqlite3.connect(
            self._uri, uri=True, check_same_thread=False, timeout=5.0, factory=_Connection
        )
        if self._watch:
            conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        return conn

    def _reload(self, db: sqlite3.Connection) -> None:
        meta = read_meta(db)
        if self._state.generation == meta.get("generation"):
            return
        if meta.get("schema") != str(SCHEMA_VERSION):
            raise DocumentsError(
                f"{self._label}: the index was rebuilt with schema {meta.get('schema')} "
                f"while this process serves schema {SCHEMA_VERSION}; restart it"
            )
        self._state = _State(
            generation=meta.get("generation", ""),
            count=int(meta.get("count", "0")),
            common=frozenset(orjson.loads(meta.get("common", "[]"))),
        )

    # Connection pool ----------------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[_Connection]:
        if self._closed:
            raise RuntimeError("the document source is closed")
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            if self._watch:
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                    if version != conn.data_version:
                        self._reload(conn)
                        conn.data_version = version
                except sqlite3.DatabaseError as exc:
                    raise self._error(exc) from None
            yield conn
        finally:
            with self._close_lock:
                if self._closed:
                    conn.close()
                else:
                    self._pool.put(conn)

    def _error(self, exc: sqlite3.DatabaseError) -> DocumentsError:
        hint = "; if the file is damaged, delete it and run `mcp-server index`"
        return DocumentsError(f"{self._label}: {exc}{hint if self._watch else ''}")

    def close(self) -> None:
        """Close every idle connection now and busy ones when they come back."""
        with self._close_lock:
            self._closed = True
            while True:
                try:
                    self._pool.get_nowait().close()
                except queue.Empty:
                    break
            if self._anchor is not None:
                self._anchor.close()

    # Blocking API (runs on the calling thread) --------------------------------------
    def search_now(
        self, query: str, *, offset: int = 0, limit: int = 20, max_ranked: int | None = None
    ) -> SearchPage:
        """:meth:`search` on the calling thread (benchmarks, worker threads).

        ``max_ranked`` overrides the instance's cap for this call (benchmarks compare).
        """
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        terms = query_terms(query)
        if not terms:
            return SearchPage(hits=[], has_more=False)
        cap = self._max_ranked if max_ranked is None else max_ranked
        with self._conn() as db:
            state = self._state
            informative = [t for t in terms if fold(t) not in state.common]
            if informative:
                terms = informative
            expr = match_expr(terms)
            try:
                rows = self._page(db, terms, expr, bool(informative), cap, offset, limit)
            except sqlite3.OperationalError as exc:
                if not str(exc).startswith("fts5"):
                    raise self._error(exc) from None
                # A tokenizer corner case: never a crash.
                log.warning("fts query failed", extra={"fts_query": expr}, exc_info=True)
                return SearchPage(hits=[], has_more=False)
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
        hits = [
            SearchHit(id=r[0], title=r[1], url=r[2], snippet=clean_snippet(r[3]))
            for r in rows[:limit]
        ]
        return SearchPage(hits=hits, has_more=len(rows) > limit)

    def _page(
        self,
        db: sqlite3.Connection,
        terms: list[str],
        expr: str,
        informative: bool,
        cap: int,
        offset: int,
        limit: int,
    ) -> list[Any]:
        """Rows (id, title, url, raw snippet) for ``[offset, offset + limit + 1)``."""
        any_term = len(terms) > 1 and not _any_match(db, expr)
        if any_term:
            # No document has every term: rank documents with any of them instead, so a
            # verbose natural-language query still finds something. The choice depends
            # only on the query, so every page of it uses the same mode.
            expr = match_expr(terms, any_term=True)
        params: dict[str, Any] = {"q": expr, "limit": limit + 1, "offset": offset}
        over = _nth_match(db, expr, cap)
        if over is None:
            rowids = _column(db, _RANK_ALL, params)
        elif not informative:
            rowids = _column(db, _UNRANKED, params)
        else:
            extra = f"title : ({match_expr(terms, any_term=True)})"
            if any_term and len(terms) <= MAX_PAIRED_TERMS:
                extra += "".join(f' OR ("{a}" "{b}")' for a, b in combinations(terms, 2))
            params |= {"bound": over, "extra": extra, "cap": cap}
            rowids = _column(db, _RANK_CAPPED, params)
        if not rowids:
            return []
        return db.execute(_PAGE, {"q": expr, "rowids": orjson.dumps(rowids).decode()}).fetchall()

    def get_now(self, doc_id: str) -> Document | None:
        """:meth:`get` on the calling thread."""
        with self._conn() as db:
            try:
                row = db.execute(
                    "SELECT id, title, body, url, meta FROM docs WHERE id = ?", (doc_id,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
        if row is None:
            return None
        return Document(
            id=row[0], title=row[1], text=row[2], url=row[3], metadata=orjson.loads(row[4])
        )

    def list_now(self, *, offset: int = 0, limit: int = 20) -> SearchPage:
        """:meth:`list` on the calling thread: id order, snippet = the text's opening."""
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        with self._conn() as db:
            try:
                rows = db.execute(
                    "SELECT id, title, url, substr(body, 1, 300) FROM docs "
                    "ORDER BY id LIMIT ? OFFSET ?",
                    (limit + 1, offset),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
        hits = [
            SearchHit(id=r[0], title=r[1], url=r[2], snippet=" ".join(r[3].split())[:200])
            for r in rows[:limit]
        ]
        return SearchPage(hits=hits, has_more=len(rows) > limit)

    def count_now(self) -> int:
        """The number of indexed documents (re-read when another process changed the file)."""
        if self._watch:
            with self._conn():
                pass
        return self._state.count

    # DocumentSource -----------------------------------------------------------------
    async def search(self, query: str, *, offset: int, limit: int) -> SearchPage:
        if self._state.count <= self._inline_max:
            return self.search_now(query, offset=offset, limit=limit)
        return await anyio.to_thread.run_sync(
            lambda: self.search_now(query, offset=offset, limit=limit)
        )

    async def get(self, doc_id: str) -> Document | None:
        return self.get_now(doc_id)  # primary-key lookup: inline beats a thread hop

    async def count(self) -> int:
        return self.count_now()

    async def list(self, *, offset: int, limit: int) -> SearchPage:
        return self.list_now(offset=offset, limit=limit)


def check_folder(root: Path) -> Path:
    """``root`` resolved, or :class:`DocumentsError` saying why it can't be indexed."""
    if not root.exists():
        raise DocumentsError(f"{root} does not exist")
    if not root.is_dir():
        raise DocumentsError(f"{root} is not a directory")
    try:
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        raise DocumentsError(f"{root} is not readable ({exc.strerror})") from None
    return root.resolve()


def _nth_match(db: sqlite3.Connection, expr: str, n: int) -> int | None:
    """The rowid of match number ``n`` (0-based) in rowid order, or ``None`` if fewer."""
    row = db.execute("SELECT rowid FROM fts WHERE fts MATCH ? LIMIT 1 OFFSET ?", (expr, n))
    found = row.fetchone()
    return None if found is None else int(found[0])


def _column(db: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[int]:
    return [int(r[0]) for r in db.execute(sql, params)]


def _any_match(db: sqlite3.Connection, expr: str) -> bool:
    return db.execute("SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (expr,)).fetchone() is not None
