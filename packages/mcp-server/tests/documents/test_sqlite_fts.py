"""SqliteFtsSource: loading, titles, ranking, snippets, hostile queries, paging, threads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.documents import (
    Document,
    DocumentsError,
    DocumentSource,
    SqliteFtsSource,
    default_source,
    samples_dir,
)
from mcp_fastapi_server.documents._files import markdown_title
from mcp_fastapi_server.documents._query import build_fts_query


@pytest.fixture
def samples() -> Iterator[SqliteFtsSource]:
    source = SqliteFtsSource.from_directory(samples_dir())
    yield source
    source.close()


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# Loading -------------------------------------------------------------------------------


def test_bundled_samples_ship_with_the_package() -> None:
    files = sorted(p for p in samples_dir().rglob("*") if p.is_file())
    assert len(files) >= 12
    assert any(not p.read_text(encoding="utf-8").isascii() for p in files)


async def test_sample_source_implements_the_protocol(samples: SqliteFtsSource) -> None:
    assert isinstance(samples, DocumentSource)
    assert await samples.count() == len(list(samples_dir().rglob("*.md"))) + 1  # + the .txt


async def test_ids_titles_urls_and_metadata_from_files(tmp_path: Path) -> None:
    write(tmp_path, "guides/install.md", "Intro line\n\n## Installing the thing\n\nbody")
    write(tmp_path, "notes.txt", "no heading at all")
    write(tmp_path, "Ünïcode name.markdown", "Setext title\n===\n\ntext")
    write(tmp_path, ".hidden.md", "# hidden")
    write(tmp_path, ".git/HEAD.md", "# not a doc")
    write(tmp_path, "image.png", "# not a doc")
    source = SqliteFtsSource.from_directory(tmp_path, url_base="https://docs.example/")
    listed = await source.list(offset=0, limit=10)
    assert [h.id for h in listed.hits] == ["guides/install", "notes", "Ünïcode name"]
    doc = await source.get("guides/install")
    assert doc is not None
    assert doc.title == "Installing the thing"
    assert doc.url == "https://docs.example/guides/install"
    assert doc.metadata["path"] == "guides/install.md"
    assert doc.metadata["bytes"] == len(doc.text.encode())
    assert doc.metadata["modified"].endswith("+00:00")
    notes = await source.get("notes")
    assert notes is not None
    assert notes.title == "notes"
    uni = await source.get("Ünïcode name")
    assert uni is not None
    assert uni.title == "Setext title"
    assert uni.url == "https://docs.example/%C3%9Cn%C3%AFcode%20name"
    assert await source.get("guides/install.md") is None
    assert await source.get(".hidden") is None
    source.close()


def test_utf8_bom_is_dropped_and_bad_bytes_replaced(tmp_path: Path) -> None:
    (tmp_path / "bom.md").write_bytes(b"\xef\xbb\xbf# Title\n")
    (tmp_path / "latin1.md").write_bytes(b"# Caf\xe9\n")
    source = SqliteFtsSource.from_directory(tmp_path)
    bom = source.get_now("bom")
    latin = source.get_now("latin1")
    assert bom is not None
    assert bom.text == "# Title\n"
    assert bom.title == "Title"
    assert latin is not None
    assert latin.title == "Caf\ufffd"
    source.close()


def test_clashing_ids_stop_loading(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "# one")
    write(tmp_path, "a.txt", "two")
    with pytest.raises(DocumentsError, match="'a'"):
        SqliteFtsSource.from_directory(tmp_path)


def test_missing_or_bad_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentsError, match="does not exist"):
        SqliteFtsSource.from_directory(tmp_path / "nope")
    file = write(tmp_path, "f.md", "x")
    with pytest.raises(DocumentsError, match="not a directory"):
        SqliteFtsSource.from_directory(file)


def test_unreadable_sources_are_clear_errors_or_skipped_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures that happen for every user, root included (file modes do not stop root)."""
    # MCP_DOCS_DIR that cannot be read as a folder: start-up stops with one clear line.
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(DocumentsError, match=r"^MCP_DOCS_DIR: .*dangling does not exist"):
        default_source(load_settings(docs_dir=dangling))
    regular = write(tmp_path, "regular.md", "# a file, not a folder")
    with pytest.raises(DocumentsError, match=r"^MCP_DOCS_DIR: .*regular\.md is not a directory"):
        default_source(load_settings(docs_dir=regular))
    # One file that cannot be read (its link target is gone): logged and skipped, the rest
    # is served.
    root = tmp_path / "docs"
    write(root, "ok.md", "# ok")
    (root / "broken.md").symlink_to(root / "deleted.md")
    with caplog.at_level(logging.WARNING, logger="mcp_fastapi_server.documents"):
        source = SqliteFtsSource.from_directory(root)
    assert source.get_now("ok") is not None
    assert source.get_now("broken") is None
    assert any(
        "skipping unreadable" in record.getMessage() and "broken.md" in record.getMessage()
        for record in caplog.records
    ), caplog.text
    source.close()


