"""The run's conditions and the markdown table ``run.py`` writes into docs/benchmarks.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["START", "conditions", "markdown", "summarize", "write_markdown"]

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
PACKAGES = (
    "mcp-fastapi-server",
    "fastmcp",
    "mcp",
    "uvicorn",
    "starlette",
    "redis",
    "prometheus-client",
)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match[1].strip() if match else "unknown"


def conditions() -> dict[str, Any]:
    """What a reader needs to compare this run with another one."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "-"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def summarize(rows: list[dict[str, Any]], reference: str = "reference") -> list[dict[str, Any]]:
    """Per (variant, concurrency): medians over rounds, errors summed, ratios per round."""
    by_round: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_round.setdefault((row["round"], row["concurrency"]), {})[row["variant"]] = row
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["concurrency"]), []).append(row)
    out = []
    for (variant, conc), group in groups.items():
        ratios, added = [], []
        for row in group:
            ref = by_round[(row["round"], conc)].get(reference)
            if ref and ref["calls_per_s"]:
                ratios.append(row["calls_per_s"] / ref["calls_per_s"])
                added.append(row["cpu_us_per_call"] - ref["cpu_us_per_call"])

        def med(key: str, group: list[dict[str, Any]] = group) -> float:
            return round(float(statistics.median(r[key] for r in group)), 1)

        out.append(
            {
                "variant": variant,
                "concurrency": conc,
                "rounds": len(group),
                "calls_per_s": med("calls_per_s"),
                "p50_us": med("p50_us"),
                "p99_us": med("p99_us"),
                "cpu_us_per_call": med("cpu_us_per_call"),
                "added_cpu_us_per_call": round(statistics.median(added), 1) if added else 0.0,
                "errors": sum(r["errors"] for r in group),
                "ratio": round(statistics.median(ratios), 3) if ratios else None,
                "ratio_min": round(min(ratios), 3) if ratios else None,
            }
        )
    order = {name: i for i, name in enumerate(dict.fromkeys(r["variant"] for r in rows))}
    out.sort(key=lambda r: (r["concurrency"], order[r["variant"]]))
    return out


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The results section: conditions, throughput table, and the other measurements."""
    c = result["conditions"]
    v = c["versions"]
    lines = [
        START,
        "## Latest run of `tools/bench/run.py`",
        "",
        f"- Date: {c['date']}; mode: {result['mode']}; "
        f"{result['settings']['rounds']} rounds; in each, {result['settings']['duration_s']} s "
        "per variant and concurrency, interleaved in "
        f"{result['settings']['slice_s']} s turns on kept-alive connections",
        f"- CPU: {c['cpu']}, {c['cores']} cores ({c['usable_cores']} usable); "
        f"pinning: {result['pinning']}",
        f"- Python {c['python']}, Linux {c['kernel']}; "
        f"mcp-fastapi-server {v['mcp-fastapi-server']}, "
        f"fastmcp {v['fastmcp']}, mcp {v['mcp']}, uvicorn {v['uvicorn']}, "
        f"starlette {v['starlette']}, redis-py {v['redis']}, Redis {result.get('redis_version')}",
        f"- Load average (1/5/15 min) before: {c['load_average_before']}, "
        f"after: {c.get('load_average_after')}",
        "",
        "`tools/call health` over streamable HTTP (2026-07-28 era, stateless, JSON answers), "
        "closed loop on keep-alive connections. *ratio* = calls/s over bare FastMCP in the "
        "same round (median of rounds); *CPU* = server process CPU per call (utime+stime "
        "from /proc), *added* = minus the reference's in the same round.",
        "",
    ]
    rows = [
        [
            s["variant"],
            s["concurrency"],
            f"{s['calls_per_s']:.0f}",
            f"{s['p50_us'] / 1000:.2f}",
            f"{s['p99_us'] / 1000:.2f}",
            f"{s['cpu_us_per_call']:.0f}",
            f"{s['added_cpu_us_per_call']:+.0f}" if s["variant"] != "reference" else "",
            s["errors"],
            f"{s['ratio']:.3f}" if s["ratio"] is not None else "",
        ]
        for s in result["summary"]
    ]
    header = ["variant", "c", "calls/s", "p50 ms", "p99 ms", "CPU µs/call", "added µs"]
    lines += _table([*header, "errors", "ratio"], rows)
    lines.append("")
    extra = []
    if result.get("redis_round_trips"):
        for name, rt in result["redis_round_trips"].items():
            commands = ", ".join(f"{k} {v}" for k, v in sorted(rt["commands"].items()))
            extra.append(
                f"- Redis round trips per call ({name}): **{rt['per_call']:.3f}** "
                f"over {rt['requests']} calls ({commands}; `MONITOR`, script-internal "
                "commands not counted)"
            )
    if result.get("rss"):
        r = result["rss"]
        extra.append(
            f"- RSS of the full stack over {r['calls']} calls: {r['before_mb']:.1f} MB → "
            f"{r['after_mb']:.1f} MB (**{r['growth_pct']:+.2f} %**)"
        )
    if result.get("stdio_cold_start"):
        s = result["stdio_cold_start"]
        extra.append(
            f"- stdio cold start (spawn → first `tools/list` answer, median of "
            f"{s['runs']}): ours {s['ours_ms']:.0f} ms, bare FastMCP "
            f"{s['reference_ms']:.0f} ms (**{s['ratio']:.3f}×**)"
        )
    lines += extra
    if result.get("search"):
        lines += ["", "`search` on generated corpora (SQLite FTS5, the default index):", ""]
        search_rows = [
            [r["docs"], r["build_s"], r["p50_ms"], r["p99_ms"], r["common_p50_ms"]]
            for r in result["search"]
        ]
        lines += _table(["docs", "build s", "p50 ms", "p99 ms", "common-word p50 ms"], search_rows)
        lines += [
            "",
            "Top-10 agreement with a full BM25 ranking (topical queries): "
            + ", ".join(
                f"{r['docs']} docs {r.get('top10_overlap_with_exact')}" for r in result["search"]
            ),
        ]
    if result.get("search_index"):
        ix = result["search_index"]
        lines += [
            "",
            f"Persistent search index (`MCP_INDEX_PATH`), {ix['docs']} documents as files "
            f"({ix['index_mb']} MB index):",
            "",
        ]
        index_rows = [
            ("`mcp-server index`, full build, wall / own work (s)", "build_wall_s", "build_s"),
            (f"stdio start → first `search` answer, median of {ix['runs']} (ms)",
             "start_to_first_search_ms", None),
            ("same start on a one-file corpus (ms)", "one_file_start_ms", None),
            ("difference (ms)", "start_extra_ms", None),
            ("start after one changed file, applied at start-up (ms)",
             "start_after_one_change_ms", None),
            ("`mcp-server index` after one changed file, wall / own work (s)",
             "update_one_changed_wall_s", "update_one_changed_s"),
            ("`mcp-server index` after one touched file, wall / own work (s)",
             "update_one_touched_wall_s", "update_one_touched_s"),
            ("`search` on the file, p50 / p99 (ms)", "file_p50_ms", "file_p99_ms"),
        ]  # fmt: skip
        lines += _table(
            ["measure", "value"],
            [[label, f"{ix[a]}" + (f" / {ix[b]}" if b else "")] for label, a, b in index_rows],
        )
    if result.get("notes"):
        lines += ["", *[f"- {note}" for note in result["notes"]]]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, section: str) -> None:
    """Replace the marked section of ``path`` (or append it)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
