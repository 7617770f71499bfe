"""The observer seam: how the host reports upstream traffic without us importing it.

mcp-server implements this with Prometheus counters (``mcp_upstream_requests_total``,
``mcp_upstream_request_duration_seconds``, ``mcp_upstream_circuit_state``,
``mcp_upstream_pin_mismatch_total``); this package stays free of prometheus-client.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol, runtime_checkable

__all__ = ["CircuitState", "NullObserver", "Outcome", "UpstreamObserver", "notify"]

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
    """Callbacks for metrics; each must be quick and must not raise (errors are logged)."""

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """One ``call_tool`` finished (including calls refused before any I/O)."""

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """The breaker of ``upstream`` moved to ``state`` (0 closed, 1 half-open, 2 open)."""

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """A pinned tool's definition drifted or disappeared; it is withdrawn."""


class NullObserver:
    """The default: observe nothing."""

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """Ignore."""

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """Ignore."""

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """Ignore."""


def notify(observer: UpstreamObserver, method: str, *args: object) -> None:
    """Call an observer hook; a failing observer must never fail a tool call."""
    try:
        getattr(observer, method)(*args)
    except Exception:
        log.exception("upstream observer %s failed", method)
