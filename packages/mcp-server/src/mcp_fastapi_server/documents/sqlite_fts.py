"""The default :class:`DocumentSource`: a folder of Markdown/text files in SQLite FTS5.

The index lives in memory (stdlib ``sqlite3``, the ``memdb`` VFS) and is built once at
start-up, then only read. FTS5 does the hard parts: BM25 ranking (``bm25()``) and
highlighted snippets (``snippet()``); this module only loads files, sanitizes queries and
decides where the blocking calls run.

Where the work runs: a primary-key ``get``/``list`` is microseconds, so it runs inline on
the event loop; a ``search`` over a small corpus is well under a millisecond, cheaper
than the ~1 ms of CPU a worker-thread hop costs, so it also runs inline. Past
``inline_search_max_docs`` documents a search runs in a worker thread so one slow query
cannot stall every other request on the loop.

Thread safety: each query borrows a connection from a small pool; the ``memdb`` VFS lets
several connections share one in-memory database, so concurrent searches in worker
threads neither share a connection nor wait on one lock.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread
import orjson

from mcp_fastapi_server.documents.files import load_directory, markdown_title
from mcp_fastapi_server.documents.source import Document, SearchHit, SearchPage

if TYPE_CHECKING:
    from mcp_fastapi_server._settings import Settings

__all__ = [
    "DocumentsError",
    "SqliteFtsSource",
    "build_fts_query",
    "default_source",
    "markdown_title",
    "query_terms",
    "samples_dir",
]

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 16
MAX_TERM_CHARS = 64
PRUNE_MIN_DOCS = 1_000  # below this, ranking every match is cheap: keep plain AND/OR
# In the SQL below: bm25(fts, 5.0, 1.0) weighs a title hit five times a body hit, and
# snippet() marks hits with U+E000/U+E001 (57344/57345) and keeps 16 tokens.

# unicode61 treats letters and digits as token characters; \w (plus NFKC folding first)
# picks the same runs, and a quoted term the tokenizer splits further (e.g. on "_")
# becomes a phrase, which is still a sensible match.
_TERM_RE = re.compile(r"\w+")
# snippet() marks hits with private-use characters; the text's own Markdown emphasis is
# dropped before they become ** so highlights never merge with the document's bold.
_EMPHASIS_RE = re.compile(r"\*\*|__")

_MAX_ROWID = 2**63 - 1
# Rank first, then build snippets for the page only: snippet() re-reads a whole document,
# so it must not run for every match. `rowid < :bound` caps how many matches are ranked.
_SEARCH_RANKED = """
WITH top(rowid, score) AS (
    SELECT rowid, bm25(fts, 5.0, 1.0) FROM fts
    WHERE fts MATCH :q AND rowid < :bound ORDER BY 2, rowid LIMIT :limit OFFSET :offset)
SELECT d.id, d.title, d.url, snippet(fts, 1, char(57344), char(57345), '…', 16)
FROM top CROSS JOIN fts CROSS JOIN docs AS d
WHERE fts MATCH :q AND fts.rowid = top.rowid AND d.rowid = top.rowid
ORDER BY top.score, top.rowid
"""
# Same page, matches in stored order (shortest first) without scoring.
_SEARCH_UNRANKED = """
WITH top(rowid) AS (
    SELECT rowid FROM fts WHERE fts MATCH :q ORDER BY rowid LIMIT :limit OFFSET :offset)
SELECT d.id, d.title, d.url, snippet(fts, 1, char(57344), char(57345), '…', 16)
FROM top CROSS JOIN fts CROSS JOIN docs AS d
WHERE fts MATCH :q AND fts.rowid = top.rowid AND d.rowid = top.rowid
ORDER BY top.rowid
"""


class DocumentsError(ValueError):
    """The documents can't be served (missing or unreadable folder, clashing ids)."""


def samples_dir() -> Path:
    """The sample corpus shipped inside the package (used when MCP_DOCS_DIR is unset)."""
    return Path(str(resources.files("mcp_fastapi_server.documents") / "samples"))


def default_source(settings: Settings, **options: Any) -> SqliteFtsSource:
    """The source ``search``/``fetch`` serve: ``MCP_DOCS_DIR`` or the bundled samples.

    Raises :class:`DocumentsError` naming ``MCP_DOCS_DIR`` when the folder is unusable, so
    start-up stops with one clear line instead of serving an empty index.
    """
    if settings.docs_dir is None:
        return SqliteFtsSource.from_directory(samples_dir(), **options)
    try:
        return SqliteFtsSource.from_directory(settings.docs_dir, **options)
    except DocumentsError as exc:
        raise DocumentsError(f"MCP_DOCS_DIR: {exc}") from None


