"""JWT bearer authentication for the HTTP transport: one factory for the core to call.

``build_auth(settings, specs)`` returns everything the mount needs: the verifier (a FastMCP
``TokenVerifier``), the pure-ASGI :class:`~mcp_fastapi_server.http.auth.AuthMiddleware` for
the chain, the RFC 9728 metadata routes for the host app, and the FastMCP middleware that filters
``tools/list`` by the token's scopes. ``None`` when ``MCP_AUTH_MODE=none`` and no verifier
was passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastmcp.server.auth import TokenVerifier
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_fastapi_server.auth.errors import FAILURE_REASONS, AuthFailure, FailureReason
from mcp_fastapi_server.auth.jwt import Identity, JWTTokenVerifier, OnFailure
from mcp_fastapi_server.auth.keys import JwksKeySource, KeySource, StaticKeySource
from mcp_fastapi_server.auth.resource_metadata import WELL_KNOWN, ResourceMetadata
from mcp_fastapi_server.auth.scopes import ScopeFilterMiddleware, ScopePolicy
from mcp_fastapi_server.registry import ToolSpec
from mcp_fastapi_server.settings import Settings

if TYPE_CHECKING:
    from mcp_fastapi_server.http.auth import AuthMiddleware

__all__ = [
    "FAILURE_REASONS",
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
    "ScopeFilterMiddleware",
    "ScopePolicy",
    "StaticKeySource",
    "build_auth",
]


@dataclass(frozen=True)
class AuthSetup:
    """The parts of authentication the mount wires in (see ``docs/authentication.md``)."""

    verifier: TokenVerifier
    policy: ScopePolicy
    metadata: ResourceMetadata
    list_filter: ScopeFilterMiddleware
    on_failure: OnFailure | None = None
    routes: list[Route] = field(default_factory=list)

    @property
    def middleware_class(self) -> type[AuthMiddleware]:
        from mcp_fastapi_server.http.auth import (
            AuthMiddleware,
        )  # late: http.auth imports this package

        return AuthMiddleware

    @property
    def middleware_kwargs(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "policy": self.policy,
            "metadata": self.metadata,
            "on_failure": self.on_failure,
        }

    def wrap(self, app: ASGIApp) -> AuthMiddleware:
        """``AuthMiddleware(app, **middleware_kwargs)``: step 4 of the HTTP chain."""
        return self.middleware_class(app, **self.middleware_kwargs)

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
            "metadata_paths": [route.path for route in self.routes],
        }

    async def aclose(self) -> None:
        """Release the verifier's resources (call from the app's lifespan shutdown)."""
        if isinstance(self.verifier, JWTTokenVerifier):
            await self.verifier.aclose()


def build_auth(
    settings: Settings,
    specs: Iterable[ToolSpec],
    *,
    token_verifier: TokenVerifier | None = None,
    on_failure: OnFailure | None = None,
    other_tools: Iterable[str] = (),
) -> AuthSetup | None:
    """Build auth from settings; ``None`` when ``MCP_AUTH_MODE=none`` and no verifier given.

    A ``token_verifier`` (``mount_mcp(token_verifier=...)``) replaces the JWT verifier and
    turns auth on. ``on_failure(reason)`` is called once per refused request (for
    ``mcp_auth_failures_total{reason}``). Raises ``SettingsError``/``UnknownToolError``
    naming the variable on a bad configuration.
    """
    if settings.auth_mode == "none" and token_verifier is None:
        return None
    policy = ScopePolicy.from_settings(settings, specs, other_tools=other_tools)
    verifier = token_verifier or JWTTokenVerifier.from_settings(settings)
    metadata = ResourceMetadata.from_settings(settings, policy.scopes_supported())
    return AuthSetup(
        verifier=verifier,
        policy=policy,
        metadata=metadata,
        list_filter=ScopeFilterMiddleware(policy),
        on_failure=on_failure,
        routes=metadata.routes(),
    )
