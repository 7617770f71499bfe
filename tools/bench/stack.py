"""The servers a benchmark run drives: bare FastMCP and ``mcp-server serve`` per layer set.

Every server is a real process (the production command, not an in-process app), pinned to
core 0 when the machine has two or more, started from an empty working directory (so a
stray ``.env`` cannot change it) with every ``MCP_*`` variable of the caller removed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import jwt

__all__ = [
    "LAYERS",
    "VARIANTS",
    "Server",
    "bench_token",
    "clean_env",
    "free_port",
    "loadgen_cpus",
    "pin",
    "server_cpus",
    "start_ours",
    "start_reference",
    "workdir",
]

HERE = Path(__file__).resolve().parent
LAYERS = ("auth", "redis", "logs", "metrics")
# variant name -> the layers on top of the mounted app (each alone, then all together)
VARIANTS: dict[str, tuple[str, ...]] = {
    "mounted": (),
    "auth": ("auth",),
    "redis": ("redis",),
    "logs": ("logs",),
    "metrics": ("metrics",),
    "full": LAYERS,
}
JWT_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
# High enough never to refuse (GCRA's emission interval is then 1 µs).
NEVER_LIMIT = "1000000/second"


def bench_token() -> str:
    """An HS256 token the auth variants accept for the whole run."""
    now = int(time.time())
    return jwt.encode(
        {"sub": "bench-user", "iat": now, "exp": now + 3600, "scope": "mcp"},
        JWT_SECRET,
        algorithm="HS256",
    )


def server_cpus() -> set[int] | None:
    """Core 0 for servers when there are two or more cores (the load generator gets 1)."""
    cpus = os.sched_getaffinity(0)
    return {min(cpus)} if len(cpus) >= 2 else None


def loadgen_cpus() -> set[int] | None:
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[1:]) if len(cpus) >= 2 else None


def pin(pid: int, cpus: set[int] | None) -> None:
    """Best effort: the process and all its threads (a container may forbid it)."""
    if not cpus:
        return
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), cpus)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MCP_", "FASTMCP_")) and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(extra or {})
    return env


def layer_env(layers: tuple[str, ...], redis_url: str | None) -> dict[str, str]:
    """Settings that turn exactly ``layers`` on (all others off)."""
    env = {
        "MCP_AUTH_MODE": "none",
        "MCP_RATE_LIMIT_ENABLED": "false",
        "MCP_METRICS_ENABLED": "false",
        "MCP_LOG_LEVEL": "WARNING",
        "MCP_LOG_FORMAT": "json",
    }
    if "auth" in layers:
        env |= {
            "MCP_AUTH_MODE": "jwt",
            "MCP_AUTH_JWT_SECRET": JWT_SECRET,
            "MCP_AUTH_JWT_ALGORITHMS": "HS256",
        }
    if "redis" in layers:
        if redis_url is None:
            raise RuntimeError("the redis layer needs a Redis URL")
        env |= {
            "MCP_RATE_LIMIT_ENABLED": "true",
            "MCP_REDIS_URL": redis_url,
            "MCP_RATE_LIMIT_DEFAULT": NEVER_LIMIT,
        }
    if "logs" in layers:
        env["MCP_LOG_LEVEL"] = "INFO"
    if "metrics" in layers:
        env["MCP_METRICS_ENABLED"] = "true"
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    token: str | None
    log_path: Path
    layers: tuple[str, ...] = ()
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        return ""

    def wait_ready(self, request: bytes, timeout_s: float = 120.0) -> None:
        """Until one real ``tools/call`` answers 200 (start-up on a loaded box is slow)."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    s.sendall(request)
                    answer = s.recv(65536)
                if answer.startswith(b"HTTP/1.1 200"):
                    return
                last = answer[:400].decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:g}s: {last}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()


def _spawn(
    name: str, argv: list[str], env: dict[str, str], workdir: Path
) -> tuple[subprocess.Popen[bytes], Path, IO[bytes]]:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,  # the logs variant writes JSON lines here, as a deployment would
    )
    pin(proc.pid, server_cpus())
    return proc, log_path, log


def start_reference(workdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(HERE / "reference_server.py"), "--port", str(port)]
    proc, log_path, log = _spawn("reference", argv, clean_env(), workdir)
    return Server("reference", proc, port, None, log_path, (), log)


def start_ours(
    name: str,
    workdir: Path,
    redis_url: str | None,
    *,
    baseline: str | None = None,
) -> Server:
    """``mcp-server serve`` with the layers of variant ``name``; ``baseline`` is another
    environment's ``mcp-server`` command (an older checkout), served as ``<name>@baseline``."""
    layers = VARIANTS[name]
    port = free_port()
    command = [baseline] if baseline else [sys.executable, "-m", "mcp_fastapi_server"]
    label = f"{name}@baseline" if baseline else name
    argv = [*command, "serve", "--port", str(port)]
    env = clean_env(layer_env(layers, redis_url))
    proc, log_path, log = _spawn(label, argv, env, workdir)
    token = bench_token() if "auth" in layers else None
    return Server(label, proc, port, token, log_path, layers, log)


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="mcp-bench-")
