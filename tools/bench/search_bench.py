"""Benchmark the default document index (SQLite FTS5): build time, search latency, and the
persistent index (``MCP_INDEX_PATH``): start-up and incremental updates.

Generates deterministic corpora of 1k/10k/100k Markdown documents (Zipf-distributed words
over a 30k-word vocabulary, ~2 KB each), indexes each in memory with ``SqliteFtsSource`` and
times a few hundred queries (1-3 topical words, plus a few very common words) on the
calling thread (the SQLite work itself) and through the async ``search()`` the tools call
(plus the worker-thread hop). Ranking quality: top-10 agreement of the bounded ranking with
a full BM25 ranking, over topical queries (a query of very common words only is unranked
by design, so it is reported apart).

``--index-size N`` also writes N documents as files and measures the persistent index
through the real commands: ``mcp-server index`` (full build, then after one changed file
and after one touched file), start-up to the first ``search`` answer over stdio against
the same start on a one-file corpus, and search latency on the file.

    uv run python tools/bench/search_bench.py [--sizes 1000,10000,100000] [--queries 400]
        [--index-size 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import platform
import random
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp_fastapi_server.documents import SqliteFtsSource

SEED = 20260101
VOCAB_SIZE = 30_000
ZIPF_S = 1.05
POOL_SIZE = 2**20
EXACT_CHECKS = 100  # queries per size also ranked without the cap, to report top-10 overlap
COMMON = [
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with", "on", "be",
    "by", "this", "are", "or", "from", "at", "an", "not", "can", "you", "your", "widget",
]  # fmt: skip
SYLLABLES = [
    "ka", "to", "ri", "men", "sa", "lo", "ver", "di", "na", "pol", "te", "qua", "bri", "zan",
    "el", "or", "um", "ex", "fi", "gra", "hu", "jo", "ki", "lu", "mo", "ne", "pu", "re", "sti",
]  # fmt: skip


def vocabulary(rng: random.Random) -> list[str]:
    """``COMMON`` first (the head of the distribution), then pseudo-words."""
    words = list(COMMON)
    seen = set(words)
    while len(words) < VOCAB_SIZE:
        word = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def word_pool(vocab: list[str], cum: list[float], rng: random.Random) -> list[str]:
    """2**20 Zipf draws; documents index into it with random bytes, ~30x faster than
    ``random.choices`` per word, which keeps the 100k corpus to seconds."""
    return rng.choices(vocab, cum_weights=cum, k=POOL_SIZE)


def corpus(n: int, pool: list[str], vocab: list[str], seed: int) -> Iterator[tuple[str, str]]:
    """``n`` deterministic ``(id, markdown)`` documents of a few KB."""
    rng = random.Random(seed)
    for i in range(n):
        length = min(800, max(100, int(rng.lognormvariate(5.7, 0.35))))  # median ~300 words
        idx = memoryview(rng.randbytes(4 * length)).cast("I")
        words = [pool[j & (POOL_SIZE - 1)] for j in idx]
        title = " ".join(rng.choices(vocab[200:5000], k=rng.randint(2, 5))).capitalize()
        paragraphs = [" ".join(words[j : j + 60]) + "." for j in range(0, length, 60)]
        yield f"section{i % 50:02d}/doc{i:06d}", f"# {title}\n\n" + "\n\n".join(paragraphs)


def queries(vocab: list[str], rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``(kind, query)``: mostly topical words (ranks 100-5000), a few stopword queries."""
    out: list[tuple[str, str]] = []
    for i in range(count):
        if i % 20 == 19:
            out.append(("common", " ".join(rng.sample(COMMON[:10], rng.randint(1, 2)))))
            continue
        k = rng.choices([1, 2, 3], weights=[5, 4, 2])[0]
        out.append(("topical", " ".join(rng.choice(vocab[100:5000]) for _ in range(k))))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency(source: SqliteFtsSource, qs: list[tuple[str, str]]) -> dict[str, Any]:
    """Each query on the calling thread (wall and thread CPU time), then through the async
    ``search()`` the tools call (inline or via a worker thread, as the source decides)."""
    for _, q in qs[:20]:  # warm the page cache and the statement cache
        source.search_now(q, limit=10)
    times: dict[str, list[float]] = {"topical": [], "common": []}
    cpu: list[float] = []  # thread CPU time: robust when other processes share the cores
    hits = 0
    for kind, q in qs:
        t, c = time.perf_counter(), time.thread_time()
        page = source.search_now(q, limit=10)
        cpu.append((time.thread_time() - c) * 1000)
        times[kind].append((time.perf_counter() - t) * 1000)
        hits += bool(page.hits)

    async def through_search() -> list[float]:
        out = []
        for _, q in qs:
            t = time.perf_counter()
            await source.search(q, offset=0, limit=10)
            out.append((time.perf_counter() - t) * 1000)
        return out

    hop = asyncio.run(through_search())
    every = list(itertools.chain.from_iterable(times.values()))
    return {
        "queries": len(every),
        "with_hits": hits,
        "p50_ms": round(pct(every, 50), 3),
        "p99_ms": round(pct(every, 99), 3),
        "max_ms": round(max(every), 3),
        "cpu_p50_ms": round(pct(cpu, 50), 3),
        "cpu_p99_ms": round(pct(cpu, 99), 3),
        "async_p50_ms": round(pct(hop, 50), 3),
        "async_p99_ms": round(pct(hop, 99), 3),
        "topical_p99_ms": round(pct(times["topical"], 99), 3),
        "common_p50_ms": round(statistics.median(times["common"]), 3),
        "common_max_ms": round(max(times["common"]), 3),
    }


