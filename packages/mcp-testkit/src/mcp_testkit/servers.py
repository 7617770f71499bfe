"""Start MCP servers as real processes for tests: any command, a free port, logs kept.

A test that talks to a server over a real socket or real pipes finds the bugs an in-memory
client hides (start-up, settings from the environment, stdout discipline, shutdown). This
module runs *any* command a team gives, not only ours: the command template may contain
``{port}`` and ``{host}``, the process gets its own environment, readiness is polled over
HTTP, stop is SIGTERM then SIGKILL after a grace period, and stdout/stderr go to files so a
failing test can show them (see :func:`pytest_runtest_makereport`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

from mcp_testkit._process import free_port as find_free_port
from mcp_testkit._process import stop_process, wait_until

__all__ = [
    "DEFAULT_HTTP_COMMAND",
    "DEFAULT_STDIO_COMMAND",
    "ServerFactory",
    "ServerProcess",
    "ServerStartError",
    "ServerTarget",
    "StdioCommand",
    "find_free_port",
]

DEFAULT_HTTP_COMMAND: tuple[str, ...] = (
    sys.executable, "-m", "mcp_fastapi_server", "serve", "--host", "{host}", "--port", "{port}",
)  # fmt: skip
"""Our reference server over streamable HTTP (``mcp-server serve``)."""

DEFAULT_STDIO_COMMAND: tuple[str, ...] = (sys.executable, "-m", "mcp_fastapi_server", "stdio")
"""Our reference server over stdio (``mcp-server stdio``)."""

LOG_TAIL_LINES = 200

# Every process started here and not yet stopped; a failed test report shows their logs.
_LIVE: weakref.WeakSet[ServerProcess] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """The server exited or never became ready; the message carries its log tail."""


def _environment(env: Mapping[str, str] | None, inherit: bool) -> dict[str, str]:
    base = dict(os.environ) if inherit else {"PATH": os.environ.get("PATH", "")}
    # Unbuffered output, so the log files show what happened up to a crash or a kill.
    base["PYTHONUNBUFFERED"] = "1"
    base.update(env or {})
    return base


@dataclass(frozen=True)
class ServerTarget:
    """How to reach one MCP server under test: commands to start it, or a URL.

    ``http_command`` is a template (``{port}``/``{host}`` filled in per start);
    ``stdio_command`` runs the same server over stdio; ``url`` points at an MCP endpoint
    that is already running (no process is started). ``auth_required`` says the HTTP
    endpoint answers 401 without a token; ``token`` is a bearer token it accepts.
    """

    http_command: Sequence[str] | None = DEFAULT_HTTP_COMMAND
    stdio_command: Sequence[str] | None = DEFAULT_STDIO_COMMAND
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    cwd: str | Path | None = None
    ready_path: str | None = "/healthz"
    mcp_path: str = "/mcp"
    startup_timeout: float = 30.0
    auth_required: bool = False
    token: str | None = None

    @property
    def has_http(self) -> bool:
        return self.url is not None or self.http_command is not None

    @property
    def has_stdio(self) -> bool:
        return self.stdio_command is not None

    def with_env(self, **env: str) -> ServerTarget:
        """A copy with extra environment variables (for example a tiny rate limit)."""
        return replace(self, env={**self.env, **env})


@dataclass(frozen=True)
class StdioCommand:
    """A stdio server command ready for ``fastmcp.client.transports.StdioTransport``."""

    command: Sequence[str]
    env: Mapping[str, str]
    cwd: str | None = None
    log_file: Path | None = None

    def popen(self, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start it with pipes (stdin/stdout/stderr) for raw protocol tests."""
        return subprocess.Popen(
            list(self.command),
            env=dict(self.env),
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=kwargs.pop("stderr", subprocess.PIPE),
            **kwargs,
        )


