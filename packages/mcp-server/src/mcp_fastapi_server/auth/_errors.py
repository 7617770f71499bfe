"""Typed authentication failures with a bounded ``reason`` set.

The reason becomes the label of ``mcp_auth_failures_total{reason}``, so it must come from
a fixed set (never from token contents). The description goes into ``WWW-Authenticate``
and the JSON-RPC error body; it is written by us and never contains the token.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FAILURE_REASONS", "UNAVAILABLE_REASONS", "AuthFailure", "FailureReason"]

FailureReason = Literal[
    "missing",
    "malformed",
    "expired",
    "not_yet_valid",
    "bad_signature",
    "bad_issuer",
    "bad_audience",
    "missing_claim",
    "alg_not_allowed",
    "unknown_kid",
    "jwks_unavailable",
    "insufficient_scope",
    # A team's own TokenVerifier (``mount_mcp(token_verifier=...)``) said no / could not decide.
    "rejected",
    "verifier_unavailable",
]

FAILURE_REASONS: frozenset[str] = frozenset(get_args(FailureReason))

# Reasons that mean "we could not decide" rather than "the token is bad": answered 503,
# because a 401 would send clients to refresh a token that is probably fine.
UNAVAILABLE_REASONS: frozenset[str] = frozenset({"jwks_unavailable", "verifier_unavailable"})


class AuthFailure(Exception):
    """A bearer token was refused (or could not be checked), with a metric-safe reason."""

    def __init__(self, reason: FailureReason, description: str) -> None:
        super().__init__(f"{reason}: {description}")
        self.reason: FailureReason = reason
        self.description = description

    @property
    def unavailable(self) -> bool:
        """True when the verifier could not decide (key set unreachable), not a bad token."""
        return self.reason in UNAVAILABLE_REASONS
