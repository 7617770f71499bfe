"""429/503 before FastMCP runs: the only place a real HTTP status and headers can be sent.

Sits after auth (so the subject is known) and counts one hit per JSON-RPC request, keyed on
``ctx.rate_key_subject`` and ``ctx.tool`` (``tools/call``) or ``ctx.method``. Requests
without a parsed method or id (GET streams, DELETE, notifications, responses to the
server) pass uncounted: there is nothing to refuse and no JSON-RPC id to refuse it with.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_fastapi_server.core import RATE_LIMITED, UNAVAILABLE, get_request_context
from mcp_fastapi_server.http._responses import send_jsonrpc_error
from mcp_fastapi_server.limits import Decision, LimiterUnavailableError, RateLimitPolicy

__all__ = ["RateLimitMiddleware"]


class RateLimitMiddleware:
    """Refuse over-limit calls with 429 + ``Retry-After`` + ``RateLimit*`` headers and a
    JSON-RPC error (-32029); answer 503 (-32050) with ``Retry-After`` when the store is
    down and the failure mode is ``closed``, or when it is misconfigured (any mode).

    ``headers_on_success`` also puts ``RateLimit-Policy``/``RateLimit`` on admitted answers;
    it costs a ``send`` wrapper per request, so it is off by default.
    """

    def __init__(
        self, app: ASGIApp, *, policy: RateLimitPolicy, headers_on_success: bool = False
    ) -> None:
        self.app = app
        self.policy = policy
        self.headers_on_success = headers_on_success

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = get_request_context(scope) if scope["type"] == "http" else None
        if ctx is None or ctx.method is None or ctx.rpc_id is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await self.policy.hit(ctx.rate_key_subject, ctx.method, ctx.tool)
        except LimiterUnavailableError as exc:
            ctx.outcome = "unavailable"
            await send_jsonrpc_error(
                send,
                status=503,
                code=UNAVAILABLE,
                message=str(exc),
                rpc_id=ctx.rpc_id,
                data={"reason": exc.reason, "request_id": ctx.request_id},
                headers=[(b"retry-after", str(exc.retry_after_s).encode())],
            )
            return
        if decision.allowed:
            if self.headers_on_success and not decision.degraded:
                send = _with_headers(send, decision)
            await self.app(scope, receive, send)
            return
        ctx.outcome = "rate_limited"
        data = decision.error_data()
        data["request_id"] = ctx.request_id
        await send_jsonrpc_error(
            send,
            status=429,
            code=RATE_LIMITED,
            message=decision.message(),
            rpc_id=ctx.rpc_id,
            data=data,
            headers=decision.headers(),
        )


def _with_headers(send: Send, decision: Decision) -> Send:
    extra = decision.headers()

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_headers
