"""The observer seam: how the host reports upstream traffic without us importing it.

mcp-server implements this with Prometheus metrics (``mcp_upstream_requests_total``,
``mcp_upstream_request_duration_seconds``, ``mcp_upstream_circuit_state``,
``mcp_upstream_up``, ``mcp_upstream_pin_mismatch_total``); this package stays free of
prometheus-client.

Every configured upstream is announced once, when the manager is built (circuit ``0``,
not connected), so a dashboard sees it before its first call; after that each hook
fires on a change. :class:`ObserverGroup` fans one event out to several observers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "CircuitState",
    "NullObserver",
    "ObserverGroup",
    "Outcome",
    "UpstreamObserver",
    "notify",
]

log = logging.getLogger("mcp_upstream_client")

#: 0 closed, 1 half-open, 2 open (the values of ``mcp_upstream_circuit_state``).
CircuitState = Literal[0, 1, 2]

#: ``outcome`` label values of ``on_request``.
Outcome = Literal[
    "ok",  # a result (not isError)
    "tool_error",  # a result with isError: the upstream works, the tool said no
    "denied",  # not in allow_tools; never sent
    "withdrawn",  # pin mismatch; never sent
    "circuit_open",  # failed fast
    "timeout",
    "unavailable",  # transport failure, 5xx, crash, shutting down
    "rpc_error",  # the upstream answered a JSON-RPC error
]


@runtime_checkable
class UpstreamObserver(Protocol):
    """Callbacks for metrics; each must be quick and must not raise (errors are logged).

    ``on_connection_state`` is newer than the others: an observer written before it may
    leave it out (a missing hook is skipped, never an error).
    """

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """One ``call_tool`` finished (including calls refused before any I/O)."""

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """The breaker of ``upstream`` is now ``state`` (0 closed, 1 half-open, 2 open)."""

    def on_connection_state(self, upstream: str, connected: bool) -> None:
        """``upstream`` got (True) or lost (False) its live session (stdio: its child)."""

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """A pinned tool's definition drifted or disappeared; it is withdrawn."""


class NullObserver:
    """The default: observe nothing."""

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """Ignore."""

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """Ignore."""

    def on_connection_state(self, upstream: str, connected: bool) -> None:
        """Ignore."""

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """Ignore."""


def notify(observer: object, method: str, *args: object) -> None:
    """Call an observer hook; a failing observer must never fail a tool call.

    A hook the observer does not define is skipped (observers may predate a hook).
    """
    hook = getattr(observer, method, None)
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        log.exception("upstream observer %s failed", method)


class ObserverGroup:
    """Several observers behind one: each event goes to each of them, in order."""

    def __init__(self, observers: Iterable[object] = ()) -> None:
        self._observers: list[object] = []
        for observer in observers:
            self.add(observer)

    def add(self, observer: object) -> bool:
        """Add ``observer`` unless it is already there; True if it was added."""
        if any(o is observer for o in self._observers):
            return False
        self._observers.append(observer)
        return True

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """Fan out."""
        for observer in self._observers:
            notify(observer, "on_request", upstream, tool, outcome, duration_s)

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """Fan out."""
        for observer in self._observers:
            notify(observer, "on_circuit_state", upstream, state)

    def on_connection_state(self, upstream: str, connected: bool) -> None:
        """Fan out."""
        for observer in self._observers:
            notify(observer, "on_connection_state", upstream, connected)

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """Fan out."""
        for observer in self._observers:
            notify(observer, "on_pin_mismatch", upstream, tool)