def test_default_source_uses_docs_dir_or_samples(tmp_path: Path) -> None:
    write(tmp_path, "only.md", "# Only one")
    mine = default_source(load_settings(docs_dir=tmp_path))
    assert mine.get_now("only") is not None
    bundled = default_source(load_settings())
    assert bundled.get_now("faq") is not None
    with pytest.raises(DocumentsError, match=r"^MCP_DOCS_DIR: .*does not exist"):
        default_source(load_settings(docs_dir=tmp_path / "missing"))
    mine.close()
    bundled.close()


def test_symlink_out_of_the_root_is_skipped(tmp_path: Path) -> None:
    outside = write(tmp_path, "secret/key.md", "# secret")
    root = tmp_path / "docs"
    write(root, "ok.md", "# ok")
    (root / "leak.md").symlink_to(outside)
    source = SqliteFtsSource.from_directory(root)
    assert source.get_now("ok") is not None
    assert source.get_now("leak") is None
    source.close()


# Titles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Hello  world #\n", "Hello world"),
        ("text\n\n### Deep heading ###", "Deep heading"),
        ("```bash\n# a comment\n```\n# Real", "Real"),
        ("~~~\n# in fence\n~~~\nSetext\n---", "Setext"),
        ("---\ntitle: 'From front matter'\n---\n# Heading", "From front matter"),
        ("---\nauthor: x\n---\n# After front matter", "After front matter"),
        ("#not a heading\nplain", "stem"),
        ("", "stem"),
        ("    # indented code\n", "stem"),
        ("# " + "x" * 500, "x" * 200),
    ],
)
def test_markdown_title(text: str, title: str) -> None:
    assert markdown_title(text, "stem") == title


# Search --------------------------------------------------------------------------------


async def test_ranking_prefers_title_and_frequency() -> None:
    source = SqliteFtsSource.from_documents(
        [
            ("body-once", "# Something else\n\nA sprocket appears once among many other words."),
            ("title", "# Sprocket\n\nAll about gears."),
            ("body-many", "# Gears\n\nsprocket sprocket sprocket, the sprocket."),
            ("unrelated", "# Nothing\n\nNo match here."),
        ]
    )
    page = await source.search("sprocket", offset=0, limit=10)
    assert [h.id for h in page.hits] == ["title", "body-many", "body-once"]
    assert not page.has_more


async def test_snippets_mark_hits_and_collapse_whitespace(samples: SqliteFtsSource) -> None:
    page = await samples.search("E42", offset=0, limit=5)
    assert page.hits
    assert all("**E42**" in h.snippet or "**e42**" in h.snippet.lower() for h in page.hits)
    assert all("\n" not in h.snippet and "\ue000" not in h.snippet for h in page.hits)
    # the document's own **bold** does not merge with the highlight markers
    cancel = await samples.search("cancel", offset=0, limit=1)
    assert "****" not in cancel.hits[0].snippet


async def test_diacritics_case_and_non_latin_scripts(samples: SqliteFtsSource) -> None:
    for query, doc_id in [
        ("zurich", "company/about"),
        ("ZÜRICH", "company/about"),
        ("東京", "company/about"),
        ("עברית", "faq"),
        ("łodz", "guides/troubleshooting"),  # ó, ź fold; ł is a letter of its own
    ]:
        page = await samples.search(query, offset=0, limit=20)
        assert doc_id in [h.id for h in page.hits], query


@pytest.mark.parametrize(
    "query",
    ['"', "*", "AND", "OR", "NOT", "NEAR(", "NEAR(a b", "title:", "{title}: x", "^", "-",
     "a AND", "(", ")", "'", "\\", "\x00", "   ", "", "…", "🛠️", "\ud800", "a" * 5000],
)  # fmt: skip
async def test_hostile_queries_never_raise(samples: SqliteFtsSource, query: str) -> None:
    page = await samples.search(query, offset=0, limit=5)
    assert isinstance(page.hits, list)


async def test_operators_are_plain_words(samples: SqliteFtsSource) -> None:
    page = await samples.search("AND", offset=0, limit=50)
    assert page.hits
    assert all("**and**" in h.snippet.lower() for h in page.hits)
    assert (await samples.search("*", offset=0, limit=5)).hits == []
    near = SqliteFtsSource.from_documents([("n", "the shop is near the station")])
    assert [h.id for h in (await near.search("NEAR(", offset=0, limit=5)).hits] == ["n"]
    assert build_fts_query("NEAR(a, b) OR c*") == '"NEAR" "a" "b" "OR" "c"'
    assert build_fts_query('"') is None


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_any_text_is_a_safe_query(query: str) -> None:
    page = _SAMPLES.search_now(query, limit=3)
    assert len(page.hits) <= 3


_SAMPLES = SqliteFtsSource.from_directory(samples_dir())


async def test_no_document_has_every_word_falls_back_to_any(samples: SqliteFtsSource) -> None:
    page = await samples.search("how do I cancel my plan zzzunknown", offset=0, limit=3)
    assert page.hits[0].id == "faq"
    assert (await samples.search("zzzunknown", offset=0, limit=3)).hits == []


