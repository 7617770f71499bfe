"""Redis server handles: the common interface and a ``redis-server`` child process.

Every process-backed topology (standalone, TLS, cluster nodes, sentinel data nodes and the
sentinels themselves) is a :class:`ProcessRedis`: a binary, a config file written once in a
temporary directory of its own, a port on 127.0.0.1 that survives ``stop``/``start`` (so a
restarted node keeps its URL and, for cluster and sentinel, the state it wrote to its
config), and a log file whose tail goes into every error.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from mcp_testkit._process import free_port, signal_process, stop_process

__all__ = [
    "ProcessRedis",
    "RedisServer",
    "RedisUnavailableError",
    "ping_version",
    "port_bindable",
    "wait_ready",
]

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0
_STOP_GRACE_S = 10.0

# Every process started here and not yet closed: stopped at interpreter exit, so a crashed
# session finalizer or a script that forgot close() leaves nothing running.
_LIVE: weakref.WeakSet[ProcessRedis] = weakref.WeakSet()


class RedisUnavailableError(RuntimeError):
    """No provider could give a Redis, or a server did not start (the message says why)."""


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


def port_bindable(port: int) -> bool:
    """Whether ``127.0.0.1:port`` is free to listen on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def ping_version(url: str, timeout_s: float = 0.5, **connect: Any) -> str:
    """The server's version (raises while it does not answer): ``redis_version``, or for
    Valkey its own ``valkey_version`` (its ``redis_version`` is a fixed ``7.2.4``)."""
    client = redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **connect
    )
    try:
        info = client.info("server")
        return str(info.get("valkey_version") or info["redis_version"])
    finally:
        client.close()


def wait_ready(
    url: str,
    alive: Callable[[], bool],
    describe: Callable[[], str],
    *,
    connect: Mapping[str, Any] | None = None,
    timeout_s: float = READY_TIMEOUT_S,
) -> str:
    """Poll until the server answers ``INFO``; its version. Fails fast when it exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return ping_version(url, **(connect or {}))
        except redis.RedisError:
            if not alive() or time.monotonic() > deadline:
                state = "exited" if not alive() else f"no answer in {timeout_s:.0f} s"
                raise RedisUnavailableError(f"Redis at {url} {state}: {describe()}") from None
            time.sleep(0.02)


class ProcessRedis(RedisServer):
    """A ``redis-server`` (or ``valkey-server``) child process on 127.0.0.1.

    ``config`` lines are appended to the generated config file; ``scheme``, ``port_directive``
    and ``connect`` let a TLS server listen on ``tls-port`` only and be probed with its
    certificates; ``sentinel=True`` runs the binary with ``--sentinel``. The config file is
    written once: a restart keeps what the server rewrote in it (cluster and sentinel state,
    a ``replicaof`` set by a sentinel).
    """

    def __init__(
        self,
        binary: str,
        provider: str,
        *,
        config: Sequence[str] = (),
        name: str = "redis",
        sentinel: bool = False,
        scheme: str = "redis",
        port_directive: str = "port",
        connect: Mapping[str, Any] | None = None,
        port: int | None = None,
        start: bool = True,
    ) -> None:
        self.binary = binary
        self.provider = provider
        self.name = name
        self.host = HOST
        self.port = port or free_port(HOST)
        self.sentinel = sentinel
        self.scheme = scheme
        self.connect: dict[str, Any] = dict(connect or {})
        self.directory = Path(tempfile.mkdtemp(prefix=f"mcp-testkit-{name}-"))
        self.config_file = self.directory / ("sentinel.conf" if sentinel else "redis.conf")
        self.log_file = self.directory / f"{name}.log"
        lines = [f"{port_directive} {self.port}", f"bind {HOST}", f'dir "{self.directory}"']
        if port_directive != "port":
            lines.append("port 0")  # no plain-text listener next to the TLS one
        if not sentinel:
            lines += ['save ""', "appendonly no", "repl-diskless-sync-delay 0"]
        lines += ["daemonize no", "loglevel notice", *config]
        self.config_file.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen[bytes] | None = None
        _LIVE.add(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.close()  # the error carries the log tail; leave no folder behind
                raise

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}" + ("" if self.sentinel else "/0")

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, as sentinel and cluster settings list nodes."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start (again) on the same port with the same config file and directory."""
        if self.running:
            return
        args = [self.binary, str(self.config_file), *(["--sentinel"] if self.sentinel else [])]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.directory,
            )  # fmt: skip
        proc = self._proc
        try:
            self.version = wait_ready(
                self.url, lambda: proc.poll() is None, self.log_tail, connect=self.connect
            )
        except RedisUnavailableError:
            self.stop(kill=True)
            raise

    def client(self, **kwargs: Any) -> redis.Redis:
        """A synchronous redis-py client for this server (TLS and password included)."""
        return redis.Redis.from_url(self.url, **{"socket_timeout": 5.0, **self.connect, **kwargs})

    def log_tail(self, chars: int = 1500) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return text[-chars:].strip() or f"{self.binary} exited without a message"

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown; SIGKILL after a grace period), or SIGKILL at once."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            if proc is not None:
                proc.wait()
            return
        signal_process(proc, signal.SIGCONT, group=False)  # a paused server ignores SIGTERM
        if kill:
            signal_process(proc, signal.SIGKILL, group=False)
            proc.wait()
        else:
            stop_process(proc, grace=_STOP_GRACE_S)

    def pause(self) -> None:
        if self._proc is not None:
            signal_process(self._proc, signal.SIGSTOP, group=False)

    def resume(self) -> None:
        if self._proc is not None:
            signal_process(self._proc, signal.SIGCONT, group=False)

    def close(self) -> None:
        self.stop()
        _LIVE.discard(self)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name} {self.provider} {self.url} {state}>"


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        server.stop(kill=True)
        shutil.rmtree(server.directory, ignore_errors=True)
