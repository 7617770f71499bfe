"""Typed errors of the upstream client.

The tree (catch the base to handle "the upstream did not give me a result")::

    UpstreamError
    ├── UpstreamConfigError        the upstream file is invalid (also a ValueError)
    ├── UnknownUpstreamError       no upstream of that name is configured (also a KeyError)
    ├── ToolNotAllowedError        not in allow_tools; the upstream was not contacted
    │   └── ToolWithdrawnError     allowed, but its definition no longer matches its pin
    ├── UpstreamUnavailableError   cannot reach it: down, crashed, 5xx, shutting down
    │   ├── CircuitOpenError       the breaker is open; failed fast without any I/O
    │   └── UpstreamAuthError      it refused us: 401/403, or OAuth to it failed
    ├── UpstreamTimeoutError       no answer within timeout_s (or the per-call timeout)
    └── UpstreamCallError          the upstream answered with a JSON-RPC error

A tool that runs and reports failure is *not* an exception: it is a result with
``is_error=True``, exactly as the upstream sent it.
"""

from __future__ import annotations

__all__ = [
    "CircuitOpenError",
    "ToolNotAllowedError",
    "ToolWithdrawnError",
    "UnknownUpstreamError",
    "UpstreamAuthError",
    "UpstreamCallError",
    "UpstreamConfigError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]


class UpstreamError(Exception):
    """Base of every error this package raises; ``upstream`` names the server concerned."""

    def __init__(self, message: str, *, upstream: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream = upstream


class UpstreamConfigError(UpstreamError, ValueError):
    """The upstream file cannot be used; the message names the upstream and the field."""


class UnknownUpstreamError(UpstreamError, KeyError):
    """No upstream with this name is configured."""

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return self.message


class ToolNotAllowedError(UpstreamError):
    """The tool is not in the upstream's ``allow_tools``; nothing was sent upstream."""

    def __init__(self, message: str, *, upstream: str, tool: str) -> None:
        super().__init__(message, upstream=upstream)
        self.tool = tool


class ToolWithdrawnError(ToolNotAllowedError):
    """The tool's definition drifted from (or lost) its approved pin; re-approve it."""


class UpstreamUnavailableError(UpstreamError):
    """The upstream cannot be reached right now (down, crashed, 5xx, reconnecting)."""


class CircuitOpenError(UpstreamUnavailableError):
    """The upstream's circuit breaker is open: the call failed fast without network I/O."""


class UpstreamAuthError(UpstreamUnavailableError):
    """The upstream refused our credentials (HTTP 401/403) or OAuth to it failed.

    Never about the downstream caller: the manager authenticates as itself.
    """


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not answer within the timeout."""

    def __init__(self, message: str, *, upstream: str, timeout_s: float) -> None:
        super().__init__(message, upstream=upstream)
        self.timeout_s = timeout_s


class UpstreamCallError(UpstreamError):
    """The upstream answered with a JSON-RPC error (``code``, ``data`` as sent)."""

    def __init__(
        self, message: str, *, upstream: str, code: int, data: object | None = None
    ) -> None:
        super().__init__(message, upstream=upstream)
        self.code = code
        self.data = data