class ServerProcess:
    """A running server process with its port, URLs and log files.

    Use :meth:`start` (or :class:`ServerFactory`); :meth:`stop` is idempotent and the object
    is a context manager.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        host: str,
        port: int,
        env: Mapping[str, str],
        cwd: str | Path | None,
        log_dir: Path,
        mcp_path: str = "/mcp",
        name: str = "server",
    ) -> None:
        self.command = list(command)
        self.host = host
        self.port = port
        self.mcp_path = mcp_path
        self.name = name
        self.stdout_path = log_dir / f"{name}-{port}.stdout.log"
        self.stderr_path = log_dir / f"{name}-{port}.stderr.log"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                self.command,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                # Own process group: SIGTERM reaches a wrapper's children (uv run, npx, sh -c).
                start_new_session=True,
            )
        _LIVE.add(self)

    @classmethod
    def start(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        ready_path: str | None = "/healthz",
        mcp_path: str = "/mcp",
        startup_timeout: float = 30.0,
        log_dir: Path | None = None,
        name: str = "server",
    ) -> ServerProcess:
        """Start ``command`` (``{port}``/``{host}`` filled in) and wait until it is ready.

        Ready means ``GET ready_path`` answered 2xx, or, with ``ready_path=None``, the MCP
        endpoint answered anything over HTTP. Raises :class:`ServerStartError` (with the log
        tail) when the process exits first or the timeout passes.
        """
        port = port or find_free_port(host)
        argv = [part.format(port=port, host=host) for part in command]
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mcp-testkit-"))
        server = cls(
            argv,
            host=host,
            port=port,
            env=_environment(env, inherit_env),
            cwd=cwd,
            log_dir=log_dir,
            mcp_path=mcp_path,
            name=name,
        )
        try:
            server.wait_ready(ready_path, timeout=startup_timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}{self.mcp_path}"

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> str:
        """Everything the process wrote so far, stdout then stderr."""
        return f"--- stdout ---\n{self.stdout()}--- stderr ---\n{self.stderr()}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        out = self.stdout().splitlines()[-lines:]
        err = self.stderr().splitlines()[-lines:]
        return "\n".join(["--- stdout (tail) ---", *out, "--- stderr (tail) ---", *err])

    def describe(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode}"
        return f"{self.name} pid={self.pid} {self.url} ({state}): {' '.join(self.command)}"

    def wait_ready(self, ready_path: str | None, *, timeout: float = 30.0) -> None:
        """Poll until the server answers; fail fast when the process exits."""
        probe = f"{self.url}{ready_path}" if ready_path else self.mcp_url
        answer: httpx.Response | None = None

        with httpx.Client(timeout=2.0) as http:

            def answered() -> bool:
                nonlocal answer
                try:
                    answer = http.get(probe)
                except httpx.TransportError:
                    answer = None
                return answer is not None and (ready_path is None or answer.is_success)

            outcome = wait_until(self._proc, answered, timeout=timeout)
        if outcome == "exited":
            raise ServerStartError(
                f"{self.describe()} exited before it was ready\n{self.log_tail()}"
            )
        if outcome == "timeout":
            status = answer.status_code if answer is not None else "no answer"
            raise ServerStartError(
                f"{self.describe()} not ready after {timeout:g}s "
                f"(GET {probe}: {status})\n{self.log_tail()}"
            )

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit on its own (after a signal the test sent); the exit code.

        Raises :class:`subprocess.TimeoutExpired` when it is still running after ``timeout``.
        """
        return self._proc.wait(timeout)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; the exit code."""
        _LIVE.discard(self)
        return stop_process(self._proc, grace=grace, group=True)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.describe()}>"


class ServerFactory:
    """Starts servers for one scope and stops every one of them at its end."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mcp-testkit-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._servers: list[ServerProcess] = []
        self._count = 0

    def start_http(
        self,
        cmd: Sequence[str] = DEFAULT_HTTP_COMMAND,
        *,
        env: Mapping[str, str] | None = None,
        ready_path: str | None = "/healthz",
        mcp_path: str = "/mcp",
        **kwargs: Any,
    ) -> ServerProcess:
        """Start an HTTP server from a command template; see :meth:`ServerProcess.start`."""
        self._count += 1
        kwargs.setdefault("name", f"http{self._count}")
        server = ServerProcess.start(
            cmd, env=env, ready_path=ready_path, mcp_path=mcp_path, log_dir=self.log_dir, **kwargs
        )
        self._servers.append(server)
        return server

    def start_target(self, target: ServerTarget) -> ServerProcess:
        """Start ``target.http_command`` with the target's environment and paths."""
        if target.http_command is None:
            raise ValueError("this target has no http_command to start")
        return self.start_http(
            target.http_command,
            env=target.env,
            ready_path=target.ready_path,
            mcp_path=target.mcp_path,
            inherit_env=target.inherit_env,
            cwd=target.cwd,
            startup_timeout=target.startup_timeout,
        )

    def stdio_command(
        self,
        cmd: Sequence[str] = DEFAULT_STDIO_COMMAND,
        *,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: str | Path | None = None,
    ) -> StdioCommand:
        """A stdio command with its environment and a stderr log file in this factory's dir."""
        self._count += 1
        return StdioCommand(
            command=list(cmd),
            env=_environment(env, inherit_env),
            cwd=str(cwd) if cwd is not None else None,
            log_file=self.log_dir / f"stdio{self._count}.stderr.log",
        )

    @property
    def servers(self) -> list[ServerProcess]:
        return list(self._servers)

    def stop_all(self) -> None:
        while self._servers:
            self._servers.pop().stop()

    def __enter__(self) -> ServerFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def live_servers() -> list[ServerProcess]:
    """Servers started by the testkit and not stopped yet (for failure reports)."""
    return list(_LIVE)


# --- pytest wiring -----------------------------------------------------------------------


@pytest.fixture
def mcp_server_process(tmp_path: Path) -> Iterator[ServerFactory]:
    """Factory for server processes that live for one test (logs under ``tmp_path``)."""
    with ServerFactory(tmp_path / "mcp-server-logs") as factory:
        yield factory


@pytest.fixture(scope="session")
def mcp_server_process_shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerFactory]:
    """Factory for servers shared by the whole session (start each once, ~1 s saved a test)."""
    with ServerFactory(tmp_path_factory.mktemp("mcp-server-logs")) as factory:
        yield factory


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log tail of every live testkit server to a failed test's report."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for server in live_servers():
            report.sections.append((f"mcp server logs: {server.describe()}", server.log_tail()))
    return report
