"""A closed-loop HTTP load generator for one MCP ``tools/call``, run as its own process.

Why by hand: httpx costs more CPU per request than the server under test, and ``wrk`` is
not on a fresh machine. This sends pre-built request bytes (what fastmcp's client sends
in the 2026-07-28 era: ``Mcp-Method``/``Mcp-Name`` headers and ``params._meta``) over
keep-alive asyncio streams, one coroutine per connection, and parses only the status
line, ``Content-Length`` (or chunked framing) and the JSON-RPC error markers.

It reads the *server's* CPU time itself (``/proc/<pid>/stat`` utime+stime, all threads)
exactly at the edges of the measured window, so its own CPU (pinned to another core)
never counts. Driven by JSON lines on stdin, one job per line, one result line each: one target
(``{"port": 8001, "concurrency": 8, "duration": 4, "warmup": 1, "server_pid": 123}``)
or several interleaved in short slices (``{"targets": [...], "concurrency": 8,
"slice_s": 1.0, "slices": 3}``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Job",
    "Target",
    "build_request",
    "cpu_seconds",
    "rss_bytes",
    "run_job",
    "run_rotation",
]

PROTOCOL_VERSION = "2026-07-28"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_ERROR_MARK = b'"error":'
_TOOL_ERROR_MARK = b'"isError":true'


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (every thread), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def build_request(port: int, path: str, tool: str, token: str | None, rpc_id: int = 1) -> bytes:
    """The bytes of one modern-era ``tools/call`` (headers as fastmcp 4.2.3 sends them)."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": "tools/call",
            "params": {
                "name": tool,
                "arguments": {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        },
        separators=(",", ":"),
    ).encode()
    headers = [
        f"POST {path} HTTP/1.1",
        f"host: 127.0.0.1:{port}",
        "content-type: application/json",
        "accept: application/json, text/event-stream",
        f"mcp-protocol-version: {PROTOCOL_VERSION}",
        "mcp-method: tools/call",
        f"mcp-name: {tool}",
        f"content-length: {len(body)}",
    ]
    if token:
        headers.append(f"authorization: Bearer {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


@dataclass
class Job:
    port: int
    concurrency: int = 8
    duration: float = 4.0
    warmup: float = 1.0
    calls: int = 0  # > 0: stop after this many measured calls instead of ``duration``
    server_pid: int = 0
    path: str = "/mcp"
    tool: str = "health"
    token: str | None = None


@dataclass
class _State:
    measuring: bool = False
    stop: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    error_sample: str = ""
    target: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"\r\nconnection: close" not in lower
    at = lower.find(b"\r\ncontent-length:")
    if at != -1:
        end = lower.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(lower[at + 17 : end])), keep
    if b"\r\ntransfer-encoding: chunked" not in lower:
        return status, await reader.read(), False
    chunks: list[bytes] = []
    while True:  # chunked (an SSE answer): size line, data, CRLF ... 0 CRLF CRLF
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(chunks), keep
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _connection(job: Job, request: bytes, state: _State) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", job.port)
    clock = time.perf_counter_ns
    try:
        while not state.stop:
            start = clock()
            writer.write(request)
            state.sent += 1
            status, body, keep = await _read_answer(reader)
            took = clock() - start
            if state.measuring and not state.stop:
                bad = status != 200 or _ERROR_MARK in body[:64] or _TOOL_ERROR_MARK in body
                if bad:
                    state.errors += 1
                    if not state.error_sample:
                        state.error_sample = f"{status} {body[:300]!r}"
                state.latencies_ns.append(took)
                if state.target and len(state.latencies_ns) >= state.target:
                    state.stop = True  # no request after the target: exact Redis counts
                    state.done.set()
            if not keep:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", job.port)
    finally:
        writer.close()


