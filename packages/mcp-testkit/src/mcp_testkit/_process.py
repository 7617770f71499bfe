"""Child processes for tests: a free port, waiting until one is ready, stopping it for sure.

Every server the testkit (and the tools next to it) starts goes through these three steps;
they live here once so a fix to, say, reaping applies to all of them. The standard library
has the parts (``Popen.wait``, ``os.killpg``) but not the policy: SIGTERM first so the
server can shut down cleanly, SIGKILL after a grace period so a test never hangs on it,
and always a final ``wait`` so no zombie outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["Readiness", "free_port", "port_accepts", "signal_process", "stop_process", "wait_until"]

Readiness = Literal["ready", "exited", "timeout"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS just handed out on ``host`` (127.0.0.1 unless told).

    There is a small window before the server binds it; the OS does not reuse a freed
    ephemeral port at once, which is what every test suite relies on.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def signal_process(proc: subprocess.Popen[Any], sig: signal.Signals, *, group: bool) -> None:
    """Send ``sig`` to ``proc``, or to its whole process group with ``group=True``.

    The group reaches a wrapper's children (``uv run``, ``npx``, ``sh -c``) when the process
    was started with ``start_new_session=True``; when the group is gone or not ours, the
    process itself still gets the signal.
    """
    if group:
        try:
            os.killpg(proc.pid, sig)
            return
        except (ProcessLookupError, PermissionError):
            pass
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def stop_process(proc: subprocess.Popen[Any], *, grace: float, group: bool = False) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps; the exit code."""
    if proc.poll() is None:
        signal_process(proc, signal.SIGTERM, group=group)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_process(proc, signal.SIGKILL, group=group)
    return proc.wait()


def wait_until(
    proc: subprocess.Popen[Any],
    ready: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
) -> Readiness:
    """Poll ``ready()`` until it holds, the process exits, or ``timeout`` seconds pass.

    The exit check comes first on every round, so a server that crashes at start-up fails
    fast instead of after the whole timeout. The caller decides what each outcome means.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return "exited"
        if ready():
            return "ready"
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(interval)
