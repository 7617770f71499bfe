"""Authentication and scope checks in front of FastMCP: real 401/403 with ``WWW-Authenticate``.

Runs after the body middleware (``ctx.method``/``ctx.tool`` are known) and before the rate
limiter (which keys on ``ctx.subject``). On success it fills ``ctx.subject``/``client_id``/
``scopes`` and sets ``scope["user"]``/``scope["auth"]`` the way Starlette's
``AuthenticationMiddleware`` would, so ``fastmcp.server.dependencies.get_access_token()``
works in tools and the SDK binds stateful sessions to the token's principal, without
FastMCP verifying the token a second time.

Only the ``Authorization: Bearer`` header is read (RFC 6750 §2.1); a token in the query
string or a form body is ignored. Tokens never reach logs, answers or metrics.
"""

from __future__ import annotations

import logging
import re
import time

from fastmcp.server.auth import TokenVerificationError, TokenVerifier
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server.auth.errors import AuthFailure
from mcp_fastapi_server.auth.jwt import (
    Identity,
    JWTTokenVerifier,
    OnFailure,
    identity_from_access_token,
)
from mcp_fastapi_server.auth.resource_metadata import ResourceMetadata
from mcp_fastapi_server.auth.scopes import ScopePolicy
from mcp_fastapi_server.http.context import RequestContext, get_request_context
from mcp_fastapi_server.http.responses import (
    FORBIDDEN,
    UNAUTHORIZED,
    UNAVAILABLE,
    send_jsonrpc_error,
)

__all__ = ["AuthMiddleware"]

log = logging.getLogger("mcp_fastapi_server.auth")

_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
RETRY_AFTER_UNAVAILABLE_S = 30


def _quoted(text: str) -> str:
    # Our descriptions never hold quotes; strip them anyway so a header cannot be broken.
    return '"' + text.replace("\\", "").replace('"', "'") + '"'


def _bearer(scope: Scope) -> str | None:
    """The bearer token from the Authorization header; ``None`` when there is none."""
    values = [v for k, v in scope["headers"] if k.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise AuthFailure("malformed", "send exactly one Authorization header")
    scheme, _, credentials = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme (Basic, …) is no bearer token: answer as "missing"
    token: str = credentials.strip()
    if not _TOKEN68.match(token):
        raise AuthFailure("malformed", "the bearer token has invalid characters")
    return token


class AuthMiddleware:
    """Pure-ASGI bearer authentication + per-call scope check for the MCP endpoint."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        policy: ScopePolicy,
        metadata: ResourceMetadata,
        on_failure: OnFailure | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.policy = policy
        self.metadata = metadata
        self.on_failure = on_failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflights never carry credentials
            return
        ctx = get_request_context(scope)
        if ctx is None:
            await self.app(scope, receive, send)
            return
        try:
            token = _bearer(scope)
            if token is None:
                raise AuthFailure("missing", "a bearer token is required")
            identity = await self._authenticate(token)
        except AuthFailure as failure:
            await self._refuse(scope, send, ctx, failure)
            return
        ctx.subject, ctx.client_id, ctx.scopes = (
            identity.subject,
            identity.client_id,
            identity.scopes,
        )
        scope["user"] = AuthenticatedUser(identity.access_token)
        scope["auth"] = AuthCredentials(sorted(identity.scopes))
        if self.policy.missing(identity.scopes, ctx.method, ctx.tool):
            await self._forbid(scope, send, ctx)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, token: str) -> Identity:
        if isinstance(self.verifier, JWTTokenVerifier):
            return await self.verifier.authenticate(token)
        try:  # a team's own verifier (mount_mcp(token_verifier=...))
            access = await self.verifier.verify_token(token)
        except TokenVerificationError:
            raise AuthFailure("verifier_unavailable", "the token could not be checked") from None
        except Exception:
            log.exception("token verifier %s failed", type(self.verifier).__name__)
            raise AuthFailure("verifier_unavailable", "the token could not be checked") from None
        if access is None:
            raise AuthFailure("rejected", "the token was not accepted")
        if access.expires_at is not None and access.expires_at < time.time():
            raise AuthFailure("expired", "the token has expired")
        return identity_from_access_token(access)

    def _count(self, reason: str) -> None:
        if self.on_failure is not None:
            self.on_failure(reason)

    async def _refuse(
        self, scope: Scope, send: Send, ctx: RequestContext, failure: AuthFailure
    ) -> None:
        self._count(failure.reason)
        data = {"reason": failure.reason, "request_id": ctx.request_id}
        if failure.unavailable:
            log.warning("auth unavailable (%s) request_id=%s", failure.reason, ctx.request_id)
            await send_jsonrpc_error(
                send,
                status=503,
                code=UNAVAILABLE,
                message="Authentication is temporarily unavailable",
                rpc_id=ctx.rpc_id,
                data=data,
                headers=[(b"retry-after", str(RETRY_AFTER_UNAVAILABLE_S).encode())],
            )
            return
        log.debug("auth refused (%s) request_id=%s", failure.reason, ctx.request_id)
        challenge = (
            f"Bearer error={_quoted('invalid_token')}, "
            f"error_description={_quoted(failure.description)}, "
            f"resource_metadata={_quoted(self.metadata.metadata_url(scope))}"
        )
        await send_jsonrpc_error(
            send,
            status=401,
            code=UNAUTHORIZED,
            message=f"Unauthorized: {failure.description}",
            rpc_id=ctx.rpc_id,
            data=data,
            headers=[(b"www-authenticate", challenge.encode("latin-1"))],
        )

    async def _forbid(self, scope: Scope, send: Send, ctx: RequestContext) -> None:
        self._count("insufficient_scope")
        needed = sorted(self.policy.needed(ctx.method, ctx.tool))
        # The tool name comes from the request body: it may go into the JSON body, never
        # into a header (it could hold quotes, CR/LF or non-latin-1 characters).
        what = f"tool {ctx.tool!r}" if ctx.method == "tools/call" and ctx.tool else "this call"
        description = f"{what} needs scope {' '.join(needed)}"
        log.debug("auth forbidden (insufficient_scope) request_id=%s", ctx.request_id)
        challenge = (
            f"Bearer error={_quoted('insufficient_scope')}, "
            f"error_description={_quoted('the token lacks a scope this call needs')}, "
            f"scope={_quoted(' '.join(needed))}, "
            f"resource_metadata={_quoted(self.metadata.metadata_url(scope))}"
        )
        await send_jsonrpc_error(
            send,
            status=403,
            code=FORBIDDEN,
            message=f"Forbidden: {description}",
            rpc_id=ctx.rpc_id,
            data={
                "reason": "insufficient_scope",
                "required_scopes": needed,
                "request_id": ctx.request_id,
            },
            headers=[(b"www-authenticate", challenge.encode("latin-1"))],
        )
