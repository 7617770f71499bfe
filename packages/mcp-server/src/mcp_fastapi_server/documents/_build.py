"""The index file itself: may it be written, is it ours and current, building it anew.

A new index is built into a private temporary file next to ``MCP_INDEX_PATH`` (no journal
while nobody else can see it), then hard-linked into place, so a crash never leaves half
an index and, when two processes build at once, the first link wins. An existing index
that is outdated (schema, folder, options) gets a fresh build copied over it with
SQLite's backup API, under SQLite's own locks, so its readers see the old or the new
index and never a mix. A file that is not ours is never touched.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from mcp_fastapi_server.documents._files import read_file, scan_directory
from mcp_fastapi_server.documents._report import IndexReport
from mcp_fastapi_server.documents._source import Document, DocumentsError
from mcp_fastapi_server.documents._sqlite_fts import build_into
from mcp_fastapi_server.documents._store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    FileRecord,
    read_meta,
)

__all__ = [
    "VAR",
    "WRITE_WAIT_S",
    "build_new",
    "connect",
    "db_error",
    "mismatch",
    "read_only_reason",
    "rebuild",
]

log = logging.getLogger("mcp_fastapi_server.documents")

VAR = "MCP_INDEX_PATH"
WRITE_WAIT_S = 300.0  # how long a writer waits for another process's write


def read_only_reason(path: Path) -> str | None:
    """Why ``path`` can't be written, or ``None``. Write bits count even for root: an
    operator who ran ``chmod a-w`` means the index to stay as it is."""
    folder = path.parent
    if not folder.is_dir():
        raise DocumentsError(f"{VAR}: the folder {folder} does not exist")
    if path.exists():
        if not os.access(path, os.W_OK):
            return "the file is not writable by this user"
        if not path.stat().st_mode & 0o222:
            return "the file has no write permission"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder} is not writable by this user"
    if not folder.stat().st_mode & 0o222:
        return f"its folder {folder} has no write permission"
    return None


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    mode = "ro" if read_only else "rw"
    return sqlite3.connect(
        f"{path.as_uri()}?mode={mode}", uri=True, isolation_level=None, timeout=WRITE_WAIT_S
    )


def db_error(path: Path, exc: sqlite3.Error) -> DocumentsError:
    """One line naming the variable; "delete it and rebuild" only when the file is bad."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DocumentsError(
            f"{VAR}: {path} stayed locked by another process for {WRITE_WAIT_S:g} s ({exc})"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_IOERR")):
        return DocumentsError(f"{VAR}: {path}: {exc}")
    return DocumentsError(
        f"{VAR}: {path} is not a usable search index ({exc}); "
        "delete it and run `mcp-server index` to build it again"
    )


def mismatch(db: sqlite3.Connection, path: Path, options: dict[str, str]) -> str | None:
    """Why the file must be rebuilt (another schema, folder or options), or ``None``.

    Raises for a file that is not ours: it is never overwritten."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID:
        if app_id == 0 and not db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
            return "the file was an empty SQLite database"
        raise DocumentsError(
            f"{VAR}: {path} is a SQLite database that mcp-server did not create; "
            "refusing to overwrite it (point MCP_INDEX_PATH at a new file)"
        )
    if version != SCHEMA_VERSION:
        return f"it had index schema {version}; this version uses {SCHEMA_VERSION}"
    meta = read_meta(db)
    if meta.get("docs_dir") != options["docs_dir"]:
        return f"it was built for {meta.get('docs_dir')}, not {options['docs_dir']}"
    for key in ("url_base", "max_file_bytes"):
        if meta.get(key) != options[key]:
            return f"it was built with {key}={meta.get(key)!r}, now {options[key]!r}"
    return None


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _build_file(target: Path, root: Path, options: dict[str, str]) -> list[str]:
    """A complete index of ``root`` in the new file ``target``; the indexed paths."""
    scan_ns = time.time_ns()
    scanned = scan_directory(root, int(options["max_file_bytes"]))
    indexed: list[str] = []

    def items() -> Iterator[tuple[Document, FileRecord]]:
        for rel in sorted(scanned):
            loaded = read_file(scanned[rel], options["url_base"], int(options["max_file_bytes"]))
            if loaded is not None:
                indexed.append(rel)
                yield loaded.document, FileRecord(loaded.stat, loaded.sha256)

    db = sqlite3.connect(target, isolation_level=None)
    try:
        # A private file until it is linked into place: no journal needed while building.
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        build_into(db, items(), options, scan_ns=scan_ns)
    finally:
        db.close()
    with open(target, "rb") as f:
        os.fsync(f.fileno())
    return indexed


def build_new(
    path: Path, root: Path, options: dict[str, str], started: float
) -> IndexReport | None:
    """Build a missing (or empty) index; ``None`` when another process's build won."""
    tmp = _temp_path(path)
    try:
        indexed = _build_file(tmp, root, options)
        try:
            os.link(tmp, path)  # fails if another process linked its build first
        except FileExistsError:
            if not _still_empty(path):
                log.info("another process built %s first; using its index", path)
                return None
            # An empty file someone created (nobody can use it as an index): replace it.
            # Two processes doing this at the same instant both put a complete index
            # there; the last one stays.
            os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return IndexReport(
        path=path,
        docs_dir=root,
        built="new index",
        added=tuple(indexed),
        documents=len(indexed),
        seconds=time.monotonic() - started,
    )


def _still_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return False


def rebuild(
    path: Path, root: Path, options: dict[str, str], reason: str, started: float
) -> IndexReport | None:
    """Replace the content of an existing index with a fresh build (atomically, under
    SQLite's locks, so readers see the old or the new index, never a mix); ``None`` when
    another process rebuilt it meanwhile."""
    tmp = _temp_path(path)
    try:
        indexed = _build_file(tmp, root, options)
        src = sqlite3.connect(tmp)
        dst = connect(path, read_only=False)
        try:
            if mismatch(dst, path, options) is None:
                return None
            src.backup(dst)
        except sqlite3.Error as exc:
            raise db_error(path, exc) from None
        finally:
            src.close()
            dst.close()
    finally:
        tmp.unlink(missing_ok=True)
    log.warning("rebuilt search index %s: %s", path, reason)
    return IndexReport(
        path=path,
        docs_dir=root,
        built=f"rebuilt: {reason}",
        added=tuple(indexed),
        documents=len(indexed),
        seconds=time.monotonic() - started,
    )


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
