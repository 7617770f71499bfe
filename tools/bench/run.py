"""``nox -s bench``: the full production stack against bare FastMCP, and the other numbers.

Starts a throw-away Redis, bare FastMCP (tools/bench/reference_server.py) and
``mcp-server serve`` in several layer sets (mounted only; + auth; + Redis limits; + logs;
+ metrics; full), each a real process pinned to core 0, and drives ``tools/call health``
from a load generator process pinned to core 1 (tools/bench/loadgen.py), in interleaved
rounds at each concurrency so a busy machine slows every variant alike. Then: Redis
round trips per call (``INFO commandstats``), RSS over many calls, stdio cold start, and
``search`` latency over generated corpora and the persistent index's start-up and updates
(tools/bench/search_bench.py).

Prints a table; writes JSON (``--json``) and the markdown section of docs/benchmarks.md
(``--markdown``). Asserts nothing about speed: numbers depend on the machine.

    uv run nox -s bench                 # about 8 minutes
    uv run nox -s bench -- --quick      # a smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Run as a script (``python tools/bench/run.py``): make ``tools.bench`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis
from tools.bench.loadgen import build_request, rss_bytes
from tools.bench.report import conditions, markdown, summarize, write_markdown
from tools.bench.stack import (
    HERE,
    VARIANTS,
    Server,
    clean_env,
    loadgen_cpus,
    pin,
    server_cpus,
    start_ours,
    start_reference,
    workdir,
)

ROOT = HERE.parent.parent
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class LoadGen:
    """The load generator process: one JSON job in, one JSON result out."""

    def __init__(self) -> None:
        cpus = loadgen_cpus()
        env = clean_env({"BENCH_LOADGEN_CPUS": ",".join(map(str, sorted(cpus))) if cpus else ""})
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "loadgen.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def run(self, server: Server, **job: Any) -> dict[str, Any]:
        job = {"port": server.port, "server_pid": server.pid, "token": server.token, **job}
        try:
            return self._ask(job)  # type: ignore[no-any-return]
        except RuntimeError as exc:
            raise RuntimeError(f"{server.name}: {exc}") from None

    def rotate(
        self, servers: list[Server], concurrency: int, slice_s: float, slices: int
    ) -> list[dict[str, Any]]:
        """All servers interleaved in ``slice_s`` slices (see loadgen.run_rotation)."""
        targets = [{"port": s.port, "server_pid": s.pid, "token": s.token} for s in servers]
        job = {"targets": targets, "concurrency": concurrency, "slice_s": slice_s}
        return self._ask({**job, "slices": slices})  # type: ignore[no-any-return]

    def _ask(self, job: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator died")
        result = json.loads(line)
        if isinstance(result, dict) and "failed" in result:
            raise RuntimeError(f"load failed: {result['failed']}")
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def redis_round_trips(
    gen: LoadGen, server: Server, client: redis.Redis, url: str, calls: int
) -> dict[str, Any]:
    """Commands the server sent Redis per ``tools/call``, watched with ``MONITOR``.

    ``INFO commandstats`` cannot tell a round trip from a command a Lua script ran inside
    Redis (``TIME``/``GET``/``SET`` of the limiter's script count there too); ``MONITOR``
    marks those ``lua``. Nothing here pipelines several commands into one round trip
    except concurrent requests, and this runs at concurrency 1.
    """
    own = str(client.client_info()["addr"])
    done = "bench-monitor-done"
    top: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    ready = threading.Event()

    def watch() -> None:
        watcher = redis.Redis.from_url(url)
        with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
            ready.set()
            for cmd in monitor.listen():
                text = str(cmd["command"])
                if text == f"ECHO {done}":
                    return
                name = text.split(" ", 1)[0].lower()
                if cmd.get("client_type") == "lua":
                    inside[name] += 1
                elif f"{cmd.get('client_address')}:{cmd.get('client_port')}" != own:
                    top[name] += 1

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    result = gen.run(server, concurrency=1, duration=0, warmup=0, calls=calls)
    client.echo(done)
    thread.join(30)
    sent = result["sent"]
    return {
        "requests": sent,
        "commands": dict(top),
        "inside_scripts": dict(inside),
        "per_call": sum(top.values()) / sent,
    }


def stdio_first_list_ms(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Spawn → the answer to a ``tools/list`` written at once (no handshake in 2026-07-28)."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    pin(proc.pid, server_cpus())
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        buf = b""
        deadline = start + 120
        while b"\n" not in buf:
            ready, _, _ = select.select(
                [proc.stdout], [], [], max(0.0, deadline - time.perf_counter())
            )
            chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise RuntimeError(f"{argv}: no tools/list answer")
            buf += chunk
        took = (time.perf_counter() - start) * 1000
        answer = json.loads(buf.split(b"\n", 1)[0])
        if "result" not in answer:
            raise RuntimeError(f"{argv}: {answer}")
        return took
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stdio_cold_start(runs: int) -> dict[str, Any]:
    ours = [sys.executable, "-m", "mcp_fastapi_server", "stdio"]
    reference = [sys.executable, str(HERE / "reference_server.py"), "--stdio"]
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    with tempfile.TemporaryDirectory() as cwd:
        env = clean_env()
        for argv in (ours, reference):  # warm the page cache
            stdio_first_list_ms(argv, env, cwd)
        for i in range(runs):
            order = [("ours", ours), ("reference", reference)]
            for name, argv in order if i % 2 == 0 else order[::-1]:
                times[name].append(stdio_first_list_ms(argv, env, cwd))
    ours_ms, ref_ms = statistics.median(times["ours"]), statistics.median(times["reference"])
    return {
        "runs": runs,
        "ours_ms": round(ours_ms, 1),
        "reference_ms": round(ref_ms, 1),
        "ratio": round(ours_ms / ref_ms, 3),
        "samples_ms": {k: [round(x, 1) for x in v] for k, v in times.items()},
    }


def search_latency(
    sizes: str, queries: int, index_size: int, index_runs: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """In-memory search latency per corpus size, and the persistent index's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "search.json"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "search_bench.py"),
                "--sizes",
                sizes,
                "--queries",
                str(queries),
                "--index-size",
                str(index_size),
                "--index-runs",
                str(index_runs),
                "--json",
                str(out),
            ],
            check=True,
            env=clean_env(),
        )
        data = json.loads(out.read_text())
        return data["results"], data.get("index")