def agreement(source: SqliteFtsSource, qs: list[tuple[str, str]]) -> dict[str, Any]:
    """Top-10 overlap of the bounded ranking with a full BM25 ranking of every match."""
    overlap: dict[str, list[float]] = {"topical": [], "common": []}
    for kind, q in qs[:EXACT_CHECKS]:
        approx = {h.id for h in source.search_now(q, limit=10).hits}
        exact = {h.id for h in source.search_now(q, limit=10, max_ranked=10**9).hits}
        if exact:
            overlap[kind].append(len(approx & exact) / len(exact))
    every = overlap["topical"] + overlap["common"]
    return {
        "top10_overlap_with_exact": round(statistics.mean(overlap["topical"]), 3)
        if overlap["topical"]
        else None,
        "top10_checked": len(overlap["topical"]),
        "top10_overlap_all": round(statistics.mean(every), 3) if every else None,
        "common_only_checked": len(overlap["common"]),
    }


def run(size: int, pool: list[str], vocab: list[str], qs: list[tuple[str, str]]) -> dict[str, Any]:
    docs = list(corpus(size, pool, vocab, SEED + size))
    text_mb = sum(len(t) for _, t in docs) / 1e6
    gc.collect()
    t0 = time.perf_counter()
    source = SqliteFtsSource.from_documents(docs)
    build_s = time.perf_counter() - t0
    del docs
    result = {"docs": size, "text_mb": round(text_mb, 1), "build_s": round(build_s, 2)}
    result |= latency(source, qs)
    result |= agreement(source, qs)
    source.close()
    return result


# The persistent index through the real commands -------------------------------------------
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def mcp_server() -> list[str]:
    script = Path(sys.executable).with_name("mcp-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcp_fastapi_server"]


def command_env(docs: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "FASTMCP_"))}
    env |= {"MCP_DOCS_DIR": str(docs), "MCP_INDEX_PATH": str(index), "MCP_LOG_LEVEL": "WARNING"}
    return env


def write_corpus(root: Path, size: int, pool: list[str], vocab: list[str]) -> float:
    started = time.perf_counter()
    for doc_id, text in corpus(size, pool, vocab, SEED + size):
        path = root / f"{doc_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return time.perf_counter() - started


def index_command(docs: Path, index: Path) -> tuple[float, str]:
    """``mcp-server index``: wall seconds (process start to exit) and its report line."""
    started = time.perf_counter()
    proc = subprocess.run(
        [*mcp_server(), "index"],
        env=command_env(docs, index),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"mcp-server index failed: {proc.stderr.strip()}")
    return took, proc.stdout.splitlines()[0]


def reported_seconds(line: str) -> float:
    """The time ``mcp-server index`` reports for its own work (after the imports)."""
    return float(line.rsplit("(", 1)[1].split(" s", 1)[0])


