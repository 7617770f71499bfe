"""The index's tables and the only code that writes them (a fresh build, an incremental update).

One schema serves both homes of the index: an in-memory database (no ``MCP_INDEX_PATH``)
and a SQLite file. ``docs`` holds the documents, ``fts`` is an external-content FTS5
table over their title and body, ``files`` is the manifest of the files they came from
(size, mtime, SHA-256: what the next update compares with), ``meta`` the build options
and counters (the document count, the very common terms).

Rowids run shortest document first (BM25 favours short documents, and the search ranks
a bounded prefix of the matches in rowid order). A fresh build spaces them ``GAP`` apart
and an incremental insert takes a free rowid between its neighbours by length, so the
order survives updates without renumbering (FTS5 stores rowid deltas as varints: gaps of
16 cost nothing measurable).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from mcp_fastapi_server.documents._files import FileStat
from mcp_fastapi_server.documents._source import Document, DocumentsError

__all__ = [
    "APPLICATION_ID",
    "PRUNE_MIN_DOCS",
    "SCHEMA_VERSION",
    "FileRecord",
    "IndexWriter",
    "create_schema",
    "read_meta",
]

SCHEMA_VERSION = 1
APPLICATION_ID = 0x6D637078  # "mcpx": marks a SQLite file as ours (PRAGMA application_id)
GAP = 16
PRUNE_MIN_DOCS = 1_000  # below this, ranking every match is cheap: no common-term handling
COMMON_RECOMPUTE = 0.1  # recount common terms when this share of documents changed

_SCHEMA = f"""
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE docs (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    body TEXT NOT NULL, url TEXT NOT NULL, meta BLOB NOT NULL, len INTEGER NOT NULL);
CREATE INDEX docs_len ON docs(len);
CREATE TABLE files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 BLOB NOT NULL, doc INTEGER NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(
    title, body, content='docs', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2');
"""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A manifest row: the file a document came from, as it was when it was read."""

    stat: FileStat
    sha256: bytes


def create_schema(db: sqlite3.Connection, options: dict[str, str]) -> None:
    """Create every table in an empty database and record the build ``options``."""
    db.executescript(_SCHEMA)
    now = str(time.time_ns())
    meta = {
        **options,
        "schema": str(SCHEMA_VERSION),
        "created_ns": now,
        "count": "0",
        "generation": "0",
        "common": "[]",
        "common_basis": "0",
        "common_changes": "0",
    }
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())


def read_meta(db: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}


