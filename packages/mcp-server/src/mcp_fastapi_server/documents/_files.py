"""A folder of Markdown/text files: which files there are, and each one as a :class:`Document`.

Ids are stable relative paths without extension (``guides/install``); titles come from
the first Markdown heading. Single bad files are logged and skipped, so one unreadable
file does not keep the server from starting.

:func:`scan_directory` only lists and stats (no file is opened), which is what the
persistent index compares with what it stored; :func:`read_file` reads one file and
hashes its bytes, so a file whose mtime changed but whose content did not is recognised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from urllib.parse import quote

from mcp_fastapi_server.documents._source import Document

__all__ = [
    "EXTENSIONS",
    "FileStat",
    "LoadedFile",
    "doc_id_of",
    "load_directory",
    "markdown_title",
    "read_file",
    "scan_directory",
]

log = logging.getLogger("mcp_fastapi_server.documents")

EXTENSIONS = frozenset({".md", ".markdown", ".txt"})
MAX_TITLE_CHARS = 200

_ATX_RE = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_TITLE_RE = re.compile(r"^title:\s*(.+?)\s*$", re.IGNORECASE)


def markdown_title(text: str, fallback: str) -> str:
    """The first Markdown heading (ATX ``# x`` or setext ``x\\n===``), else ``fallback``.

    Front-matter ``title:`` wins; headings inside code fences are ignored. Hand-written
    because a Markdown parser dependency for one line of output is not worth it.
    """
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 100)):
            if lines[i].strip() in ("---", "..."):
                for line in lines[1:i]:
                    if m := _FRONT_TITLE_RE.match(line):
                        return _clean_title(m[1].strip("\"'")) or fallback
                start = i + 1
                break
    fence: str | None = None
    for i in range(start, len(lines)):
        line = lines[i]
        if fm := _FENCE_RE.match(line):
            marker = fm[1]
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        if fence is not None:
            continue
        if m := _ATX_RE.match(line):
            return _clean_title(m[1]) or fallback
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and not line.startswith(("    ", "\t")) and _SETEXT_RE.match(nxt):
            return _clean_title(line) or fallback
    return fallback


def _clean_title(raw: str) -> str:
    title = " ".join(raw.split())
    return title[:MAX_TITLE_CHARS]


@dataclass(frozen=True, slots=True)
class FileStat:
    """One candidate file: ``rel`` is its POSIX path under the root, ``path`` what to open."""

    rel: str
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """A file read and hashed; ``stat`` is taken from the open file, so it matches ``sha256``."""

    stat: FileStat
    sha256: bytes
    document: Document


def doc_id_of(rel: str) -> str:
    """``guides/install.md`` → ``guides/install``."""
    return PurePosixPath(rel).with_suffix("").as_posix()


def scan_directory(root: Path, max_file_bytes: int) -> dict[str, FileStat]:
    """Every ``EXTENSIONS`` file under ``root`` (already resolved) by relative path.

    Hidden files and folders are skipped, symlinked folders are not followed, a symlinked
    file counts only when it resolves inside ``root``; non-regular and oversized files
    are logged and skipped. Only ``stat`` calls: no file is opened. (Start-up with a
    persistent index runs this over every file, so the common case is kept inline.)
    """
    found: dict[str, FileStat] = {}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("skipping unreadable folder %s: %s", folder, exc.strerror)
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                stack.append((entry.path, prefix + name + "/"))
                continue
            if name.rpartition(".")[2].lower() not in _SUFFIXES or "." not in name:
                continue
            if entry.is_symlink():
                stat = _stat_link(root, entry, prefix + name, max_file_bytes)
                if stat is not None:
                    found[stat.rel] = stat
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                log.warning("skipping unreadable %s: %s", entry.path, exc.strerror)
                continue
            if _usable(entry.path, st, max_file_bytes):
                rel = prefix + name
                found[rel] = FileStat(rel, entry.path, st.st_size, st.st_mtime_ns)
    return found


_SUFFIXES = frozenset(ext[1:] for ext in EXTENSIONS)


def _usable(path: str, st: os.stat_result, max_file_bytes: int) -> bool:
    if not S_ISREG(st.st_mode):  # a FIFO or device named *.md would block the read
        log.warning("skipping %s: not a regular file", path)
        return False
    if st.st_size > max_file_bytes:
        log.warning("skipping %s: %d bytes is over %d", path, st.st_size, max_file_bytes)
        return False
    return True


def _stat_link(
    root: Path, entry: os.DirEntry[str], rel: str, max_file_bytes: int
) -> FileStat | None:
    try:
        real = Path(entry.path).resolve()
        if not real.is_relative_to(root):
            log.warning("skipping %s: it links outside %s", entry.path, root)
            return None
        st = os.stat(real)
    except OSError as exc:
        log.warning("skipping unreadable %s: %s", entry.path, exc.strerror)
        return None
    except RuntimeError:  # Path.resolve() on a symlink loop (Python 3.11)
        log.warning("skipping %s: symlink loop", entry.path)
        return None
    if not _usable(entry.path, st, max_file_bytes):
        return None
    return FileStat(rel, str(real), st.st_size, st.st_mtime_ns)


def read_file(stat: FileStat, url_base: str, max_file_bytes: int) -> LoadedFile | None:
    """Read, hash and parse one scanned file; ``None`` (logged) when it can't be read."""
    try:
        fd = os.open(stat.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            st = os.fstat(fd)
            if not S_ISREG(st.st_mode):
                log.warning("skipping %s: not a regular file", stat.path)
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(max_file_bytes + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("skipping unreadable %s: %s", stat.path, exc.strerror)
        return None
    if len(data) > max_file_bytes:
        log.warning("skipping %s: more than %d bytes", stat.path, max_file_bytes)
        return None
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        log.warning("%s is not valid UTF-8; bad bytes were replaced", stat.path)
    doc_id = doc_id_of(stat.rel)
    modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC).isoformat(timespec="seconds")
    document = Document(
        id=doc_id,
        title=markdown_title(text, PurePosixPath(stat.rel).stem),
        text=text,
        url=url_base + quote(doc_id),
        metadata={"path": stat.rel, "bytes": len(data), "modified": modified},
    )
    read_stat = FileStat(rel=stat.rel, path=stat.path, size=len(data), mtime_ns=st.st_mtime_ns)
    return LoadedFile(stat=read_stat, sha256=hashlib.sha256(data).digest(), document=document)


def load_directory(root: Path, url_base: str, max_file_bytes: int) -> Iterator[LoadedFile]:
    """Every readable file under ``root`` (resolved), in sorted path order."""
    scanned = scan_directory(root, max_file_bytes)
    for rel in sorted(scanned):
        loaded = read_file(scanned[rel], url_base, max_file_bytes)
        if loaded is not None:
            yield loaded
