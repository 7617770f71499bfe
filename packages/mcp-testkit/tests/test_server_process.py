"""ServerProcess/ServerFactory: real processes, free ports, readiness, stop, logs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import pytest

from mcp_testkit.servers import (
    ServerFactory,
    ServerProcess,
    ServerStartError,
    live_servers,
    pytest_runtest_makereport,
)

DEMO = str(Path(__file__).resolve().parent / "demo_server.py")
DEMO_HTTP = [sys.executable, DEMO, "serve", "--port", "{port}"]
# A plain HTTP server that ignores SIGTERM, so stop() must fall back to SIGKILL.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, http.server as h; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "h.HTTPServer(('{host}', {port}), h.SimpleHTTPRequestHandler).serve_forever()",
]


def test_start_http_serves_on_its_port_and_stops(mcp_server_process: ServerFactory) -> None:
    server = mcp_server_process.start_http(DEMO_HTTP, env={"DEMO_TOKEN": "t"})
    assert server.is_running()
    assert server.mcp_url == f"http://127.0.0.1:{server.port}/mcp"
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    # The environment reached the process: the MCP endpoint now wants the token.
    assert httpx.post(server.mcp_url, json={}).status_code == 401
    assert f"demo server on port {server.port}" in server.logs()
    assert server in live_servers()
    code = server.stop()
    assert code is not None
    assert not server.is_running()
    assert server not in live_servers()
    assert server.stop() == code  # idempotent


def test_process_that_exits_fails_with_its_log(tmp_path: Path) -> None:
    crash = [
        sys.executable,
        "-c",
        "import sys; print('bad config X', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(ServerStartError, match="bad config X") as info:
        ServerProcess.start(crash, log_dir=tmp_path, startup_timeout=30)
    assert "exited 3" in str(info.value)


def test_sigterm_ignored_means_sigkill_after_grace(mcp_server_process: ServerFactory) -> None:
    server = mcp_server_process.start_http(STUBBORN, ready_path="/")
    assert server.stop(grace=0.5) == -signal.SIGKILL


def test_factory_stops_everything_it_started(tmp_path: Path) -> None:
    with ServerFactory(tmp_path) as factory:
        server = factory.start_http(STUBBORN, ready_path=None)
        assert factory.servers == [server]
    assert not server.is_running()
    assert factory.servers == []


def test_stdio_command_carries_env_and_a_log_file(mcp_server_process: ServerFactory) -> None:
    command = mcp_server_process.stdio_command(
        [sys.executable, "-c", "import os; print(os.environ['TESTKIT_PROBE'])"],
        env={"TESTKIT_PROBE": "from-the-test"},
    )
    assert command.env["PATH"]  # inherited unless inherit_env=False
    assert command.log_file is not None
    assert command.log_file.parent == mcp_server_process.log_dir
    proc = command.popen()
    out, _ = proc.communicate(timeout=30)
    assert out.decode().strip() == "from-the-test"


def test_failed_report_shows_live_server_logs(mcp_server_process: ServerFactory) -> None:
    server = mcp_server_process.start_http(DEMO_HTTP)
    report = pytest.TestReport(
        "x.py::t", ("x.py", 1, "t"), {}, "failed", "AssertionError", "call", sections=[]
    )
    wrapper = pytest_runtest_makereport(None, None)  # type: ignore[arg-type]
    next(wrapper)
    with pytest.raises(StopIteration) as done:
        wrapper.send(report)
    sections = dict(done.value.value.sections)
    title = f"mcp server logs: {server.describe()}"
    assert f"demo server on port {server.port}" in sections[title]
