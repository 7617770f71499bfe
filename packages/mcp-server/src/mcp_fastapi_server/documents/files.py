"""Reading a folder of Markdown/text files into :class:`Document` objects.

Ids are stable relative paths without extension (``guides/install``); titles come from
the first Markdown heading. Single bad files are logged and skipped, so one unreadable
file does not keep the server from starting.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from urllib.parse import quote

from mcp_fastapi_server.documents.source import Document

__all__ = ["EXTENSIONS", "load_directory", "markdown_title"]

log = logging.getLogger(__name__)

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


def load_directory(root: Path, url_base: str, max_file_bytes: int) -> Iterator[Document]:
    """Every ``EXTENSIONS`` file under ``root`` (resolved), hidden files and folders
    skipped, in sorted path order."""

    def skip(exc: OSError) -> None:
        log.warning("skipping unreadable folder %s: %s", exc.filename, exc.strerror)

    for dirpath, dirnames, filenames in os.walk(root, onerror=skip):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith(".") or path.suffix.lower() not in EXTENSIONS:
                continue
            doc = _load_file(root, path, url_base, max_file_bytes)
            if doc is not None:
                yield doc


def _load_file(root: Path, path: Path, url_base: str, max_file_bytes: int) -> Document | None:
    try:
        real = path.resolve()
        if not real.is_relative_to(root):
            log.warning("skipping %s: it links outside %s", path, root)
            return None
        stat = real.stat()
        if not S_ISREG(stat.st_mode):  # a FIFO or device named *.md would block the read
            log.warning("skipping %s: not a regular file", path)
            return None
        if stat.st_size > max_file_bytes:
            log.warning("skipping %s: %d bytes is over %d", path, stat.st_size, max_file_bytes)
            return None
        data = real.read_bytes()
    except OSError as exc:
        log.warning("skipping unreadable %s: %s", path, exc.strerror)
        return None
    except RuntimeError:  # Path.resolve() on a symlink loop (Python 3.11)
        log.warning("skipping %s: symlink loop", path)
        return None
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        log.warning("%s is not valid UTF-8; bad bytes were replaced", path)
    rel = path.relative_to(root)
    doc_id = rel.with_suffix("").as_posix()
    modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat(timespec="seconds")
    return Document(
        id=doc_id,
        title=markdown_title(text, rel.stem),
        text=text,
        url=url_base + quote(doc_id),
        metadata={"path": rel.as_posix(), "bytes": len(data), "modified": modified},
    )
