"""``tools/bench/run.py --quick`` end to end: real servers, Redis, load generator, stdio
spawns and the search corpus, on minimal durations. Asserts the report's shape and that
no call failed; never a timing. Run by ``uv run nox -s bench -- --quick`` (not part of the
default run: it takes minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent / "run.py"


def test_quick_bench_reports_every_measure_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nhand-written intro\n")
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--quick",
            "--variants",
            "mounted,full",
            "--concurrency",
            "1,4",
            "--json",
            str(out),
            "--markdown",
            str(docs),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())

    summary = {(row["variant"], row["concurrency"]): row for row in result["summary"]}
    assert set(summary) == {(v, c) for v in ("reference", "mounted", "full") for c in (1, 4)}
    for row in summary.values():
        assert row["errors"] == 0
        assert row["calls_per_s"] > 0
        assert row["cpu_us_per_call"] > 0
        assert {"p50_us", "p99_us", "ratio", "added_cpu_us_per_call"} <= set(row)
    assert summary[("reference", 1)]["ratio"] == 1.0

    trips = result["redis_round_trips"]["full"]
    assert trips["requests"] > 0
    assert trips["commands"].get("evalsha", 0) >= trips["requests"]  # the limiter ran
    assert result["rss"]["errors"] == 0
    assert result["rss"]["calls"] >= 500
    assert result["stdio_cold_start"]["ours_ms"] > 0
    assert result["stdio_cold_start"]["reference_ms"] > 0
    assert [r["docs"] for r in result["search"]] == [1000]
    index = result["search_index"]
    assert index["docs"] == 1000
    for key in ("build_s", "start_to_first_search_ms", "one_file_start_ms",
                "update_one_changed_s", "update_one_touched_s", "file_p99_ms"):  # fmt: skip
        assert index[key] > 0, key
    for key in ("cpu", "cores", "python", "versions", "load_average_before", "date"):
        assert key in result["conditions"]

    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written intro\n")  # the intro is kept
    assert "<!-- bench:start -->" in text
    assert "| full | 4 |" in text
