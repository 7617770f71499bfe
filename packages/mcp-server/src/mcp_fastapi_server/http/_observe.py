"""Outermost ASGI middleware of the MCP endpoint: request id, access line, metrics.

It is outermost so that every answer, including the 401/403/413/421/429 that inner
middleware sends before FastMCP runs, carries ``X-Request-ID`` and is logged and counted
once. Pure ASGI (not ``BaseHTTPMiddleware``): the hot path is one scan of the headers, one
wrapped ``send`` and one log call, and streaming (SSE) answers pass through unbuffered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_fastapi_server.core import (
    INTERNAL_ERROR,
    SCOPE_KEY,
    RequestContext,
    current_request_context,
    current_request_id,
    current_traceparent,
    new_request_id,
    parse_request_id,
    parse_traceparent,
)
from mcp_fastapi_server.http._responses import send_jsonrpc_error
from mcp_fastapi_server.observability import (
    ACCESS_LOGGER,
    Metrics,
    outcome_for_status,
    record_access,
)

__all__ = ["REQUEST_ID_HEADER", "ObserveMiddleware"]

REQUEST_ID_HEADER = b"x-request-id"
_ERROR_KEY = b'"error":'
_RESULT_KEY = b'"result":'
# Inside JSON strings quotes are escaped, so this exact byte run is a real key/value.
_IS_ERROR = b'"isError":true'
_SNIFF_BYTES = 256
_MAX_FORWARDED_ADDR = 64

_log = logging.getLogger("mcp_fastapi_server.http")


class ObserveMiddleware:
    """Create the :class:`RequestContext` for MCP requests; log and count every answer.

    ``paths`` is the set of MCP paths (or a predicate on ``scope["path"]``); other
    requests pass through untouched. The client address is ``scope["client"]``, or the
    first ``X-Forwarded-For`` hop only when ``trust_proxy_headers`` (behind a proxy you
    run; otherwise any client could choose its rate-limit key).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Collection[str] | Callable[[str], bool],
        metrics: Metrics | None = None,
        logger: logging.Logger | None = None,
        trust_proxy_headers: bool = False,
        known_tools: Iterable[str] = (),
    ) -> None:
        self.app = app
        if callable(paths):
            self._match: Callable[[str], bool] = paths
        else:
            self._match = frozenset(paths).__contains__
        self.metrics = metrics
        if metrics is not None:
            metrics.add_known_tools(known_tools)
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._match(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        ctx = self._context(scope)
        scope[SCOPE_KEY] = ctx
        rid_header = (REQUEST_ID_HEADER, ctx.request_id.encode("ascii"))
        # Set once here: the inner middleware, FastMCP's handlers (tasks started from this
        # one inherit its context) and upstream calls read them.
        rid_token = current_request_id.set(ctx.request_id)
        ctx_token = current_request_context.set(ctx)
        tp_token = current_traceparent.set(ctx.traceparent)
        sniffed: list[str | None] = []  # one entry per 200 body chunk while no error seen

        async def send_observed(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                ctx.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            elif kind == "http.response.body":
                body: bytes = message.get("body", b"")
                ctx.response_bytes += len(body)
                if ctx.status == 200 and body and (not sniffed or sniffed[-1] is None):
                    sniffed.append(_error_kind(body, first=not sniffed))
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            ctx.outcome = "error"
            if ctx.status:  # the answer has started; nothing left to send
                raise
            # Answer ourselves so the caller still gets JSON-RPC and its request id;
            # the traceback goes to the log, where the host's error tracking sees it.
            _log.exception("unhandled error serving MCP request")
            await send_jsonrpc_error(
                send_observed,
                status=500,
                code=INTERNAL_ERROR,
                message="Internal error",
                rpc_id=ctx.rpc_id,
                data={"request_id": ctx.request_id},
            )
        finally:
            if ctx.outcome == "ok":
                if not ctx.status:
                    ctx.outcome = "disconnected"
                else:
                    ctx.outcome = outcome_for_status(ctx.status)
                    if ctx.outcome == "ok" and sniffed and sniffed[-1] is not None:
                        ctx.outcome = sniffed[-1]
            record_access(
                ctx, time.perf_counter() - start, logger=self.logger, metrics=self.metrics
            )
            current_traceparent.reset(tp_token)
            current_request_context.reset(ctx_token)
            current_request_id.reset(rid_token)

    def _context(self, scope: Scope) -> RequestContext:
        """One pass over the headers: request id, traceparent, forwarded address."""
        rid = corr = traceparent = None
        forwarded: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                rid = parse_request_id(value)
            elif key == b"x-correlation-id":
                corr = parse_request_id(value)
            elif key == b"traceparent":
                traceparent = parse_traceparent(value)
            elif key == b"x-forwarded-for" and forwarded is None:
                forwarded = value
        client = scope.get("client")
        addr = client[0] if client else None
        if forwarded is not None and self.trust_proxy_headers:
            first = forwarded.split(b",", 1)[0].strip()
            if first and len(first) <= _MAX_FORWARDED_ADDR:
                addr = first.decode("latin-1")
        return RequestContext(
            request_id=rid or corr or new_request_id(),
            client_addr=addr,
            traceparent=traceparent,
        )


def _route_path(scope: Scope) -> str:
    """The path the app routes on: behind ``--root-path /prefix`` the ASGI ``path`` still
    carries the prefix (as Starlette's router strips it), so the MCP path must be matched
    without it, or the whole chain (auth included) would step aside."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _error_kind(body: bytes, *, first: bool) -> str | None:
    """``error`` for a JSON-RPC error, ``tool_error`` for an ``isError`` result, else None.

    Cheap by construction: the top-level ``error`` member sits in the first bytes of the
    first chunk (``{"jsonrpc":"2.0","id":1,"error":…``), and ``isError`` is a substring
    search (memmem) over each chunk.
    """
    if first:
        err = body.find(_ERROR_KEY, 0, _SNIFF_BYTES)
        if err != -1:
            res = body.find(_RESULT_KEY, 0, _SNIFF_BYTES)
            if res == -1 or err < res:
                return "error"
    return "tool_error" if _IS_ERROR in body else None