def first_search_ms(docs: Path, index: Path, query: str) -> float:
    """Spawn ``mcp-server stdio`` → the answer to a ``tools/call search`` written at once
    (no handshake in the 2026-07-28 era)."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "search", "arguments": {"query": query}, "_meta": MODERN_META},
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*mcp_server(), "stdio"],
        env=command_env(docs, index),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        buf = b""
        deadline = started + 600
        while b"\n" not in buf:
            left = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([proc.stdout], [], [], left)
            chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise RuntimeError("mcp-server stdio: no answer to the search")
            buf += chunk
        took = (time.perf_counter() - started) * 1000
        answer = json.loads(buf.split(b"\n", 1)[0])
        if "result" not in answer or answer["result"].get("isError"):
            raise RuntimeError(f"mcp-server stdio: {answer}")
        return took
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def index_run(
    size: int, pool: list[str], vocab: list[str], qs: list[tuple[str, str]], runs: int
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mcp-index-bench-"))
    try:
        big_docs, big_index = tmp / "docs", tmp / "search.db"
        one_docs, one_index = tmp / "one", tmp / "one.db"
        write_s = write_corpus(big_docs, size, pool, vocab)
        (one_docs).mkdir()
        (one_docs / "only.md").write_text("# Only\n\nThe single document.\n")
        build_wall, build_line = index_command(big_docs, big_index)
        index_command(one_docs, one_index)
        query = qs[0][1]
        for docs, index in ((big_docs, big_index), (one_docs, one_index)):  # warm caches
            first_search_ms(docs, index, query)
        start: dict[str, list[float]] = {"big": [], "one": []}
        for i in range(runs):
            order = [("big", big_docs, big_index), ("one", one_docs, one_index)]
            for name, docs, index in order if i % 2 == 0 else order[::-1]:
                start[name].append(first_search_ms(docs, index, query))
        changed = sorted(big_docs.rglob("*.md"))[size // 2]
        changed.write_text(changed.read_text() + "\nOne more line.\n")
        update_wall, update_line = index_command(big_docs, big_index)
        touched = sorted(big_docs.rglob("*.md"))[size // 3]
        os.utime(touched, ns=(time.time_ns(), touched.stat().st_mtime_ns - 10**9))
        touch_wall, touch_line = index_command(big_docs, big_index)
        changed.write_text(changed.read_text() + "\nAnd another.\n")
        start_after_change = first_search_ms(big_docs, big_index, query)
        source = SqliteFtsSource.open_file(big_index, label="bench")
        on_file = latency(source, qs)
        source.close()
        big_ms, one_ms = statistics.median(start["big"]), statistics.median(start["one"])
        return {
            "docs": size,
            "write_files_s": round(write_s, 1),
            "index_mb": round(big_index.stat().st_size / 2**20, 1),
            "build_wall_s": round(build_wall, 2),
            "build_s": reported_seconds(build_line),
            "start_to_first_search_ms": round(big_ms, 1),
            "one_file_start_ms": round(one_ms, 1),
            "start_extra_ms": round(big_ms - one_ms, 1),
            "start_samples_ms": {k: [round(x, 1) for x in v] for k, v in start.items()},
            "start_after_one_change_ms": round(start_after_change, 1),
            "update_one_changed_wall_s": round(update_wall, 2),
            "update_one_changed_s": reported_seconds(update_line),
            "update_one_touched_wall_s": round(touch_wall, 2),
            "update_one_touched_s": reported_seconds(touch_line),
            "file_p50_ms": on_file["p50_ms"],
            "file_p99_ms": on_file["p99_ms"],
            "file_async_p99_ms": on_file["async_p99_ms"],
            "runs": runs,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument(
        "--index-size", type=int, default=0, help="also measure the persistent index (0: no)"
    )
    parser.add_argument("--index-runs", type=int, default=5, help="stdio starts per corpus")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    vocab = vocabulary(random.Random(SEED))
    cum = list(itertools.accumulate(1 / (r**ZIPF_S) for r in range(1, len(vocab) + 1)))
    # Separate generators: the corpus must not depend on how many queries are asked.
    pool = word_pool(vocab, cum, random.Random(SEED + 1))
    qs = queries(vocab, random.Random(SEED + 2), args.queries)
    results = []
    header = (
        f"{'docs':>7} {'text MB':>8} {'build s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'cpu p99':>7} {'async p99':>9} {'topical p99':>11} {'common p50':>10} "
        f"{'hits':>9} {'top10 ~':>7} {'all ~':>6}"
    )
    print(header)
    for size in (int(s) for s in args.sizes.split(",") if s):
        r = run(size, pool, vocab, qs)
        results.append(r)
        print(
            f"{r['docs']:>7} {r['text_mb']:>8} {r['build_s']:>8} {r['p50_ms']:>7} "
            f"{r['p99_ms']:>7} {r['max_ms']:>7} {r['cpu_p99_ms']:>7} {r['async_p99_ms']:>9} "
            f"{r['topical_p99_ms']:>11} {r['common_p50_ms']:>10} "
            f"{r['with_hits']:>4}/{r['queries']:<4} {r['top10_overlap_with_exact']!s:>7} "
            f"{r['top10_overlap_all']!s:>6}",
            flush=True,
        )
    print(
        f"(top10 ~: agreement with a full BM25 ranking over {EXACT_CHECKS} queries minus the "
        "very-common-word-only ones, which are unranked by design; all ~: with them)"
    )
    index: dict[str, Any] | None = None
    if args.index_size:
        print(f"persistent index, {args.index_size} documents as files ...", flush=True)
        index = index_run(args.index_size, pool, vocab, qs, args.index_runs)
        for key, value in index.items():
            print(f"  {key:<28} {value}")
    if args.json:
        env = {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "machine": platform.machine(),
            "queries_per_size": args.queries,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        out = {"env": env, "results": results, "index": index}
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
