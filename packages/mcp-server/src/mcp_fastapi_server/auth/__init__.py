"""Authentication and authorization, transport-neutral: who is calling, and may they?

``build_auth(settings, specs)`` returns an :class:`AuthSetup` (or ``None`` when auth is
off): a token verifier (pyjwt, JWKS or a static key; or a team's own FastMCP
``TokenVerifier``), the :class:`ScopePolicy` that says which scopes each call needs, and
the RFC 9728 :class:`ResourceMetadata`. The HTTP adapter (:mod:`mcp_fastapi_server.http`)
turns their answers into 401/403/503 responses.
"""

from __future__ import annotations

from mcp_fastapi_server.auth._errors import (
    FAILURE_REASONS,
    UNAVAILABLE_REASONS,
    AuthFailure,
    FailureReason,
)
from mcp_fastapi_server.auth._jwt import (
    Identity,
    JWTTokenVerifier,
    OnFailure,
    identity_from_access_token,
)
from mcp_fastapi_server.auth._keys import (
    JwksKeySource,
    KeySource,
    StaticKeySource,
    VerificationKey,
)
from mcp_fastapi_server.auth._resource_metadata import WELL_KNOWN, ResourceMetadata
from mcp_fastapi_server.auth._scopes import ScopePolicy
from mcp_fastapi_server.auth._setup import AuthSetup, build_auth

__all__ = [
    "FAILURE_REASONS",
    "UNAVAILABLE_REASONS",
    "WELL_KNOWN",
    "AuthFailure",
    "AuthSetup",
    "FailureReason",
    "Identity",
    "JWTTokenVerifier",
    "JwksKeySource",
    "KeySource",
    "OnFailure",
    "ResourceMetadata",
    "ScopePolicy",
    "StaticKeySource",
    "VerificationKey",
    "build_auth",
    "identity_from_access_token",
]
