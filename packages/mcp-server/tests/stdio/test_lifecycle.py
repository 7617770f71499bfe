"""The stdio lifecycle of the real command: end of input drains, every answer is written.

Requests are piped into ``mcp-server stdio`` and stdin is closed at once, as scripts, CI
checks and some clients do; the process must answer every request it received and exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

CMD = [sys.executable, "-m", "mcp_fastapi_server", "stdio"]
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "pipe", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(MCP_RATE_LIMIT_DEFAULT="100000/minute", MCP_LOG_FORMAT="console", **extra)
    return env


def _pipe(messages: list[dict[str, Any]], **env: str) -> subprocess.CompletedProcess[str]:
    payload = "".join(json.dumps(m) + "\n" for m in messages)
    return subprocess.run(
        CMD, input=payload, capture_output=True, text=True, env=_env(**env), timeout=120
    )


def _answers(proc: subprocess.CompletedProcess[str]) -> dict[Any, dict[str, Any]]:
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {line["id"]: line for line in lines if "id" in line}


def _legacy_opening() -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"sampling": {}},
                "clientInfo": {"name": "pipe", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]


def _search(rid: int, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "search", "arguments": {"query": "webhooks"}}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


@pytest.mark.parametrize("count", [3, 60])
def test_piped_requests_with_stdin_closed_at_once_all_get_answers(count: int) -> None:
    calls = [_search(i) for i in range(1, count + 1)]
    listing = {"jsonrpc": "2.0", "id": "list", "method": "tools/list"}
    proc = _pipe([*_legacy_opening(), listing, *calls])
    assert proc.returncode == 0, proc.stderr
    answers = _answers(proc)
    assert set(answers) == {0, "list", *range(1, count + 1)}
    for rid in range(1, count + 1):
        assert answers[rid]["result"]["structuredContent"]["results"], answers[rid]


def test_the_modern_era_drains_too() -> None:
    calls = [_search(i, MODERN_META) for i in range(1, 21)]
    proc = _pipe(calls)
    assert proc.returncode == 0, proc.stderr
    assert set(_answers(proc)) == set(range(1, 21))


def test_a_request_that_cannot_finish_is_bounded_by_the_drain_timeout() -> None:
    # test_sampling asks the client to sample; with stdin closed the answer never comes,
    # so the drain gives up after MCP_STDIO_DRAIN_TIMEOUT_S, says so, and exits 0.
    sampling = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "test_sampling", "arguments": {"prompt": "hi"}},
    }
    proc = _pipe(
        [*_legacy_opening(), _search(1), sampling],
        MCP_CONFORMANCE="true",
        MCP_STDIO_DRAIN_TIMEOUT_S="1",
    )
    assert proc.returncode == 0, proc.stderr
    answers = _answers(proc)
    assert 1 in answers  # the quick call was answered
    assert 7 not in answers
    assert "still running after 1 s (MCP_STDIO_DRAIN_TIMEOUT_S)" in proc.stderr
    assert "ids ['7']" in proc.stderr


def test_a_cancelled_request_is_not_waited_for() -> None:
    sampling = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {"name": "test_sampling", "arguments": {"prompt": "hi"}},
    }
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 8, "reason": "client gave up"},
    }
    proc = _pipe(
        [*_legacy_opening(), sampling, cancel],
        MCP_CONFORMANCE="true",
        MCP_STDIO_DRAIN_TIMEOUT_S="60",
    )
    assert proc.returncode == 0, proc.stderr
    assert "still running" not in proc.stderr
