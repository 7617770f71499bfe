"""The contract suite passes against a correct server that is not ours (the demo server)."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp_testkit.contract import (
    ContinuationProbe,
    ContractSuite,
    PaginationProbe,
    RateLimitProbe,
    ServerTarget,
)

DEMO = str(Path(__file__).resolve().parents[1] / "demo_server.py")
DEMO_TARGET = ServerTarget(
    http_command=[sys.executable, DEMO, "serve", "--port", "{port}"],
    stdio_command=[sys.executable, DEMO, "stdio"],
)
BIG_TEXT = "".join(f"line {i:04d} of the big document\n" for i in range(400))
TOKEN = "demo-token"


class TestDemoServer(ContractSuite):
    target = DEMO_TARGET
    expected_tools = ("health", "search", "fetch", "shout")
    read_only_tools = ("health", "search", "fetch")
    pagination = (PaginationProbe("search", {"query": "apples"}, tamper_evident=True),)
    continuation = (ContinuationProbe("fetch", {"id": "big"}, expected_text=BIG_TEXT),)
    rate_limit = RateLimitProbe("health", env={"DEMO_RATE_LIMIT": "3"})


class TestDemoServerWithAuth(ContractSuite):
    """Auth is a property of the target: here every HTTP check runs with the bearer token.

    No stdio (no bearer tokens there) and no rate limit probe: TestDemoServer covers both,
    and the suite deselects those checks here instead of reporting them as skipped.
    """

    target = ServerTarget(
        http_command=DEMO_TARGET.http_command,
        stdio_command=None,
        env={"DEMO_TOKEN": TOKEN},
        auth_required=True,
        token=TOKEN,
    )
    expected_tools = ("search", "fetch")
    read_only_tools = ("search", "fetch")
    pagination = (PaginationProbe("search", {"query": "pears"}),)
    continuation = (ContinuationProbe("fetch", {"id": "big"}, expected_text=BIG_TEXT),)
    fuzz_examples = 20