class IndexWriter:
    """Adds and removes documents inside the caller's transaction, then :meth:`finish`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.added: list[int] = []
        self.removed: list[int] = []

    # A fresh database ---------------------------------------------------------------
    def add_bulk(self, items: Iterable[tuple[Document, FileRecord | None]]) -> None:
        """Fill an empty index: rowids ``GAP`` apart, shortest document first."""
        by_id: dict[str, tuple[Document, FileRecord | None]] = {}
        for doc, record in items:
            if doc.id in by_id:
                _clash(doc.id, _path_of(by_id[doc.id][0]), _path_of(doc))
            by_id[doc.id] = (doc, record)
        order = sorted(by_id.values(), key=lambda item: (len(item[0].text), item[0].id))
        del by_id
        rows = [(GAP * n, item) for n, item in enumerate(order, start=1)]
        del order
        self.db.executemany(
            "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (rowid, d.id, d.title, d.text, d.url, orjson.dumps(d.metadata), len(d.text))
                for rowid, (d, _) in rows
            ),
        )
        self.db.executemany(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
            (
                (r.stat.rel, r.stat.size, r.stat.mtime_ns, r.sha256, rowid)
                for rowid, (_, r) in rows
                if r is not None
            ),
        )
        self.db.execute("INSERT INTO fts(rowid, title, body) SELECT rowid, title, body FROM docs")
        self.db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        self.added.extend(rowid for rowid, _ in rows)

    # Incremental changes ------------------------------------------------------------
    def remove_file(self, rel: str) -> None:
        """Drop the document of manifest path ``rel`` (deleted or about to be replaced)."""
        row = self.db.execute("SELECT doc FROM files WHERE path = ?", (rel,)).fetchone()
        if row is None:
            return
        rowid = int(row[0])
        doc = self.db.execute("SELECT title, body FROM docs WHERE rowid = ?", (rowid,)).fetchone()
        if doc is not None:  # external content: FTS5 needs the old text to drop its tokens
            self.db.execute(
                "INSERT INTO fts(fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                (rowid, doc[0], doc[1]),
            )
            self.db.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
        self.db.execute("DELETE FROM files WHERE path = ?", (rel,))
        self.removed.append(rowid)

    def add(self, doc: Document, record: FileRecord) -> None:
        clash = self.db.execute("SELECT meta FROM docs WHERE id = ?", (doc.id,)).fetchone()
        if clash is not None:
            _clash(doc.id, orjson.loads(clash[0]).get("path", "?"), _path_of(doc))
        rowid = self._free_rowid(len(doc.text))
        self.db.execute(
            "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                rowid,
                doc.id,
                doc.title,
                doc.text,
                doc.url,
                orjson.dumps(doc.metadata),
                len(doc.text),
            ),
        )
        self.db.execute(
            "INSERT INTO fts(rowid, title, body) VALUES (?, ?, ?)", (rowid, doc.title, doc.text)
        )
        self.db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
            (record.stat.rel, record.stat.size, record.stat.mtime_ns, record.sha256, rowid),
        )
        self.added.append(rowid)

    def restat(self, stat: FileStat) -> None:
        """A file whose size/mtime changed but whose content did not: record the new stat."""
        self.db.execute(
            "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
            (stat.size, stat.mtime_ns, stat.rel),
        )

    def _free_rowid(self, length: int) -> int:
        """A rowid after the last document no longer than ``length`` (midway to the next)."""
        row = self.db.execute(
            "SELECT rowid FROM docs WHERE len <= ? ORDER BY len DESC, rowid DESC LIMIT 1",
            (length,),
        ).fetchone()
        pred = int(row[0]) if row else 0
        found = self.db.execute("SELECT min(rowid) FROM docs WHERE rowid > ?", (pred,)).fetchone()
        if found[0] is None:
            return pred + GAP
        nxt = int(found[0])
        if nxt - pred >= 2:
            return (pred + nxt) // 2
        # No room here (many inserts at one spot): the next free rowid, nearly in order.
        cur = pred
        for (rowid,) in self.db.execute(
            "SELECT rowid FROM docs WHERE rowid > ? ORDER BY rowid", (pred,)
        ):
            if rowid > cur + 1:
                return cur + 1
            cur = rowid
        return cur + GAP

    # Counters and common terms ------------------------------------------------------
    def finish(self, *, scan_ns: int | None = None, full: bool = False) -> None:
        """Update the counters, the generation and (after a build, or once a tenth of the
        documents changed since they were counted) the very common terms."""
        meta = read_meta(self.db)
        count = int(self.db.execute("SELECT count(*) FROM docs").fetchone()[0])
        changed = len(set(self.added) | set(self.removed))
        updates: dict[str, str] = {"count": str(count)}
        if scan_ns is not None:
            updates["scan_ns"] = str(scan_ns)
        if changed or full:
            updates["generation"] = str(int(meta.get("generation", "0")) + 1)
            updates["updated_ns"] = str(time.time_ns())
        pending = int(meta.get("common_changes", "0")) + changed
        basis = int(meta.get("common_basis", "0"))
        if count < PRUNE_MIN_DOCS:
            updates |= {"common": "[]", "common_basis": str(count), "common_changes": "0"}
        elif full or basis < PRUNE_MIN_DOCS or pending >= COMMON_RECOMPUTE * count:
            common = orjson.dumps(self._common_terms(count)).decode()
            updates |= {"common": common, "common_basis": str(count), "common_changes": "0"}
        else:
            updates["common_changes"] = str(pending)
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", updates.items())

    def _common_terms(self, count: int) -> list[str]:
        """Terms in at least half of all documents: BM25 gives them an IDF of ~zero.

        A full pass over the vocabulary (~1-2 s for 100k documents), hence only after a
        build or a large update: a term drifting across the line in between only changes
        what a query costs, barely its order."""
        self.db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'fts', 'row')")
        try:
            rows = self.db.execute("SELECT term FROM temp.v WHERE 2 * doc >= ?", (count,))
            return sorted(str(term) for (term,) in rows)
        finally:
            self.db.execute("DROP TABLE temp.v")


def _path_of(doc: Document) -> str:
    return str(doc.metadata.get("path", doc.id))


def _clash(doc_id: str, first: str, second: str) -> None:
    raise DocumentsError(f"two documents have the id {doc_id!r} ({first}, {second})")
