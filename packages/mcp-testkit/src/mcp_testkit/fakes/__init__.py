"""Fake upstream MCP servers (real processes speaking MCP) and helpers to run them.

``FakeHttpServer`` runs ``python -m mcp_testkit.fakes.server --transport http`` under
uvicorn on a free 127.0.0.1 port; ``stdio_command`` gives the command and environment
for a stdio child. Fault injection is described in :mod:`mcp_testkit.fakes.server`.
``oauth_upstream`` serves an OAuth-protected fake in-process (see :mod:`.oauth`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from mcp_testkit._process import free_port, port_accepts, stop_process, wait_until
from mcp_testkit.fakes.oauth import (
    OAuthFake,
    RecordingOAuthProvider,
    oauth_upstream,
    token_fingerprint,
)
from mcp_testkit.fakes.options import DRIFTED_DESCRIPTION, FakeOptions

__all__ = [
    "DRIFTED_DESCRIPTION",
    "FakeHttpServer",
    "FakeOptions",
    "OAuthFake",
    "RecordingOAuthProvider",
    "free_port",
    "oauth_upstream",
    "read_events",
    "stdio_command",
    "token_fingerprint",
]

_MODULE = "mcp_testkit.fakes.server"


def _env(options: FakeOptions) -> dict[str, str]:
    env: dict[str, str] = {"FASTMCP_CHECK_FOR_UPDATES": "off", "PYTHONUNBUFFERED": "1"}
    for key, value in (
        ("FAKE_LOG", options.log),
        ("FAKE_DRIFT_FILE", options.drift_file),
        ("FAKE_ERROR_FILE", options.error_file),
    ):
        if value is not None:
            env[key] = str(value)
    if options.crash_after:
        env["FAKE_CRASH_AFTER"] = str(options.crash_after)
    if options.delay:
        env["FAKE_DELAY"] = str(options.delay)
    if options.drop_session_after:
        env["FAKE_DROP_SESSION_AFTER"] = str(options.drop_session_after)
    return env


def stdio_command(options: FakeOptions | None = None) -> tuple[list[str], dict[str, str]]:
    """``(command, env)`` to spawn the fake over stdio (env holds only the fake's settings)."""
    return [sys.executable, "-m", _MODULE, "--transport", "stdio"], _env(options or FakeOptions())


def read_events(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """The fake's JSON-lines log (optionally only one ``event`` kind); [] if absent."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if event is None or r.get("event") == event]


class FakeHttpServer:
    """The fake over streamable HTTP in a uvicorn subprocess; use as a context manager."""

    def __init__(
        self,
        options: FakeOptions | None = None,
        *,
        port: int = 0,
        stderr_path: Path | None = None,
    ):
        self.options = options or FakeOptions()
        self.port = port
        self._fixed_port = port != 0
        self._stderr_path = stderr_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The MCP endpoint, ``http://127.0.0.1:<port>/mcp``."""
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def pid(self) -> int:
        """The server process id."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self, timeout_s: float = 60.0) -> FakeHttpServer:
        """Spawn and wait until it accepts connections (a free port unless one was given)."""
        for _ in range(1 if self._fixed_port else 3):
            if not self._fixed_port:
                self.port = free_port()
            if self._spawn(timeout_s):
                return self
        raise RuntimeError(f"fake HTTP upstream did not start; see {self._stderr_path}")

    def _spawn(self, timeout_s: float) -> bool:
        cmd = [sys.executable, "-m", _MODULE, "--transport", "http", "--port", str(self.port)]
        stderr_fh = self._stderr_path.open("ab") if self._stderr_path else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                cmd,
                env={**os.environ, **_env(self.options)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr_fh,
            )
        finally:
            if not isinstance(stderr_fh, int):
                stderr_fh.close()
        outcome = wait_until(
            self._proc, lambda: port_accepts("127.0.0.1", self.port), timeout=timeout_s
        )
        if outcome == "ready":
            return True
        # Exited (most likely the port was taken meanwhile; start() tries another) or too slow.
        self.stop()
        return False

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; always reaps the process."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace=grace_s)

    def __enter__(self) -> FakeHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
