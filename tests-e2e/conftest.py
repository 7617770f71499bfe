"""Real processes for the end-to-end tests: the installed ``mcp-server`` command.

Every server is started in a clean working directory (no stray ``.env``) with every
``MCP_*`` variable removed from its environment, so the tests see the embedded defaults the
README promises, and is stopped when its test or module ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

__all__ = ["ServeProcess", "ServeStarter"]

START_TIMEOUT_S = 60.0  # a bound against hanging, not a speed check: cold imports are slow
STOP_TIMEOUT_S = 15.0


def mcp_server_command() -> list[str]:
    """The console script installed next to this interpreter (what ``uv run`` runs)."""
    script = Path(sys.executable).parent / "mcp-server"
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-server")
    return [found] if found else [sys.executable, "-m", "mcp_server.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``MCP_*`` settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env["FASTMCP_CHECK_FOR_UPDATES"] = "off"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServeProcess:
    """A running ``mcp-server serve``; ``base`` is ``http://127.0.0.1:<port>``."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_healthy(server: ServeProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"mcp-server serve exited with {server.proc.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"/healthz never answered 200:\n{server.output()}")
        time.sleep(0.1)


@contextmanager
def start_serve(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[ServeProcess]:
    """Run ``mcp-server serve`` on a free loopback port until the block exits."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*mcp_server_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=workdir,
            env=env if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ServeProcess(proc=proc, base=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


ServeStarter = Callable[..., AbstractContextManager[ServeProcess]]
"""``start_serve(workdir, *serve_args, env=None)`` as the ``start_serve`` fixture hands it out."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One ``mcp-server serve`` on embedded defaults, shared by a module's tests."""
    with start_serve(tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture(name="start_serve")
def start_serve_fixture() -> ServeStarter:
    """Start more servers in a test (each stops when its ``with`` block ends)."""
    return start_serve


@pytest.fixture
def server_command() -> list[str]:
    """The argv prefix that runs the installed ``mcp-server`` command."""
    return mcp_server_command()


@pytest.fixture
def server_env() -> dict[str, str]:
    """An environment without ``MCP_*`` settings, for server subprocesses."""
    return clean_env()