def print_row(row: dict[str, Any]) -> None:
    print(
        f"  r{row['round']} c={row['concurrency']:<3} {row['variant']:<10} "
        f"{row['calls_per_s']:>8.0f}/s  p50 {row['p50_us'] / 1000:6.2f} ms  "
        f"p99 {row['p99_us'] / 1000:6.2f} ms  cpu {row['cpu_us_per_call']:6.0f} µs  "
        f"err {row['errors']}",
        flush=True,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: short and small")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", type=float, help="measured seconds per job")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each job")
    p.add_argument(
        "--slice", type=float, default=1.0, help="seconds per turn when interleaving servers"
    )
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--variants", default=",".join(VARIANTS), help="of: " + ",".join(VARIANTS))
    p.add_argument("--rss-calls", type=int)
    p.add_argument("--redis-calls", type=int)
    p.add_argument("--stdio-runs", type=int)
    p.add_argument("--search-sizes")
    p.add_argument("--search-queries", type=int)
    p.add_argument("--index-size", type=int, help="documents for the persistent index (0: skip)")
    p.add_argument("--index-runs", type=int, help="stdio starts per corpus for the index")
    p.add_argument(
        "--json",
        type=Path,
        help="default tools/bench/results/latest.json ($TMPDIR/mcp-bench-quick.json with --quick)",
    )
    p.add_argument("--markdown", type=Path, help="default docs/benchmarks.md (not with --quick)")
    p.add_argument("--no-markdown", action="store_true")
    p.add_argument("--no-stdio", action="store_true", help="skip the stdio cold start")
    p.add_argument("--no-search", action="store_true", help="skip the search latency")
    p.add_argument(
        "--baseline",
        metavar="MCP_SERVER",
        help="also serve each variant with another environment's mcp-server command (an "
        "older checkout's .venv/bin/mcp-server) as <variant>@baseline, interleaved in the "
        "same rounds, so before and after share one run's conditions",
    )
    args = p.parse_args(argv)
    full = {
        "rounds": 3,
        "duration": 2.0,
        "warmup": 0.5,
        "rss_calls": 100_000,
        "redis_calls": 2000,
        "stdio_runs": 5,
        "search_sizes": "1000,10000,100000",
        "search_queries": 200,
        "index_size": 100_000,
        "index_runs": 5,
    }
    quick = {
        "rounds": 1,
        "duration": 0.4,
        "warmup": 0.2,
        "rss_calls": 500,
        "redis_calls": 50,
        "stdio_runs": 1,
        "search_sizes": "1000",
        "search_queries": 20,
        "index_size": 1000,
        "index_runs": 1,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.slice = min(args.slice, 0.2)
    if args.json is None:  # a smoke run's numbers are not worth a diff in the repository
        smoke = Path(tempfile.gettempdir()) / "mcp-bench-quick.json"
        args.json = smoke if args.quick else HERE / "results" / "latest.json"
    if args.markdown is None and not args.quick and not args.no_markdown:
        args.markdown = ROOT / "docs" / "benchmarks.md"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    levels = [int(c) for c in args.concurrency.split(",")]
    began = time.monotonic()
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "conditions": conditions(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "slice_s": args.slice,
            "concurrency": levels,
            "variants": variants,
            "baseline": args.baseline,
        },
        "pinning": f"servers on CPU {sorted(server_cpus() or [])}, load generator on "
        f"{sorted(loadgen_cpus() or [])}"
        if server_cpus()
        else "none (one usable core)",
        "notes": [],
    }
    from mcp_testkit.redis import start_redis  # the testkit's provider chain

    redis_server = start_redis()
    client = redis.Redis.from_url(redis_server.url)
    info: dict[str, Any] = client.info("server")
    result["redis_version"] = info.get("redis_version")
    pin(int(info["process_id"]), loadgen_cpus())
    servers: dict[str, Server] = {}
    gen: LoadGen | None = None
    with workdir() as tmp:
        try:
            servers["reference"] = start_reference(Path(tmp))
            for name in variants:
                servers[name] = start_ours(name, Path(tmp), redis_server.url)
            if args.baseline:
                for name in variants:
                    server = start_ours(name, Path(tmp), redis_server.url, baseline=args.baseline)
                    servers[server.name] = server
            for server in servers.values():
                server.wait_ready(build_request(server.port, "/mcp", "health", server.token))
            gen = LoadGen()
            print(f"servers up after {time.monotonic() - began:.1f}s; warming up", flush=True)
            for server in servers.values():
                gen.run(server, concurrency=8, duration=args.warmup * 2, warmup=args.warmup)
            rows: list[dict[str, Any]] = []
            names = list(servers)
            slices = max(1, round(args.duration / args.slice))
            for rnd in range(args.rounds):
                for conc in levels:
                    found = gen.rotate(list(servers.values()), conc, args.slice, slices)
                    for name, row in zip(names, found, strict=True):
                        row |= {"round": rnd + 1, "concurrency": conc, "variant": name}
                        rows.append(row)
                        print_row(row)
            result["runs"] = rows
            result["summary"] = summarize(rows)
            result["redis_round_trips"] = {
                name: redis_round_trips(
                    gen, servers[name], client, redis_server.url, args.redis_calls
                )
                for name in variants
                if "redis" in VARIANTS[name]
            }
            target = servers.get("full") or servers[variants[-1]]
            before = rss_bytes(target.pid)
            load = gen.run(target, concurrency=32, duration=0, warmup=0, calls=args.rss_calls)
            after = rss_bytes(target.pid)
            result["rss"] = {
                "variant": target.name,
                "calls": load["sent"],
                "errors": load["errors"],
                "before_mb": round(before / 2**20, 2),
                "after_mb": round(after / 2**20, 2),
                "growth_pct": round((after - before) / before * 100, 2),
            }
        finally:
            if gen is not None:
                gen.close()
            for server in servers.values():
                server.stop()
            for name, server in servers.items():
                result.setdefault("server_log_tails", {})[name] = server.log_tail(300)
            client.close()
            redis_server.close()
    if not args.no_stdio:
        print("stdio cold start ...", flush=True)
        result["stdio_cold_start"] = stdio_cold_start(args.stdio_runs)
    if not args.no_search:
        print("search latency ...", flush=True)
        result["search"], result["search_index"] = search_latency(
            args.search_sizes, args.search_queries, args.index_size, args.index_runs
        )
    result["conditions"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["total_s"] = round(time.monotonic() - began, 1)
    section = markdown(result)
    print(section)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    if args.markdown is not None:
        write_markdown(args.markdown, section)
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
