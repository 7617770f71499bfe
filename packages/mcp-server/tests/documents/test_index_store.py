"""The persistent index as a library: stored order across updates, racy mtimes, common
terms, a served file changing underneath, damage, id clashes, ranking past the cap."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from mcp_fastapi_server.documents import DocumentsError, SqliteFtsSource, open_index, sync_index
from mcp_fastapi_server.documents._index import FINE_RACY_NS


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(idx: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"{idx.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def meta(idx: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in rows(idx, "SELECT key, value FROM meta")}


def test_rowids_stay_shortest_first_across_updates(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(40):
        write(docs, f"d{i:02d}.md", "x " * (10 * i + 5))
    idx = tmp_path / "i.db"
    sync_index(idx, docs)
    # New documents of every length, many of one length (more than a gap holds),
    # and a document that grows.
    for i in range(40):
        write(docs, f"n{i:02d}.md", "y " * (10 * i + 7))
    for i in range(30):
        write(docs, f"same{i:02d}.md", "z " * 200)
    write(docs, "d00.md", "x " * 1000)
    report = sync_index(idx, docs)
    assert len(report.added) == 70
    assert report.modified == ("d00.md",)
    stored = [(str(i), int(n)) for i, n in rows(idx, "SELECT id, len FROM docs ORDER BY rowid")]
    assert len(stored) == 110
    others = [n for i, n in stored if not i.startswith("same")]
    assert others == sorted(others)
    # The crowded spot (more documents of one length than a gap holds) spills into the
    # next free rowids: nearly in order, well before the longer documents.
    last_crowded = max(pos for pos, (i, _) in enumerate(stored) if i.startswith("same"))
    assert all(n <= 500 for _, n in stored[: last_crowded + 1])
    assert rows(idx, "PRAGMA integrity_check") == [("ok",)]
    fts_check = sqlite3.connect(idx)
    fts_check.execute("INSERT INTO fts(fts, rank) VALUES ('integrity-check', 1)")
    fts_check.close()


def test_a_racily_clean_file_is_checked_by_content(tmp_path: Path) -> None:
    """Changed within the mtime tick of the last scan, same size and mtime: only the hash
    can tell, so such files are read again until a later scan has seen them settle."""
    docs = tmp_path / "docs"
    page = write(docs, "a.md", "# A\n\nfirst version\n")
    future = time.time_ns() + 10 * FINE_RACY_NS  # the same tick as the scan, say
    os.utime(page, ns=(future, future))
    idx = tmp_path / "i.db"
    sync_index(idx, docs)
    page.write_text("# A\n\nother version\n")  # same size
    os.utime(page, ns=(future, future))  # and the same mtime
    report = sync_index(idx, docs)
    assert report.modified == ("a.md",)
    source, _ = open_index(idx, docs)
    assert [h.id for h in source.search_now("other").hits] == ["a"]
    source.close()


def test_settling_leaves_no_file_to_read_again(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(5):
        write(docs, f"p{i}.md", f"# P{i}\n")  # written just now: racily clean
    idx = tmp_path / "i.db"
    sync_index(idx, docs, settle=True)
    racy = rows(
        idx,
        "SELECT path FROM files, meta WHERE meta.key = 'scan_ns' "
        f"AND files.mtime_ns >= CAST(meta.value AS INTEGER) - {FINE_RACY_NS}",
    )
    assert racy == []


def test_common_terms_are_recounted_after_large_changes_only(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(1000):
        word = "frequent " if i < 600 else ""
        write(docs, f"p{i:04d}.md", f"# Page {i}\n\n{word}page text {i}\n")
    idx = tmp_path / "i.db"
    sync_index(idx, docs)
    assert "frequent" in meta(idx)["common"]
    for i in range(50):  # 5 %: counted, not recounted
        write(docs, f"q{i:03d}.md", f"# More {i}\n\nplain {i}\n")
    sync_index(idx, docs)
    assert "frequent" in meta(idx)["common"]
    assert meta(idx)["common_changes"] == "50"
    for i in range(50, 250):  # now 600 of 1250: still common; then below half
        write(docs, f"q{i:03d}.md", f"# More {i}\n\nplain {i}\n")
    sync_index(idx, docs)
    assert "frequent" not in meta(idx)["common"]
    assert meta(idx)["common_changes"] == "0"


def test_a_served_file_follows_updates_by_other_processes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.md", "# A\n\nalpha\n")
    idx = tmp_path / "i.db"
    source, report = open_index(idx, docs)
    assert report.built == "new index"
    assert source.count_now() == 1
    write(docs, "b.md", "# B\n\nbravo\n")
    sync_index(idx, docs)  # as another process would
    assert source.count_now() == 2
    assert [h.id for h in source.search_now("bravo").hits] == ["b"]
    source.close()


def test_damage_found_while_serving_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(200):
        write(docs, f"p{i:03d}.md", f"# Page {i}\n\n" + "text " * 200)
    idx = tmp_path / "i.db"
    source, _ = open_index(idx, docs)
    with idx.open("r+b") as f:  # lose the second half of the file
        f.truncate(idx.stat().st_size // 2)
    with pytest.raises(DocumentsError, match=r"^MCP_INDEX_PATH=.*i\.db: .*mcp-server index"):
        source.search_now("text", limit=5)
    with pytest.raises(DocumentsError, match=r"^MCP_INDEX_PATH=.*i\.db: "):
        source.get_now("p199")
    source.close()


def test_an_id_clash_from_an_update_changes_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "a.md", "# A\n")
    idx = tmp_path / "i.db"
    sync_index(idx, docs)
    write(docs, "a.txt", "another a\n")
    write(docs, "b.md", "# B\n")
    with pytest.raises(DocumentsError, match=r"two documents have the id 'a' \(a\.md, a\.txt\)"):
        sync_index(idx, docs)
    assert rows(idx, "SELECT id FROM docs") == [("a",)]  # rolled back, b.md not half-added
    (docs / "a.txt").unlink()
    assert sync_index(idx, docs).added == ("b.md",)


def test_files_that_become_unusable_leave_the_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "small.md", "# Small\n")
    big = write(docs, "big.md", "# Big\n")
    idx = tmp_path / "i.db"
    sync_index(idx, docs, max_file_bytes=1000)
    big.write_text("# Big\n" + "x" * 2000)
    report = sync_index(idx, docs, max_file_bytes=1000)
    assert report.deleted == ("big.md",)
    assert report.documents == 1


def test_an_empty_folder_is_an_empty_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    idx = tmp_path / "i.db"
    source, report = open_index(idx, docs)
    assert report.documents == 0
    assert source.search_now("anything").hits == []
    assert source.count_now() == 0
    source.close()


def test_title_hits_are_ranked_even_past_the_cap() -> None:
    """Past `max_ranked` matches only the shortest are ranked, plus every match with a
    query term in its title: a long document titled with the word must not be lost."""
    docs = [(f"p{i:03d}", f"# Page {i}\n\nkeyword " + "pad " * (100 + i)) for i in range(200)]
    docs.append(("long", "# Keyword guide\n\nkeyword " + "pad " * 600))
    source = SqliteFtsSource.from_documents(docs, max_ranked=20)
    page = source.search_now("keyword", limit=3)
    assert page.hits[0].id == "long"
    exact = source.search_now("keyword", limit=3, max_ranked=10**6)
    assert [h.id for h in page.hits] == [h.id for h in exact.hits]
    source.close()