async def test_pages_partition_the_results(samples: SqliteFtsSource) -> None:
    whole = await samples.search("widget", offset=0, limit=100)
    assert len(whole.hits) > 5
    assert not whole.has_more
    seen = []
    offset = 0
    while True:
        page = await samples.search("widget", offset=offset, limit=2)
        seen += [h.id for h in page.hits]
        offset += len(page.hits)
        if not page.has_more:
            break
    assert seen == [h.id for h in whole.hits]


async def test_very_common_words_are_dropped_when_rarer_ones_exist() -> None:
    docs = [(f"d{i:04d}", f"# Doc {i}\n\nthe common filler text {i}") for i in range(1200)]
    docs.append(("target", "# Target\n\nthe rare zephyr word"))
    source = SqliteFtsSource.from_documents(docs)
    # "the" is in every document: it cannot change BM25's order, so it is ignored ...
    page = await source.search("the zephyr", offset=0, limit=5)
    assert [h.id for h in page.hits] == ["target"]
    assert (await source.search("the nowhere", offset=0, limit=5)).hits == []
    # ... but alone it still matches (in stored order once over the ranking cap).
    capped = SqliteFtsSource.from_documents(docs, max_ranked=3)
    alone = await capped.search("the", offset=1190, limit=50)
    assert len(alone.hits) == 11
    # small corpora keep plain AND-then-OR semantics
    small = SqliteFtsSource.from_documents(docs[:20])
    assert len((await small.search("the nowhere", offset=0, limit=50)).hits) == 20


async def test_ranking_cap_ranks_the_shortest_matches() -> None:
    # "word" is in every third document (40 of 120), with lengths growing with i.
    docs = [
        (f"d{i:03d}", "# T\n\n" + ("word " if i % 3 == 0 else "") + "pad " * (i + 1))
        for i in range(120)
    ]
    exact = SqliteFtsSource.from_documents(docs)
    capped = SqliteFtsSource.from_documents(docs, max_ranked=10)
    full = await exact.search("word", offset=0, limit=100)
    assert len(full.hits) == 40
    first = await capped.search("word", offset=0, limit=4)
    rest = await capped.search("word", offset=4, limit=100)
    ids = [h.id for h in first.hits + rest.hits]
    assert first.has_more
    assert not rest.has_more
    assert sorted(ids) == [f"d{i:03d}" for i in range(0, 30, 3)]  # the 10 shortest
    assert ids == [h.id for h in full.hits][:10]  # BM25 favours short documents anyway
    # the override used by the benchmark ranks everything
    assert len(capped.search_now("word", limit=100, max_ranked=10**6).hits) == 40


async def test_list_pages_in_id_order(samples: SqliteFtsSource) -> None:
    total = await samples.count()
    first = await samples.list(offset=0, limit=5)
    rest = await samples.list(offset=5, limit=100)
    ids = [h.id for h in first.hits + rest.hits]
    assert ids == sorted(ids)
    assert len(ids) == total
    assert first.has_more
    assert not rest.has_more


async def test_bad_offsets_raise_value_error(samples: SqliteFtsSource) -> None:
    with pytest.raises(ValueError, match="offset"):
        await samples.search("x", offset=-1, limit=5)
    with pytest.raises(ValueError, match="limit"):
        await samples.list(offset=0, limit=0)


async def test_from_documents_accepts_documents_and_pairs() -> None:
    source = SqliteFtsSource.from_documents(
        [
            Document(id="x", title="Given", text="body", url="u://x", metadata={"k": 1}),
            ("y/z", "# Derived\ntext"),
        ]
    )
    x, yz = source.get_now("x"), source.get_now("y/z")
    assert x is not None
    assert (x.title, x.url, x.metadata) == ("Given", "u://x", {"k": 1})
    assert yz is not None
    assert (yz.title, yz.url) == ("Derived", "docs://y/z")
    source.close()


async def test_threaded_searches_run_concurrently_and_agree(samples: SqliteFtsSource) -> None:
    docs = [(f"doc{i}", f"# Doc {i}\n\nalpha beta {i} gamma") for i in range(50)]
    threaded = SqliteFtsSource.from_documents(docs, inline_search_max_docs=0)
    inline = SqliteFtsSource.from_documents(docs)
    queries = ["alpha", "beta 7", "gamma 12", "delta", "alpha beta"] * 20
    got = await asyncio.gather(*(threaded.search(q, offset=0, limit=5) for q in queries))
    want = [inline.search_now(q, limit=5) for q in queries]
    assert got == want
    threaded.close()
    inline.close()


def test_closed_source_refuses_work() -> None:
    source = SqliteFtsSource.from_documents([("a", "text")])
    source.close()
    with pytest.raises(RuntimeError, match="closed"):
        source.get_now("a")


def test_symlink_loops_and_fifos_are_skipped(tmp_path: Path) -> None:
    import os

    from mcp_fastapi_server.documents import SqliteFtsSource

    (tmp_path / "good.md").write_text("# Good\n\nreal words here\n")
    (tmp_path / "loop.md").symlink_to(tmp_path / "loop.md")
    os.mkfifo(tmp_path / "pipe.md")
    source = SqliteFtsSource.from_directory(tmp_path)
    assert [d.id for d in source.list_now(offset=0, limit=10).hits] == ["good"]
