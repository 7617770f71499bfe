"""The persistent index through the real commands: ``mcp-server index`` and ``mcp-server stdio``
as subprocesses, a real MCP client over stdio, real files, real permissions."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

MCP = str(Path(sys.executable).with_name("mcp-server"))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def env(docs: Path, index: Path | None, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    base |= {"MCP_DOCS_DIR": str(docs), "MCP_LOG_FORMAT": "console", **extra}
    if index is not None:
        base["MCP_INDEX_PATH"] = str(index)
    return base


def index(
    docs: Path, idx: Path | None, *prefix: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, MCP, "index"],
        env=env(docs, idx, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=docs.parent,
    )


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def corpus(root: Path) -> Path:
    docs = root / "docs"
    write(docs, "guides/install.md", "# Installing\n\nRun the zephyrine installer.\n")
    write(docs, "guides/upgrade.md", "# Upgrading\n\nThe quokkalith upgrade path.\n")
    write(docs, "faq.md", "# FAQ\n\nAnswers about billing and marmalite.\n")
    write(docs, "notes.txt", "plain notes on the obsidianth release\n")
    return docs


def changed_lines(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines() if line.startswith("  ")]


def meta(idx: Path) -> dict[str, str]:
    db = sqlite3.connect(f"{idx.as_uri()}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


def integrity(idx: Path) -> str:
    db = sqlite3.connect(f"{idx.as_uri()}?mode=ro", uri=True)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


async def search_ids(transport: StdioTransport, query: str) -> list[str]:
    async with Client(transport) as client:
        result = await client.call_tool("search", {"query": query})
        assert result.structured_content is not None
        return [hit["id"] for hit in result.structured_content["results"]]


def stdio(docs: Path, idx: Path, *prefix: str, **extra: str) -> StdioTransport:
    argv = [*prefix, MCP, "stdio"]
    return StdioTransport(argv[0], argv[1:], env=env(docs, idx, **extra), cwd=str(docs.parent))


# mcp-server index ----------------------------------------------------------------------


def test_index_builds_then_reports_exactly_what_changed(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    first = index(docs, idx)
    assert first.returncode == 0, first.stderr
    assert "built (new index)" in first.stdout
    assert "4 documents" in first.stdout
    assert integrity(idx) == "ok"

    write(docs, "guides/new.md", "# New\n\nA brand new page.\n")
    write(docs, "faq.md", "# FAQ\n\nAnswers about billing, marmalite and more.\n")
    (docs / "notes.txt").unlink()
    upgrade = docs / "guides/upgrade.md"
    upgrade.write_text(upgrade.read_text())  # same bytes, new mtime
    os.utime(upgrade, ns=(time.time_ns(), upgrade.stat().st_mtime_ns - 5_000_000_000))
    second = index(docs, idx)
    assert second.returncode == 0, second.stderr
    assert "updated: 1 added, 1 modified, 1 deleted, 1 touched" in second.stdout
    assert changed_lines(second.stdout) == [
        "added guides/new.md",
        "modified faq.md",
        "deleted notes.txt",
        "touched guides/upgrade.md",
    ]
    assert "4 documents" in second.stdout

    third = index(docs, idx)
    assert third.returncode == 0, third.stderr
    assert "up to date: 0 added, 0 modified, 0 deleted, 0 touched" in third.stdout
    assert changed_lines(third.stdout) == []
    assert integrity(idx) == "ok"


def test_a_touched_but_identical_file_is_not_indexed_again(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    before = meta(idx)
    faq = docs / "faq.md"
    os.utime(faq, ns=(time.time_ns(), faq.stat().st_mtime_ns - 3_000_000_000))
    proc = index(docs, idx)
    assert proc.returncode == 0, proc.stderr
    assert changed_lines(proc.stdout) == ["touched faq.md"]
    after = meta(idx)
    # No document changed: the generation (bumped by every content change) stayed put,
    # while the manifest took the new mtime, so the next run does not read it either.
    assert after["generation"] == before["generation"]
    db = sqlite3.connect(f"{idx.as_uri()}?mode=ro", uri=True)
    stored = db.execute("SELECT mtime_ns FROM files WHERE path = 'faq.md'").fetchone()[0]
    db.close()
    assert stored == faq.stat().st_mtime_ns
    assert changed_lines(index(docs, idx).stdout) == []


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("unset", "MCP_INDEX_PATH is not set"),
        ("garbage", "is not a usable search index (file is not a database)"),
        ("foreign", "is a SQLite database that mcp-server did not create"),
        ("directory", "is a directory"),
        ("no-folder", "does not exist"),
        ("empty-value", "MCP_INDEX_PATH is not set"),  # empty = unset: in memory
        ("read-only", "is read-only (the file has no write permission)"),
    ],
)
def test_index_errors_are_one_line_naming_the_variable(
    tmp_path: Path, setup: str, needle: str
) -> None:
    docs = corpus(tmp_path)
    idx: Path | None = tmp_path / "search.db"
    extra: dict[str, str] = {}
    if setup == "unset":
        idx = None
    elif setup == "garbage":
        assert idx is not None
        idx.write_bytes(os.urandom(8192))
    elif setup == "foreign":
        db = sqlite3.connect(tmp_path / "search.db")
        db.execute("CREATE TABLE precious (x)")
        db.commit()
        db.close()
    elif setup == "directory":
        idx = tmp_path
    elif setup == "no-folder":
        idx = tmp_path / "missing" / "search.db"
    elif setup == "empty-value":
        idx = None
        extra["MCP_INDEX_PATH"] = ""
    elif setup == "read-only":
        assert idx is not None
        assert index(docs, idx).returncode == 0
        idx.chmod(0o444)
    proc = index(docs, idx, **extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mcp-server index: MCP_INDEX_PATH")
    assert needle in lines[0]
    if setup == "foreign":  # never overwritten
        db = sqlite3.connect(tmp_path / "search.db")
        assert db.execute("SELECT name FROM sqlite_schema").fetchall() == [("precious",)]
        db.close()


def test_schema_or_folder_mismatch_is_rebuilt_or_refused_when_read_only(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    db = sqlite3.connect(idx)
    db.execute("PRAGMA user_version = 0")  # an index written by an older schema
    db.close()
    idx.chmod(0o444)
    refused = index(docs, idx)
    assert refused.returncode == 2
    served = subprocess.run(
        [MCP, "check"], env=env(docs, idx), capture_output=True, text=True, timeout=60, check=False
    )
    assert served.returncode == 2
    assert "MCP_INDEX_PATH" in served.stderr
    assert "schema 0" in served.stderr
    assert "mcp-server index" in served.stderr
    idx.chmod(0o644)
    rebuilt = index(docs, idx)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "built (rebuilt: it had index schema 0" in rebuilt.stdout

    other = tmp_path / "other"
    write(other, "only.md", "# Only\n")
    moved = index(other, idx)
    assert moved.returncode == 0, moved.stderr
    assert f"it was built for {docs.resolve()}, not {other.resolve()}" in moved.stdout
    assert "1 documents" in moved.stdout
    assert integrity(idx) == "ok"


# mcp-server stdio ----------------------------------------------------------------------


async def test_stdio_serves_the_index_and_sees_changes_after_a_restart(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    built = meta(idx)["generation"]
    async with Client(stdio(docs, idx)) as client:
        found = await client.call_tool("search", {"query": "zephyrine"})
        assert found.structured_content is not None
        assert [h["id"] for h in found.structured_content["results"]] == ["guides/install"]
        doc = await client.call_tool("fetch", {"id": "faq"})
        assert doc.structured_content is not None
        assert "marmalite" in doc.structured_content["text"]
        health = await client.call_tool("health", {})
        assert health.structured_content is not None
        assert health.structured_content["checks"]["index"]["detail"] == "4 documents indexed"
    assert meta(idx)["generation"] == built  # served as built: nothing re-indexed

    write(docs, "guides/new.md", "# New\n\nThe wombatite feature.\n")
    write(docs, "faq.md", "# FAQ\n\nAnswers about billing and gooseberrium.\n")
    (docs / "notes.txt").unlink()
    async with Client(stdio(docs, idx)) as client:  # start-up applies the changes
        new = await client.call_tool("search", {"query": "wombatite"})
        assert new.structured_content is not None
        assert [h["id"] for h in new.structured_content["results"]] == ["guides/new"]
        old = await client.call_tool("search", {"query": "marmalite"})
        assert old.structured_content is not None
        assert old.structured_content["results"] == []
        gone = await client.call_tool("fetch", {"id": "notes"}, raise_on_error=False)
        assert gone.is_error
    assert meta(idx)["count"] == "4"
    up_to_date = index(docs, idx)
    assert changed_lines(up_to_date.stdout) == []  # start-up already recorded everything


async def test_a_running_server_sees_another_process_update_the_shared_file(
    tmp_path: Path,
) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    async with Client(stdio(docs, idx)) as client:
        result = await client.call_tool("search", {"query": "platypodium"})
        assert result.structured_content is not None
        assert result.structured_content["results"] == []
        write(docs, "later.md", "# Later\n\nplatypodium arrives\n")
        assert index(docs, idx).returncode == 0
        result = await client.call_tool("search", {"query": "platypodium"})
        assert result.structured_content is not None
        assert [h["id"] for h in result.structured_content["results"]] == ["later"]
        health = await client.call_tool("health", {})
        assert health.structured_content is not None
        assert health.structured_content["checks"]["index"]["detail"] == "5 documents indexed"


async def test_read_only_index_is_served(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    idx.chmod(0o444)
    # A touched-but-identical file is fine: its content is checked, the index is current.
    faq = docs / "faq.md"
    os.utime(faq, ns=(time.time_ns(), faq.stat().st_mtime_ns - 3_000_000_000))
    assert await search_ids(stdio(docs, idx), "quokkalith") == ["guides/upgrade"]
    assert oct(idx.stat().st_mode & 0o777) == "0o444"


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder other users can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="mcp-index-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(path)


def _as_nobody() -> list[str]:
    """Run as an unprivileged user so file modes really apply (they don't stop root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: can't drop privileges")
    # The command may not start for that user at all: an interpreter under a private home
    # (pyenv in /root) or a checkout in a private folder (mktemp -d). Nothing to test then.
    probe = subprocess.run(
        [*NOBODY, MCP, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"mcp-server does not start as an unprivileged user here: {probe.stderr}")
    return NOBODY


async def test_read_only_folder_and_file_for_an_unprivileged_user(shared_tmp: Path) -> None:
    prefix = _as_nobody()
    docs = corpus(shared_tmp)
    idx_dir = shared_tmp / "index"
    idx_dir.mkdir()
    idx = idx_dir / "search.db"
    assert index(docs, idx).returncode == 0  # built by the owner, like an image build
    for path in [docs, *docs.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    idx.chmod(0o444)
    idx_dir.chmod(0o555)
    assert await search_ids(stdio(docs, idx, *prefix), "obsidianth") == ["notes"]
    assert sorted(p.name for p in idx_dir.iterdir()) == ["search.db"]  # no journal left
    refused = index(docs, idx, *prefix)
    assert refused.returncode == 2
    assert "read-only" in refused.stderr


def test_stale_read_only_index_stops_start_up(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    idx.chmod(0o444)
    write(docs, "faq.md", "# FAQ\n\nAnswers about billing and rhubarbium.\n")
    proc = subprocess.run(
        [MCP, "stdio"],
        env=env(docs, idx),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("mcp-server stdio: MCP_INDEX_PATH: ")
    assert "out of date with MCP_DOCS_DIR (0 added, 1 modified, 0 deleted, e.g. faq.md)" in line
    assert "run `mcp-server index`" in line
    assert proc.stdout == ""


# Concurrency ---------------------------------------------------------------------------


def _spawn(argv: list[str], docs: Path, idx: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        env=env(docs, idx),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=docs.parent,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        out.append((proc.returncode, stdout, stderr))
    return out


def test_concurrent_first_builds_leave_one_complete_index(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    for i in range(2000):  # big enough that the builds overlap (~1 s each)
        write(docs, f"bulk/page{i:04d}.md", f"# Page {i}\n\n" + f"filler words {i} " * 120)
    idx = tmp_path / "search.db"
    procs = [_spawn([MCP, "index"], docs, idx) for _ in range(3)]
    procs += [_spawn([MCP, "check"], docs, idx) for _ in range(2)]  # a server start
    results = _finish(procs)
    assert [code for code, _, _ in results] == [0] * 5, results
    built = sum("built (new index)" in out for _, out, _ in results[:3])
    assert built <= 1  # a loser uses the winner's file (the winner may be a `check`)
    assert integrity(idx) == "ok"
    assert meta(idx)["count"] == "2004"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".search.db")]
    assert leftovers == []
    assert changed_lines(index(docs, idx).stdout) == []


def test_concurrent_updates_serialize_and_apply_each_change_once(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    idx = tmp_path / "search.db"
    assert index(docs, idx).returncode == 0
    write(docs, "added.md", "# Added\n\nnarwhalite\n")
    write(docs, "faq.md", "# FAQ\n\nchanged text\n")
    # Hold the write lock so every process finds the changes, then queues for the lock.
    holder = sqlite3.connect(idx, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    procs = [_spawn([MCP, "index"], docs, idx) for _ in range(4)]
    time.sleep(3)  # let them start; correctness does not depend on it
    holder.execute("ROLLBACK")
    holder.close()
    results = _finish(procs)
    assert [code for code, _, _ in results] == [0] * 4, results
    applied = [out for _, out, _ in results if "1 added, 1 modified" in out]
    assert len(applied) == 1, results  # the others found nothing left to do
    assert all("up to date" in out for _, out, _ in results if out not in applied)
    assert integrity(idx) == "ok"
    db = sqlite3.connect(idx)
    ids = [r[0] for r in db.execute("SELECT id FROM docs ORDER BY id")]
    files = db.execute("SELECT count(*) FROM files").fetchone()[0]
    db.close()
    assert ids == ["added", "faq", "guides/install", "guides/upgrade", "notes"]
    assert files == 5