def _pct(ordered: list[int], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


async def run_job(job: Job) -> dict[str, Any]:
    """Run one load job; the result is calls/s, latency percentiles (µs), server CPU."""
    state = _State(target=job.calls)
    request = build_request(job.port, job.path, job.tool, job.token)
    tasks = [asyncio.create_task(_connection(job, request, state)) for _ in range(job.concurrency)]
    try:
        await asyncio.sleep(job.warmup)
        for task in tasks:  # a connection that failed during warm-up fails the job
            if task.done():
                task.result()
        cpu0 = cpu_seconds(job.server_pid) if job.server_pid else 0.0
        t0 = time.perf_counter()
        state.measuring = True
        if job.calls:
            await state.done.wait()
        else:
            await asyncio.sleep(job.duration)
        elapsed = time.perf_counter() - t0
        cpu1 = cpu_seconds(job.server_pid) if job.server_pid else 0.0
        state.stop = True
        for task in tasks:
            if task.done():
                task.result()
    finally:
        state.stop = True
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
    ordered = sorted(state.latencies_ns)
    calls = len(ordered)
    return {
        "calls": calls,
        "seconds": round(elapsed, 3),
        "calls_per_s": round(calls / elapsed, 1) if elapsed else 0.0,
        "p50_us": round(_pct(ordered, 0.50), 1),
        "p99_us": round(_pct(ordered, 0.99), 1),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_us_per_call": round((cpu1 - cpu0) / calls * 1e6, 1) if calls else 0.0,
        "errors": state.errors,
        "sent": state.sent,
        "error_sample": state.error_sample,
    }


@dataclass
class Target:
    port: int
    server_pid: int = 0
    token: str | None = None
    path: str = "/mcp"
    tool: str = "health"


_Conn = list[Any]  # [reader, writer], replaced in place on reconnect


async def _slice(
    conns: list[_Conn], target: Target, request: bytes, seconds: float
) -> dict[str, Any]:
    """Drive one target on its open connections for ``seconds``, then let in-flight
    calls finish; the window (and the server CPU read) spans both."""
    state = _State()
    clock = time.perf_counter_ns

    async def loop(conn: _Conn) -> None:
        while not state.stop:
            start = clock()
            try:
                conn[1].write(request)
                status, body, keep = await _read_answer(conn[0])
            except (asyncio.IncompleteReadError, ConnectionError):
                # uvicorn closes keep-alive connections idle for 5 s (while other
                # targets had their turn): reconnect, and do not count the attempt.
                conn[1].close()
                conn[:] = await asyncio.open_connection("127.0.0.1", target.port)
                continue
            if not keep:
                conn[1].close()
                conn[:] = await asyncio.open_connection("127.0.0.1", target.port)
            state.latencies_ns.append(clock() - start)
            if status != 200 or _ERROR_MARK in body[:64] or _TOOL_ERROR_MARK in body:
                state.errors += 1
                if not state.error_sample:
                    state.error_sample = f"{status} {body[:300]!r}"

    cpu0 = cpu_seconds(target.server_pid) if target.server_pid else 0.0
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(loop(conn)) for conn in conns]
    await asyncio.sleep(seconds)
    state.stop = True
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(target.server_pid) if target.server_pid else 0.0
    return {
        "latencies_ns": state.latencies_ns,
        "seconds": elapsed,
        "cpu_s": cpu1 - cpu0,
        "errors": state.errors,
        "error_sample": state.error_sample,
    }


async def run_rotation(
    targets: list[Target], concurrency: int, slice_s: float, slices: int
) -> list[dict[str, Any]]:
    """Interleave the targets finely: ``slices`` rotations of ``slice_s`` seconds each, the
    order shifted every rotation, on keep-alive connections opened once per target.
    A busy machine then slows every target alike. Results per target, pooled."""
    conns: list[list[_Conn]] = [
        [list(await asyncio.open_connection("127.0.0.1", t.port)) for _ in range(concurrency)]
        for t in targets
    ]
    requests = [build_request(t.port, t.path, t.tool, t.token) for t in targets]
    pooled: list[dict[str, Any]] = [
        {"latencies_ns": [], "seconds": 0.0, "cpu_s": 0.0, "errors": 0, "error_sample": ""}
        for _ in targets
    ]
    try:
        for i in range(len(targets)):  # warm every connection once
            await _slice(conns[i], targets[i], requests[i], 0.05)
        for rotation in range(slices):
            shift = rotation % len(targets)
            for i in [*range(shift, len(targets)), *range(shift)]:
                part = await _slice(conns[i], targets[i], requests[i], slice_s)
                acc = pooled[i]
                acc["latencies_ns"] += part["latencies_ns"]
                acc["seconds"] += part["seconds"]
                acc["cpu_s"] += part["cpu_s"]
                acc["errors"] += part["errors"]
                acc["error_sample"] = acc["error_sample"] or part["error_sample"]
    finally:
        for group in conns:
            for conn in group:
                conn[1].close()
    results = []
    for acc in pooled:
        ordered = sorted(acc["latencies_ns"])
        calls = len(ordered)
        results.append(
            {
                "calls": calls,
                "seconds": round(acc["seconds"], 3),
                "calls_per_s": round(calls / acc["seconds"], 1) if acc["seconds"] else 0.0,
                "p50_us": round(_pct(ordered, 0.50), 1),
                "p99_us": round(_pct(ordered, 0.99), 1),
                "server_cpu_s": round(acc["cpu_s"], 3),
                "cpu_us_per_call": round(acc["cpu_s"] / calls * 1e6, 1) if calls else 0.0,
                "errors": acc["errors"],
                "error_sample": acc["error_sample"],
            }
        )
    return results


def _serve(job: dict[str, Any]) -> Any:
    if "targets" in job:
        targets = [Target(**t) for t in job.pop("targets")]
        return asyncio.run(run_rotation(targets, **job))
    return asyncio.run(run_job(Job(**job)))


def main() -> int:
    """Serve jobs from stdin until it closes; pin to the CPUs in ``BENCH_LOADGEN_CPUS``."""
    cpus = os.environ.get("BENCH_LOADGEN_CPUS")
    if cpus:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = _serve(json.loads(line))
        except Exception as exc:  # reported to the driver, which decides what to do
            result = {"failed": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
