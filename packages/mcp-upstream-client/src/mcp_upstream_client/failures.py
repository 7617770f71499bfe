"""Turning whatever a call or connect raised into one typed :mod:`errors` exception.

Kept apart from :mod:`connection` because the rules are the policy: which failures count
against the breaker (the upstream misbehaved), which break the connection (reconnect),
which mean a legacy session was lost (re-initialize), and which are the upstream refusing
our credentials (:class:`~mcp_upstream_client.errors.UpstreamAuthError`: neither).
"""

from __future__ import annotations

from mcp import MCPError
from mcp.client.auth import OAuthFlowError
from mcp_types import CONNECTION_CLOSED, INVALID_REQUEST, REQUEST_TIMEOUT

from mcp_upstream_client.errors import (
    UpstreamAuthError,
    UpstreamCallError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.transports import CallScope

__all__ = ["Failure", "auth_refusal", "classify", "describe"]

_SESSION_LOST = frozenset({"Session not found", "Session terminated"})


class Failure(Exception):
    """A classified failure (``error`` to raise, ``counts``, ``broken``)."""

    def __init__(self, error: UpstreamError, *, counts: bool, broken: bool, lost: bool = False):
        super().__init__(str(error))
        self.error, self.counts, self.broken, self.lost = error, counts, broken, lost


def classify(
    exc: BaseException, scope: CallScope, *, upstream: str, http: bool, timeout_s: float
) -> Failure:
    """The :class:`Failure` for ``exc`` raised by a call whose HTTP statuses are in ``scope``."""
    name = upstream
    refused = auth_refusal(exc, scope)
    if refused:
        # The upstream is up and answering; our credentials are the problem (or a
        # scope this one tool needs). Not evidence against the upstream's health.
        return Failure(
            UpstreamAuthError(f"upstream {name!r}: {refused}", upstream=name),
            counts=False,
            broken=False,
        )
    if isinstance(exc, TimeoutError) or (isinstance(exc, MCPError) and exc.code == REQUEST_TIMEOUT):
        return Failure(
            UpstreamTimeoutError(
                f"upstream {name!r}: no answer within {timeout_s:g}s",
                upstream=name,
                timeout_s=timeout_s,
            ),
            counts=True,
            broken=False,
        )
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED and exc.message == "Connection closed":
            return Failure(
                UpstreamUnavailableError(f"upstream {name!r}: connection closed", upstream=name),
                counts=True,
                broken=True,
            )
        if http and exc.code == INVALID_REQUEST and exc.message in _SESSION_LOST:
            return Failure(
                UpstreamUnavailableError(f"upstream {name!r}: session lost", upstream=name),
                counts=True,
                broken=True,
                lost=True,
            )
        if scope.server_error:
            status = max(scope.statuses)
            return Failure(
                UpstreamUnavailableError(f"upstream {name!r}: HTTP {status}", upstream=name),
                counts=True,
                broken=False,
            )
        return Failure(
            UpstreamCallError(
                f"upstream {name!r}: JSON-RPC error {exc.code}: {exc.message}",
                upstream=name,
                code=exc.code,
                data=exc.data,
            ),
            counts=False,
            broken=False,
        )
    return Failure(
        UpstreamUnavailableError(f"upstream {name!r}: {describe(exc)}", upstream=name),
        counts=True,
        broken=True,
    )


def auth_refusal(exc: BaseException, scope: CallScope) -> str | None:
    """Why the upstream refused us, if it did: an OAuth error anywhere in the chain, or a
    401/403 answer (the OAuth flow, when configured, already tried to fix it)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OAuthFlowError):
            return f"OAuth failed: {describe(current)}"
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    # Only the last answer counts: an OAuth flow sees a 401 first and then succeeds.
    if scope.statuses and scope.statuses[-1] in (401, 403):
        return f"not authorized (HTTP {scope.statuses[-1]})"
    return None


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
