"""Why a rate-limit store failed: a Redis that is away, or a deployment that is wrong.

Two kinds, two answers:

- **unavailable** (``connection``, ``timeout``, ``loading``, ``failover``): Redis did not
  answer or is between masters. That passes, so ``MCP_RATE_LIMIT_FAILURE_MODE`` decides:
  ``open`` admits (with a warning and the metric), ``closed`` answers 503.
- **misconfigured** (``auth``, ``permission``, ``wrong_node``, ``not_a_cluster``,
  ``scripts_disabled``, ``tls``, ``read_only``, ``script_error``): Redis answered, and the
  answer means this deployment cannot limit at all (a bad password, an ACL without the key
  prefix, a standalone client on a cluster node, an untrusted certificate). That never
  passes by itself: start-up stops when it is seen there, and every call gets 503 naming
  the cause, whatever the failure mode. Never an admission in silence.

The reason is the ``reason`` label of ``mcp_rate_limit_store_errors_total``: a fixed set.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "CAUSES",
    "STORE_ERROR_REASONS",
    "StoreError",
    "StoreMisconfiguredError",
    "StoreReason",
    "StoreUnavailableError",
]

StoreReason = Literal[
    "connection",
    "timeout",
    "loading",
    "failover",
    "auth",
    "permission",
    "wrong_node",
    "not_a_cluster",
    "scripts_disabled",
    "tls",
    "read_only",
    "script_error",
]
STORE_ERROR_REASONS: Final[frozenset[str]] = frozenset(StoreReason.__args__)  # type: ignore[attr-defined]


# What a caller is told (no host names, no user names); the log line has the details.
CAUSES: Final[dict[str, str]] = {
    "connection": "the rate-limit store (Redis) is unreachable",
    "timeout": "the rate-limit store (Redis) did not answer in time",
    "loading": "the rate-limit store (Redis) is loading its data",
    "failover": "the rate-limit store (Redis) is failing over",
    "auth": "the rate-limit store (Redis) refused the server's credentials",
    "permission": "the rate-limit store (Redis) denies a permission the limiter needs",
    "wrong_node": "the rate-limit store is a Redis Cluster, the server is not in cluster mode",
    "not_a_cluster": "the server is in cluster mode, the rate-limit store is not a cluster",
    "scripts_disabled": "the rate-limit store (Redis) does not run Lua scripts",
    "tls": "the TLS connection to the rate-limit store (Redis) failed",
    "read_only": "the rate-limit store (Redis) is a read-only replica",
    "script_error": "the rate-limit script failed in Redis",
}


class StoreError(RuntimeError):
    """The rate-limit store failed; ``reason`` is a bounded label, the message says why
    (for logs and operators), :attr:`cause` says it without details (for callers)."""

    transient: bool = False

    def __init__(self, reason: StoreReason, message: str) -> None:
        super().__init__(message)
        self.reason: StoreReason = reason

    @property
    def cause(self) -> str:
        return CAUSES[self.reason]


class StoreUnavailableError(StoreError):
    """Redis did not answer (refused, reset, timed out, loading, between masters)."""

    transient = True


class StoreMisconfiguredError(StoreError):
    """Redis answered with a refusal that means the deployment is wrong."""
