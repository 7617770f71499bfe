"""SIGTERM while calls are in flight loses none of them: ``mcp-server serve`` stops accepting
connections, lets every running tool call finish, and exits 0 (what a rolling deploy needs).

The slow calls are an exposed fake upstream's ``echo`` with a delay: the fake logs each call
*before* it waits, so the test knows every call is in flight before it sends the signal,
without sleeping on a guess.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from mcp_testkit.clients import start_target
from mcp_testkit.fakes import FakeHttpServer, read_events
from mcp_testkit.servers import ServerFactory, ServerProcess
from mcp_testkit.wire import RpcAnswer

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import ServeTargetMaker

IN_FLIGHT = 20
UPSTREAM_DELAY_S = 3.0  # each call waits this long in the fake: long enough to be caught mid-way
GRACEFUL_TIMEOUT_S = 30.0
# Bounds against hanging, not speed checks.
WAIT_S = 60.0


def _wait_for(what: str, done: Callable[[], bool], server: ServerProcess) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}\n{server.log_tail(60)}")
        time.sleep(0.02)


def _refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2.0)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False  # accepted, then dropped: not what "refused" means
    return False


def test_sigterm_drains_in_flight_calls(
    fake_http_upstream: Callable[..., FakeHttpServer],
    make_serve_target: ServeTargetMaker,
    mcp_server_process: ServerFactory,
    tmp_path: Path,
) -> None:
    log = tmp_path / "slow-upstream.jsonl"
    upstream = fake_http_upstream(log=log, delay=UPSTREAM_DELAY_S)
    upstreams = tmp_path / "upstreams.toml"
    upstreams.write_text(
        "[[upstreams]]\n"
        'name = "slow"\n'
        'transport = "http"\n'
        f'url = "{upstream.url}"\n'
        'allow_tools = ["echo"]\n'
        "expose = true\n"
        "timeout_s = 30\n",
        encoding="utf-8",
    )
    target = make_serve_target(
        tmp_path,
        {"MCP_UPSTREAMS_FILE": str(upstreams)},
        args=["--graceful-timeout", str(GRACEFUL_TIMEOUT_S)],
    )
    live = start_target(target, mcp_server_process)
    server = live.http
    assert server is not None

    with live.raw_http("2026-07-28") as http, ThreadPoolExecutor(IN_FLIGHT) as pool:

        def call(i: int) -> RpcAnswer:
            return http.call_tool("slow_echo", {"text": f"call-{i}"})

        futures = [pool.submit(call, i) for i in range(IN_FLIGHT)]
        _wait_for(
            f"{IN_FLIGHT} calls to reach the upstream",
            lambda: len(read_events(log, "call")) >= IN_FLIGHT,
            server,
        )
        os.kill(server.pid, signal.SIGTERM)  # once: a second SIGTERM means "force" to uvicorn
        _wait_for("the listener to close", lambda: _refuses_connections(server.url), server)
        answers = [future.result() for future in futures]

    for i, answer in enumerate(answers):
        assert answer.status == 200, answer
        assert answer.is_tool_error is False, answer
        texts = [block.get("text") for block in (answer.result or {}).get("content", [])]
        assert f"call-{i}" in texts, answer

    _wait_for("the process to exit", lambda: not server.is_running(), server)
    assert server.returncode == 0, f"exit code {server.returncode}\n{server.log_tail(60)}"
    assert _refuses_connections(server.url)
    assert len(read_events(log, "call")) == IN_FLIGHT  # nothing retried behind our back
