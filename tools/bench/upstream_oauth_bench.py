"""OAuth upstream benchmark (prints numbers; asserts nothing).

1. Per-call cost of OAuth once a token is held: ``manager.call_tool`` against the
   testkit's OAuth fake, next to a direct FastMCP ``Client`` sending the same token as a
   plain bearer header (interleaved rounds, medians).
2. Concurrency: wall time of N concurrent calls to the fake's ``rendezvous`` tool (each
   waits until N calls are inside) on a JSON-answering upstream, through the SDK's own
   OAuth provider (its lock is held until response headers, which JSON answers send only
   when the tool is done) and through ``ConcurrentOAuth``. A client that runs them one at
   a time needs N × the rendezvous timeout.

Run: ``uv run python tools/bench/upstream_oauth_bench.py [--calls 300] [--parallel 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from fastmcp import Client
from fastmcp.client.auth import BearerAuth

from mcp_testkit.fakes import OAuthFake, oauth_upstream
from mcp_upstream_client import UpstreamConfig, UpstreamManager
from mcp_upstream_client import oauth as oauth_module

# Run as a script (``python tools/bench/upstream_oauth_bench.py``): make ``tools.bench``
# importable, for the helpers this shares with upstream_bench.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench.upstream_bench import interleave, line


def config(fake: OAuthFake, tools: list[str]) -> UpstreamConfig:
    return UpstreamConfig.model_validate(
        {
            "name": "secured",
            "transport": "http",
            "url": fake.url,
            "allow_tools": tools,
            "health_interval_s": 0,
            "oauth": {},
        }
    )


async def bench_per_call(calls: int) -> None:
    args = {"text": "hello"}
    with oauth_upstream() as fake:
        async with UpstreamManager([config(fake, ["echo"])]) as manager:
            await manager.call_tool("secured", "echo", args)  # authorize once
            token = next(iter(fake.provider.access_tokens))
            async with Client(fake.url, auth=BearerAuth(token)) as direct:
                d, m = await interleave(
                    5,
                    calls,
                    lambda: direct.call_tool_mcp("echo", args),
                    lambda: manager.call_tool("secured", "echo", args),
                )
    print(line("OAuth: direct Client + bearer", d))
    print(line("OAuth: manager.call_tool", m))
    delta = (statistics.median(m) - statistics.median(d)) * 1e6
    print(f"{'OAuth: overhead (median difference)':<34} {delta:+.1f}us")


async def concurrent_wall(parallel: int, timeout_s: float) -> tuple[float, list[Any]]:
    with oauth_upstream(json_response=True) as fake:
        async with UpstreamManager([config(fake, ["rendezvous"])]) as manager:
            await manager.call_tool("secured", "rendezvous", {"parties": 1})
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    manager.call_tool(
                        "secured",
                        "rendezvous",
                        {"parties": parallel, "timeout_s": timeout_s},
                        timeout=parallel * timeout_s + 5,
                    )
                    for _ in range(parallel)
                )
            )
            return time.perf_counter() - start, [r.structured_content for r in results]


async def bench_concurrency(parallel: int) -> None:
    timeout_s = 0.5
    wall, seen = await concurrent_wall(parallel, timeout_s)
    print(f"ConcurrentOAuth: {parallel} concurrent calls  wall={wall * 1e3:8.1f}ms  seen={seen}")
    original = oauth_module.ConcurrentOAuth.async_auth_flow

    def sdk_only(self: Any, request: Any) -> Any:  # the SDK provider's own, locked flow
        return self.provider.async_auth_flow(request)

    # Measure the SDK's own behaviour by routing every request through its locked flow.
    oauth_module.ConcurrentOAuth.async_auth_flow = sdk_only  # type: ignore[method-assign]
    try:
        wall, seen = await concurrent_wall(parallel, timeout_s)
    finally:
        oauth_module.ConcurrentOAuth.async_auth_flow = original  # type: ignore[method-assign]
    print(f"SDK provider:    {parallel} concurrent calls  wall={wall * 1e3:8.1f}ms  seen={seen}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=8)
    ns = parser.parse_args()
    await bench_per_call(ns.calls)
    await bench_concurrency(ns.parallel)


if __name__ == "__main__":
    asyncio.run(main())
