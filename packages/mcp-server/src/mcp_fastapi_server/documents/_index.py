"""The persistent index (``MCP_INDEX_PATH``): built once, then only what changed is read again.

:func:`sync_index` is the one routine behind ``mcp-server index`` and start-up:

1. A missing (or empty) file is built from scratch into a private temporary file next
   to it, which is then hard-linked into place: a crash never leaves half an index, and
   when two processes build at once the first link wins and the other uses its file.
2. An existing file must be ours (``PRAGMA application_id``), of this schema version and
   built for this ``MCP_DOCS_DIR`` with these options (stored in ``meta``). Otherwise it
   is rebuilt (a fresh build copied over it with SQLite's backup API, under SQLite's
   locks) or, when read-only, refused. A file that is not ours is never overwritten.
3. Otherwise the folder is listed and stat'ed (no file opened) and compared with the
   manifest: size or mtime differing, or an mtime too close to the last scan to be
   trusted ("racily clean", as in git), makes a file a suspect; suspects and new files
   are read and hashed, and a suspect whose SHA-256 is unchanged is only re-stat'ed
   (``touched``), not re-indexed. The changes are applied in one ``BEGIN IMMEDIATE``
   transaction, after re-reading the manifest under the lock, so two processes updating
   one file at once serialize and the second finds nothing left to do.

Read-only files (no write permission, no write bits, or a read-only folder: a rollback
journal needs the folder) are served as they are when nothing changed, and refused with
an error naming ``MCP_INDEX_PATH`` when the documents changed: stale documents are never
served in silence. The file uses SQLite's rollback journal, not WAL, so it works on a
read-only filesystem and on network filesystems.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_fastapi_server.documents._build import (
    VAR,
    build_new,
    connect,
    db_error,
    mismatch,
    read_only_reason,
    rebuild,
)
from mcp_fastapi_server.documents._files import FileStat, LoadedFile, read_file, scan_directory
from mcp_fastapi_server.documents._report import IndexReport, merge_reports
from mcp_fastapi_server.documents._source import DocumentsError
from mcp_fastapi_server.documents._sqlite_fts import SqliteFtsSource, check_folder
from mcp_fastapi_server.documents._store import FileRecord, IndexWriter, read_meta

__all__ = ["IndexReport", "open_index", "sync_index"]

log = logging.getLogger("mcp_fastapi_server.documents")

FINE_RACY_NS = 100_000_000  # mtimes with sub-second precision: trust them after 0.1 s
COARSE_RACY_NS = 2_000_000_000  # whole-second mtimes (FAT, HFS+, some network mounts)


@dataclass
class _Diff:
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    suspects: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)  # stored stat
    unchanged: int = 0


def open_index(
    index_path: Path,
    docs_dir: Path,
    *,
    url_base: str = "docs://",
    max_file_bytes: int = 10 * 1024 * 1024,
    **source_options: Any,
) -> tuple[SqliteFtsSource, IndexReport]:
    """Bring the index up to date (as far as it may be written) and serve it."""
    report = sync_index(index_path, docs_dir, url_base=url_base, max_file_bytes=max_file_bytes)
    source = SqliteFtsSource.open_file(report.path, label=f"{VAR}={report.path}", **source_options)
    return source, report


def sync_index(
    index_path: Path,
    docs_dir: Path,
    *,
    url_base: str = "docs://",
    max_file_bytes: int = 10 * 1024 * 1024,
    require_write: bool = False,
    settle: bool = False,
) -> IndexReport:
    """Build or update the index file ``index_path`` for the folder ``docs_dir``.

    ``require_write`` (``mcp-server index``) refuses a read-only file instead of only
    checking it; ``settle`` waits out the racy window once, then re-checks the files
    changed just before the scan, so the next start need not read them again.
    """
    started = time.monotonic()
    try:
        root = check_folder(docs_dir)
    except DocumentsError as exc:
        raise DocumentsError(f"MCP_DOCS_DIR: {exc}") from None
    path = Path(os.path.abspath(index_path))
    try:
        return _sync(path, root, url_base, max_file_bytes, require_write, settle, started)
    except sqlite3.Error as exc:  # e.g. a full disk while building
        raise db_error(path, exc) from None
    except OSError as exc:  # the index file or its folder (documents are only logged)
        raise DocumentsError(f"{VAR}: {path}: {exc.strerror or exc}") from None


def _sync(
    path: Path,
    root: Path,
    url_base: str,
    max_file_bytes: int,
    require_write: bool,
    settle: bool,
    started: float,
) -> IndexReport:
    if path.is_dir():
        raise DocumentsError(f"{VAR}: {path} is a directory; name a file in it")
    options = {"docs_dir": str(root), "url_base": url_base, "max_file_bytes": str(max_file_bytes)}
    ro = read_only_reason(path)
    if ro and require_write:
        raise DocumentsError(f"{VAR}: {path} is read-only ({ro}); it can't be built or updated")
    built = None
    if not path.exists() or path.stat().st_size == 0:
        if ro:
            raise DocumentsError(
                f"{VAR}: {path} does not exist and {ro}: build it with `mcp-server index` "
                "where it can be written (for example in the image build)"
            )
        built = build_new(path, root, options, started)
    report = built or _sync_existing(path, root, options, ro, started)
    if settle and not ro and _racy_remaining(path):
        time.sleep(_racy_wait(path))
        again = _sync_existing(path, root, options, ro, started)
        report = merge_reports(report, again)
    return report


def _sync_existing(
    path: Path, root: Path, options: dict[str, str], ro: str | None, started: float
) -> IndexReport:
    db = connect(path, read_only=ro is not None)
    try:
        try:
            reason = mismatch(db, path, options)
        except sqlite3.Error as exc:
            raise db_error(path, exc) from None
        if reason is not None:
            if ro:
                raise DocumentsError(
                    f"{VAR}: {path} can't be used: {reason}; it is read-only ({ro}), so run "
                    "`mcp-server index` where it can be written"
                )
            db.close()
            rebuilt = rebuild(path, root, options, reason, started)
            if rebuilt is not None:
                return rebuilt
            db = connect(path, read_only=False)
        try:
            return _update(db, path, root, options, ro, started)
        except sqlite3.Error as exc:
            raise db_error(path, exc) from None
    finally:
        db.close()


def _racy_ns(mtime_ns: int) -> int:
    return COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else FINE_RACY_NS


def _diff(db: sqlite3.Connection, scanned: dict[str, FileStat]) -> _Diff:
    """Compare the scan with the manifest (no file is read; ~0.1 s per 100k files)."""
    last_scan = int(read_meta(db).get("scan_ns", "0"))
    fine, coarse = last_scan - FINE_RACY_NS, last_scan - COARSE_RACY_NS
    diff = _Diff()
    get = scanned.get
    known: list[str] = []
    for rel, size, mtime_ns in db.execute("SELECT path, size, mtime_ns FROM files"):
        known.append(rel)
        now = get(rel)
        if now is None:
            diff.deleted.append(rel)
        elif (
            now.size != size
            or now.mtime_ns != mtime_ns
            # racily clean: changed in the same timestamp tick as the last scan?
            or mtime_ns >= fine
            or (mtime_ns >= coarse and mtime_ns % 1_000_000_000 == 0)
        ):
            diff.suspects[rel] = (size, mtime_ns, b"")
        else:
            diff.unchanged += 1
    diff.added = sorted(scanned.keys() - set(known))
    diff.deleted.sort()
    if diff.suspects:
        shas = db.execute(
            "SELECT path, sha256 FROM files WHERE path IN (SELECT value FROM json_each(?))",
            (json.dumps(list(diff.suspects)),),
        )
        for rel, sha in shas:
            size, mtime_ns, _ = diff.suspects[rel]
            diff.suspects[rel] = (size, mtime_ns, sha)
    return diff


@dataclass
class _Changes:
    added: list[LoadedFile] = field(default_factory=list)
    modified: list[LoadedFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    touched: list[LoadedFile] = field(default_factory=list)  # new stat, same content
    verified: list[str] = field(default_factory=list)  # racy, stat and content unchanged

    @property
    def content(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


def _classify(diff: _Diff, load: Callable[[str], LoadedFile | None]) -> _Changes:
    changes = _Changes(deleted=list(diff.deleted))
    changes.added = [f for f in (load(rel) for rel in diff.added) if f is not None]
    for rel, (size, mtime_ns, sha) in diff.suspects.items():
        now = load(rel)
        if now is None:
            changes.deleted.append(rel)
        elif now.sha256 != sha:
            changes.modified.append(now)
        elif (now.stat.size, now.stat.mtime_ns) != (size, mtime_ns):
            changes.touched.append(now)
        else:
            changes.verified.append(rel)
    changes.deleted.sort()
    return changes


def _update(
    db: sqlite3.Connection,
    path: Path,
    root: Path,
    options: dict[str, str],
    ro: str | None,
    started: float,
) -> IndexReport:
    url_base, max_bytes = options["url_base"], int(options["max_file_bytes"])
    scan_ns = time.time_ns()
    scanned = scan_directory(root, max_bytes)
    diff = _diff(db, scanned)
    loaded: dict[str, LoadedFile | None] = {}

    def load(rel: str) -> LoadedFile | None:
        if rel not in loaded:
            loaded[rel] = read_file(scanned[rel], url_base, max_bytes)
        return loaded[rel]

    for rel in [*diff.added, *diff.suspects]:  # read and hash outside the write lock
        load(rel)
    changes = _classify(diff, load)
    report = IndexReport(path=path, docs_dir=root, read_only=ro is not None)
    if ro:
        if changes.content:
            raise DocumentsError(_stale_message(path, ro, changes))
        if changes.touched:
            log.info(
                "%d files in %s have a new mtime but the same content; the read-only index "
                "can't record that, so each start reads them again (run `mcp-server index` "
                "where the index is writable to record it)",
                len(changes.touched),
                root,
            )
    if ro or not (changes.content or changes.touched or changes.verified):
        count = int(read_meta(db).get("count", "0"))
        return _report(report, changes, diff.unchanged, count, started)
    seen = db.execute("PRAGMA data_version").fetchone()[0]
    db.execute("BEGIN IMMEDIATE")  # waits for another writer; then the manifest is final
    try:
        if db.execute("PRAGMA data_version").fetchone()[0] != seen:
            # Another process wrote in between: diff again against what it left.
            diff = _diff(db, scanned)
            changes = _classify(diff, load)
        writer = IndexWriter(db)
        for rel in changes.deleted + [f.stat.rel for f in changes.modified]:
            writer.remove_file(rel)
        for new in changes.modified + changes.added:
            writer.add(new.document, FileRecord(new.stat, new.sha256))
        for same in changes.touched:
            writer.restat(same.stat)
        writer.finish(scan_ns=scan_ns)
        count = int(read_meta(db)["count"])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return _report(report, changes, diff.unchanged + len(changes.verified), count, started)


def _report(
    base: IndexReport, changes: _Changes, unchanged: int, count: int, started: float
) -> IndexReport:
    return IndexReport(
        path=base.path,
        docs_dir=base.docs_dir,
        added=tuple(sorted(f.stat.rel for f in changes.added)),
        modified=tuple(sorted(f.stat.rel for f in changes.modified)),
        deleted=tuple(changes.deleted),
        touched=tuple(sorted(f.stat.rel for f in changes.touched)),
        unchanged=unchanged,
        documents=count,
        read_only=base.read_only,
        seconds=time.monotonic() - started,
    )


def _stale_message(path: Path, ro: str, changes: _Changes) -> str:
    examples = [f.stat.rel for f in changes.added + changes.modified] + changes.deleted
    return (
        f"{VAR}: {path} is out of date with MCP_DOCS_DIR ({len(changes.added)} added, "
        f"{len(changes.modified)} modified, {len(changes.deleted)} deleted, e.g. "
        f"{examples[0]}) and is "
        f"read-only ({ro}); run `mcp-server index` where it can be written, or make it "
        "writable so start-up updates it"
    )


def _racy_remaining(path: Path) -> bool:
    db = connect(path, read_only=True)
    try:
        last = int(read_meta(db).get("scan_ns", "0"))
        row = db.execute(
            "SELECT 1 FROM files WHERE mtime_ns >= ? - "
            "(CASE WHEN mtime_ns % 1000000000 = 0 THEN ? ELSE ? END) LIMIT 1",
            (last, COARSE_RACY_NS, FINE_RACY_NS),
        ).fetchone()
        return row is not None
    finally:
        db.close()


def _racy_wait(path: Path) -> float:
    db = connect(path, read_only=True)
    try:
        newest = db.execute("SELECT max(mtime_ns) FROM files").fetchone()[0] or 0
    finally:
        db.close()
    until = newest + _racy_ns(newest)
    return max(0.0, min(COARSE_RACY_NS, until - time.time_ns()) / 1e9)
