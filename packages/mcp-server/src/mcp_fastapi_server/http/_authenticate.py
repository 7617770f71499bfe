"""Bearer authentication from the headers alone: 401 (or 503) before the body is read.

Runs right after the Host/Origin guard and before the body is read, so a request without a
valid token costs one header scan and one cache lookup, never a 1 MiB upload and a JSON
parse. On success it fills ``ctx.subject``/``client_id``/``scopes`` and sets
``scope["user"]``/``scope["auth"]`` the way Starlette's ``AuthenticationMiddleware`` would,
so ``fastmcp.server.dependencies.get_access_token()`` works in tools and the SDK binds
stateful sessions to the token's principal, without FastMCP verifying the token again.

Only the ``Authorization: Bearer`` header is read (RFC 6750 §2.1); a token in the query
string or a form body is ignored. Tokens never reach logs, answers or metrics. The answer
to a refused request carries ``"id": null``: the body (and so the JSON-RPC id) is not read.
"""

from __future__ import annotations

import logging
import re

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server.auth import AuthFailure, AuthSetup
from mcp_fastapi_server.core import UNAUTHORIZED, UNAVAILABLE, RequestContext, get_request_context
from mcp_fastapi_server.http._responses import challenge, send_jsonrpc_error

__all__ = ["AuthenticateMiddleware"]

log = logging.getLogger("mcp_fastapi_server.auth")

_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
RETRY_AFTER_UNAVAILABLE_S = 30


def _bearer(scope: Scope) -> str | None:
    """The bearer token from the Authorization header; ``None`` when there is none."""
    values = [v for k, v in scope["headers"] if k == b"authorization"]
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


class AuthenticateMiddleware:
    """Pure-ASGI bearer authentication for the MCP endpoint (step 3 of the chain)."""

    def __init__(self, app: ASGIApp, *, auth: AuthSetup) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = get_request_context(scope) if scope["type"] == "http" else None
        if ctx is None or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflights never carry credentials
            return
        try:
            token = _bearer(scope)
            if token is None:
                raise AuthFailure("missing", "a bearer token is required")
            identity = await self.auth.authenticate(token)
        except AuthFailure as failure:
            await self._refuse(scope, send, ctx, failure)
            return
        ctx.subject = identity.subject
        ctx.client_id = identity.client_id
        ctx.scopes = identity.scopes
        scope["user"] = AuthenticatedUser(identity.access_token)
        scope["auth"] = AuthCredentials(sorted(identity.scopes))
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, send: Send, ctx: RequestContext, failure: AuthFailure
    ) -> None:
        self.auth.failed(failure.reason)
        data = {"reason": failure.reason, "request_id": ctx.request_id}
        if failure.unavailable:
            ctx.outcome = "unavailable"
            log.warning("auth unavailable (%s) request_id=%s", failure.reason, ctx.request_id)
            await send_jsonrpc_error(
                send,
                status=503,
                code=UNAVAILABLE,
                message="Authentication is temporarily unavailable",
                rpc_id=None,
                data=data,
                headers=[(b"retry-after", str(RETRY_AFTER_UNAVAILABLE_S).encode())],
            )
            return
        ctx.outcome = "denied"
        log.debug("auth refused (%s) request_id=%s", failure.reason, ctx.request_id)
        header = challenge(
            error="invalid_token",
            description=failure.description,
            resource_metadata=self.auth.metadata.metadata_url(scope),
        )
        await send_jsonrpc_error(
            send,
            status=401,
            code=UNAUTHORIZED,
            message=f"Unauthorized: {failure.description}",
            rpc_id=None,
            data=data,
            headers=[(b"www-authenticate", header)],
        )
