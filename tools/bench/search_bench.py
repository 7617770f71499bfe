"""Benchmark the default document index (SQLite FTS5): build time and search latency.

Generates deterministic corpora of 1k/10k/100k Markdown documents (Zipf-distributed words
over a 30k-word vocabulary, ~2 KB each), indexes each with ``SqliteFtsSource`` and times
a few hundred queries (1-3 topical words, plus a few very common words) on the calling
thread, i.e. the SQLite work itself. Prints a table; ``--json PATH`` also writes it.

    uv run python tools/bench/search_bench.py [--sizes 1000,10000,100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import platform
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp_fastapi_server.documents import SqliteFtsSource

SEED = 20260101
VOCAB_SIZE = 30_000
ZIPF_S = 1.05
POOL_SIZE = 2**20
EXACT_CHECKS = 40  # queries per size also ranked without the cap, to report top-10 overlap
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


def run(size: int, pool: list[str], vocab: list[str], qs: list[tuple[str, str]]) -> dict[str, Any]:
    docs = list(corpus(size, pool, vocab, SEED + size))
    text_mb = sum(len(t) for _, t in docs) / 1e6
    gc.collect()
    t0 = time.perf_counter()
    source = SqliteFtsSource.from_documents(docs)
    build_s = time.perf_counter() - t0
    del docs
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
    overlap = []
    for _, q in qs[:EXACT_CHECKS]:
        approx = {h.id for h in source.search_now(q, limit=10).hits}
        exact = {h.id for h in source.search_now(q, limit=10, max_ranked=10**9).hits}
        if exact:
            overlap.append(len(approx & exact) / len(exact))
    every = list(itertools.chain.from_iterable(times.values()))
    source.close()
    return {
        "docs": size,
        "text_mb": round(text_mb, 1),
        "build_s": round(build_s, 2),
        "queries": len(every),
        "with_hits": hits,
        "p50_ms": round(pct(every, 50), 3),
        "p99_ms": round(pct(every, 99), 3),
        "max_ms": round(max(every), 3),
        "cpu_p50_ms": round(pct(cpu, 50), 3),
        "cpu_p99_ms": round(pct(cpu, 99), 3),
        "topical_p99_ms": round(pct(times["topical"], 99), 3),
        "common_p50_ms": round(statistics.median(times["common"]), 3),
        "common_max_ms": round(max(times["common"]), 3),
        "top10_overlap_with_exact": round(statistics.mean(overlap), 3) if overlap else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    vocab = vocabulary(rng)
    cum = list(itertools.accumulate(1 / (r**ZIPF_S) for r in range(1, len(vocab) + 1)))
    qs = queries(vocab, rng, args.queries)
    pool = word_pool(vocab, cum, rng)
    results = []
    header = (
        f"{'docs':>7} {'text MB':>8} {'build s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'cpu p50':>7} {'cpu p99':>7} "
        f"{'topical p99':>11} {'common p50':>10} {'common max':>10} {'hits':>9} {'top10 ~':>7}"
    )
    print(header)
    for size in (int(s) for s in args.sizes.split(",")):
        r = run(size, pool, vocab, qs)
        results.append(r)
        print(
            f"{r['docs']:>7} {r['text_mb']:>8} {r['build_s']:>8} {r['p50_ms']:>7} "
            f"{r['p99_ms']:>7} {r['max_ms']:>7} {r['cpu_p50_ms']:>7} {r['cpu_p99_ms']:>7} "
            f"{r['topical_p99_ms']:>11} "
            f"{r['common_p50_ms']:>10} {r['common_max_ms']:>10} "
            f"{r['with_hits']:>4}/{r['queries']:<4} {r['top10_overlap_with_exact']!s:>7}",
            flush=True,
        )
    if args.json:
        env = {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "machine": platform.machine(),
            "queries_per_size": args.queries,
        }
        args.json.write_text(json.dumps({"env": env, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
