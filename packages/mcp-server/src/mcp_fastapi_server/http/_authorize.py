"""Per-call scope check after the body parse: 403 ``insufficient_scope`` before FastMCP.

The one place a call's scopes are decided (``tools/list`` is filtered inside FastMCP by
:mod:`._list_filter`, which asks the same :class:`~mcp_fastapi_server.auth.ScopePolicy`).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_fastapi_server.auth import AuthSetup
from mcp_fastapi_server.core import FORBIDDEN, RequestContext, get_request_context
from mcp_fastapi_server.http._responses import challenge, send_jsonrpc_error

__all__ = ["AuthorizeMiddleware"]

log = logging.getLogger("mcp_fastapi_server.auth")


class AuthorizeMiddleware:
    """Refuse a call whose token lacks a scope it needs (step 5 of the chain)."""

    def __init__(self, app: ASGIApp, *, auth: AuthSetup) -> None:
        self.app = app
        self.auth = auth
        self.policy = auth.policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = get_request_context(scope) if scope["type"] == "http" else None
        if (
            ctx is None
            or ctx.subject is None
            or not self.policy.missing(ctx.scopes, ctx.method, ctx.tool)
        ):
            await self.app(scope, receive, send)
            return
        await self._forbid(scope, send, ctx)

    async def _forbid(self, scope: Scope, send: Send, ctx: RequestContext) -> None:
        self.auth.failed("insufficient_scope")
        ctx.outcome = "denied"
        needed = sorted(self.policy.needed(ctx.method, ctx.tool))
        # The tool name comes from the request body: it may go into the JSON body, never
        # into a header (it could hold quotes, CR/LF or non-latin-1 characters).
        what = f"tool {ctx.tool!r}" if ctx.method == "tools/call" and ctx.tool else "this call"
        log.debug("auth forbidden (insufficient_scope) request_id=%s", ctx.request_id)
        header = challenge(
            error="insufficient_scope",
            description="the token lacks a scope this call needs",
            scope=" ".join(needed),
            resource_metadata=self.auth.metadata.metadata_url(scope),
        )
        await send_jsonrpc_error(
            send,
            status=403,
            code=FORBIDDEN,
            message=f"Forbidden: {what} needs scope {' '.join(needed)}",
            rpc_id=ctx.rpc_id,
            data={
                "reason": "insufficient_scope",
                "required_scopes": needed,
                "request_id": ctx.request_id,
            },
            headers=[(b"www-authenticate", header)],
        )