def query_terms(query: str) -> list[str]:
    """The distinct searchable words of free text (NFKC-folded, capped in count and length)."""
    terms: list[str] = []
    for term in _TERM_RE.findall(unicodedata.normalize("NFKC", query)):
        term = term[:MAX_TERM_CHARS]
        if term not in terms:
            terms.append(term)
            if len(terms) == MAX_QUERY_TERMS:
                break
    return terms


def build_fts_query(query: str, *, any_term: bool = False) -> str | None:
    """A safe FTS5 MATCH expression for free text, or ``None`` when nothing is searchable.

    Every term is a quoted string, so FTS5 syntax in user input (``AND``, ``NEAR(``, ``*``,
    ``"``, ``col:``) is just words; terms are ANDed (or ORed with ``any_term``). Term count
    and length are capped so one request can't build a huge query.
    """
    terms = query_terms(query)
    return _match_expr(terms, any_term=any_term) if terms else None


class SqliteFtsSource:
    """An immutable, in-memory FTS5 index over :class:`Document` objects.

    Ranking is FTS5's BM25 (a title hit weighs five body hits), with two cost bounds,
    because BM25 costs ~1-2 µs per matching document and a query for a very common word
    would otherwise cost hundreds of ms on a 100k-document corpus:

    * In corpora of ``PRUNE_MIN_DOCS`` or more, terms found in at least half of all
      documents are dropped when the query has rarer ones: BM25 gives them an IDF of
      zero, so they never change the order, only filter.
    * At most ``max_ranked`` matches are ranked. Documents are stored shortest first (BM25
      favours short documents), so a broader query ranks its shortest ``max_ranked``
      matches; and when every term is that common, BM25 cannot separate the documents
      and matches come shortest first without scoring.
    """

    def __init__(
        self,
        documents: Iterable[Document],
        *,
        inline_search_max_docs: int = 1_000,
        max_ranked: int = 5_000,
    ) -> None:
        self._uri = f"file:/mcp-docs-{uuid.uuid4().hex}?vfs=memdb"
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._anchor = self._connect()  # keeps the memdb alive; used only to build it
        self._common: frozenset[str] = frozenset()
        try:
            self._count = self._build(documents)
        except BaseException:
            self._anchor.close()
            raise
        self._inline = self._count <= inline_search_max_docs
        self._max_ranked = max_ranked

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
        """Index every ``.md``/``.markdown``/``.txt`` file under ``path`` (hidden ones skipped).

        The id is the path relative to ``path`` without its extension (``guides/install``),
        the URL ``url_base + id``. Unreadable or oversized single files are logged and
        skipped; an unusable folder raises :class:`DocumentsError`.
        """
        root = Path(path)
        if not root.exists():
            raise DocumentsError(f"{root} does not exist")
        if not root.is_dir():
            raise DocumentsError(f"{root} is not a directory")
        try:
            with os.scandir(root) as entries:
                next(entries, None)
        except OSError as exc:
            raise DocumentsError(f"{root} is not readable ({exc.strerror})") from None
        return cls(load_directory(root.resolve(), url_base, max_file_bytes), **options)

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

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False: a pooled connection moves between threads, but the pool
        # hands it to one user at a time.
        return sqlite3.connect(self._uri, uri=True, check_same_thread=False)

    def _build(self, documents: Iterable[Document]) -> int:
        by_id: dict[str, Document] = {}
        for doc in documents:
            if doc.id in by_id:
                raise DocumentsError(
                    f"two documents have the id {doc.id!r} "
                    f"({by_id[doc.id].metadata.get('path', '?')}, {doc.metadata.get('path', '?')})"
                )
            by_id[doc.id] = doc
        db = self._anchor
        db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE docs (
                rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                body TEXT NOT NULL, url TEXT NOT NULL, meta BLOB NOT NULL);
            CREATE VIRTUAL TABLE fts USING fts5(
                title, body, content='docs', content_rowid='rowid',
                tokenize='unicode61 remove_diacritics 2');
            """
        )
        # rowids run shortest document first (ties by id): the order the match cap keeps.
        order = sorted(by_id.values(), key=lambda d: (len(d.text), d.id))
        rows = (
            (n, d.id, d.title, d.text, d.url, orjson.dumps(d.metadata))
            for n, d in enumerate(order, start=1)
        )
        del by_id, order
        with db:
            db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT INTO fts(rowid, title, body) SELECT rowid, title, body FROM docs")
            db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
            count = int(db.execute("SELECT count(*) FROM docs").fetchone()[0])
            if count >= PRUNE_MIN_DOCS:
                db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'fts', 'row')")
                common = db.execute("SELECT term FROM temp.v WHERE 2 * doc >= ?", (count,))
                self._common = frozenset(term for (term,) in common)
                db.execute("DROP TABLE temp.v")
        return count

    # Connection pool ----------------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise RuntimeError("the document source is closed")
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._close_lock:
                if self._closed:
                    conn.close()
                else:
                    self._pool.put(conn)

    def close(self) -> None:
        """Close every idle connection now and busy ones when they come back."""
        with self._close_lock:
            self._closed = True
            while True:
                try:
                    self._pool.get_nowait().close()
                except queue.Empty:
                    break
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
        informative = [t for t in terms if _fold(t) not in self._common]
        if informative:
            terms = informative
        cap = self._max_ranked if max_ranked is None else max_ranked
        expr = _match_expr(terms)
        with self._conn() as db:
            try:
                if len(terms) > 1 and not _any_match(db, expr):
                    # No document has every term: rank documents with any of them instead,
                    # so a verbose natural-language query still finds something. The choice
                    # depends only on the query, so every page of it uses the same mode.
                    expr = _match_expr(terms, any_term=True)
                over = db.execute(
                    "SELECT rowid FROM fts WHERE fts MATCH ? LIMIT 1 OFFSET ?", (expr, cap)
                ).fetchone()
                sql = _SEARCH_UNRANKED if over and not informative else _SEARCH_RANKED
                params = {
                    "q": expr,
                    "bound": over[0] if over else _MAX_ROWID,
                    "limit": limit + 1,
                    "offset": offset,
                }
                rows = db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:  # a tokenizer corner case; never a crash
                log.warning("fts query failed", extra={"fts_query": expr}, exc_info=True)
                return SearchPage(hits=[], has_more=False)
        hits = [
            SearchHit(id=r[0], title=r[1], url=r[2], snippet=_snippet(r[3])) for r in rows[:limit]
        ]
        return SearchPage(hits=hits, has_more=len(rows) > limit)

    def get_now(self, doc_id: str) -> Document | None:
        """:meth:`get` on the calling thread."""
        with self._conn() as db:
            row = db.execute(
                "SELECT id, title, body, url, meta FROM docs WHERE id = ?", (doc_id,)
            ).fetchone()
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
            rows = db.execute(
                "SELECT id, title, url, substr(body, 1, 300) FROM docs "
                "ORDER BY id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        hits = [
            SearchHit(id=r[0], title=r[1], url=r[2], snippet=" ".join(r[3].split())[:200])
            for r in rows
        ]
        return SearchPage(hits=hits, has_more=offset + limit < self._count)

    # DocumentSource -----------------------------------------------------------------
    async def search(self, query: str, *, offset: int, limit: int) -> SearchPage:
        if self._inline:
            return self.search_now(query, offset=offset, limit=limit)
        return await anyio.to_thread.run_sync(
            lambda: self.search_now(query, offset=offset, limit=limit)
        )

    async def get(self, doc_id: str) -> Document | None:
        return self.get_now(doc_id)  # primary-key lookup: inline beats a thread hop

    def count_now(self) -> int:
        """The number of indexed documents (a field: the index is immutable)."""
        return self._count

    async def count(self) -> int:
        return self._count  # immutable index

    async def list(self, *, offset: int, limit: int) -> SearchPage:
        return self.list_now(offset=offset, limit=limit)


def _match_expr(terms: list[str], *, any_term: bool = False) -> str:
    # \w+ terms never contain a double quote, so quoting needs no escaping.
    return (" OR " if any_term else " ").join(f'"{t}"' for t in terms)


def _fold(term: str) -> str:
    """Approximately what unicode61 (remove_diacritics 2) indexes ``term`` as.

    Only used to spot very common terms; a miss just means the term is kept.
    """
    decomposed = unicodedata.normalize("NFD", term.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _snippet(raw: str) -> str:
    text = " ".join(_EMPHASIS_RE.sub("", raw).split())
    return text.replace("\ue000", "**").replace("\ue001", "**")


def _any_match(db: sqlite3.Connection, expr: str) -> bool:
    return db.execute("SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (expr,)).fetchone() is not None
