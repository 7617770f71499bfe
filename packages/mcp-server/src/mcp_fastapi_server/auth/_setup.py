"""``build_auth``: the authentication and authorization decisions, built once from settings.

:class:`AuthSetup` is transport-neutral: :meth:`AuthSetup.authenticate` turns a bearer
token into an :class:`~mcp_fastapi_server.auth.Identity` (or raises :class:`AuthFailure`
with a bounded reason), :attr:`AuthSetup.policy` says which scopes a call needs, and
:attr:`AuthSetup.metadata` builds the RFC 9728 document. The HTTP adapter reads the
header, asks these, and answers 401/403/503 with the right headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastmcp.server.auth import TokenVerificationError, TokenVerifier

from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.auth._errors import AuthFailure
from mcp_fastapi_server.auth._jwt import (
    Identity,
    JWTTokenVerifier,
    OnFailure,
    identity_from_access_token,
)
from mcp_fastapi_server.auth._resource_metadata import ResourceMetadata
from mcp_fastapi_server.auth._scopes import ScopePolicy
from mcp_fastapi_server.core import ToolPolicy

__all__ = ["AuthSetup", "build_auth"]

log = logging.getLogger("mcp_fastapi_server.auth")


@dataclass(frozen=True)
class AuthSetup:
    """The parts of authentication the transports use (see ``docs/authentication.md``)."""

    verifier: TokenVerifier
    policy: ScopePolicy
    metadata: ResourceMetadata
    on_failure: OnFailure | None = None

    async def authenticate(self, token: str) -> Identity:
        """Verify ``token``; raise :class:`AuthFailure` (a bounded reason) when refused."""
        verifier = self.verifier
        if isinstance(verifier, JWTTokenVerifier):
            return await verifier.authenticate(token)
        try:  # a team's own verifier (mount_mcp(token_verifier=...))
            access = await verifier.verify_token(token)
        except TokenVerificationError:
            raise AuthFailure("verifier_unavailable", "the token could not be checked") from None
        except Exception:
            log.exception("token verifier %s failed", type(verifier).__name__)
            raise AuthFailure("verifier_unavailable", "the token could not be checked") from None
        if access is None:
            raise AuthFailure("rejected", "the token was not accepted")
        if access.expires_at is not None and access.expires_at < time.time():
            raise AuthFailure("expired", "the token has expired")
        return identity_from_access_token(access)

    def failed(self, reason: str) -> None:
        """Count one refused request (``mcp_auth_failures_total{reason}``)."""
        if self.on_failure is not None:
            self.on_failure(reason)

    def describe(self) -> dict[str, Any]:
        """The effective auth configuration for ``mcp-server check``; no secrets."""
        if isinstance(self.verifier, JWTTokenVerifier):
            verifier = self.verifier.describe()
        else:
            verifier = {"key_source": "custom", "verifier": type(self.verifier).__qualname__}
        return {
            "mode": "jwt",
            **verifier,
            "required_scopes": sorted(self.policy.required),
            "tool_scopes": {k: sorted(v) for k, v in sorted(self.policy.tools.items())},
            "resource_url": self.metadata.resource_url or "(derived from each request)",
            "authorization_servers": self.metadata.authorization_servers,
            "metadata_paths": self.metadata.paths(),
        }

    async def aclose(self) -> None:
        """Release the verifier's resources (the runtime's lifespan calls it)."""
        if isinstance(self.verifier, JWTTokenVerifier):
            await self.verifier.aclose()


def build_auth(
    settings: Settings,
    specs: Iterable[ToolPolicy],
    *,
    token_verifier: TokenVerifier | None = None,
    on_failure: OnFailure | None = None,
    other_tools: Iterable[str] = (),
) -> AuthSetup | None:
    """Build auth from settings; ``None`` when ``MCP_AUTH_MODE=none`` and no verifier given.

    ``specs`` are every registered tool (served or disabled) and ``other_tools`` the names
    of tools served from elsewhere (re-exposed upstream tools). ``MCP_TOOL_SCOPES`` is
    checked against them in every auth mode, so a typo stops start-up even while auth is
    off. A ``token_verifier`` (``mount_mcp(token_verifier=...)``) replaces the JWT verifier
    and turns auth on. ``on_failure(reason)`` is called once per refused request. Raises
    ``SettingsError`` naming the variable on a bad configuration.
    """
    policy = ScopePolicy.from_settings(settings, specs, other_tools=other_tools)
    if settings.auth_mode == "none" and token_verifier is None:
        return None
    verifier = token_verifier or JWTTokenVerifier.from_settings(settings)
    metadata = ResourceMetadata.from_settings(settings, policy.scopes_supported())
    return AuthSetup(verifier=verifier, policy=policy, metadata=metadata, on_failure=on_failure)
