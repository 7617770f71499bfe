"""Forward an upstream's ``elicitation/create`` to the caller of the exposed tool behind it.

An upstream may ask a question while serving ``<upstream>_<tool>``. Only the person whose
call caused it may answer: asking anybody else leaks one user's question to another and
lets the wrong person decide. The manager's client session often receives the question
in its own receive loop, with no link to our request, so the router finds the caller
like this:

1. **Linked.** The question arrived in the call's own context: a 2026-07-28 upstream's
   ``InputRequiredResult`` is handled in the calling task, and over streamable HTTP the
   MCP SDK hands a message read from a POST's response stream the POSTing task's
   ``contextvars``. The manager's sessions start in an empty context, so a question only
   carries a caller when it travelled on that caller's own request.
2. **Only call.** Otherwise (a stdio upstream's receive loop): ask only when exactly one
   exposed call to that upstream is in flight; with none or several, decline.

The chosen caller must be askable: a handshake-era session with a back channel (stdio,
or stateful streamable HTTP) that declared form elicitation. Anything else declines;
the router never accepts on anybody's behalf. What the caller answers goes back as is
(the manager fills SEP-1034 defaults into an ``accept``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fastmcp.server.context import Context
from fastmcp.server.dependencies import get_context
from mcp.server.session import ServerSession
from mcp_types import ElicitResult, RequestId
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_fastapi_server.core import current_request_id
from mcp_upstream_client import ElicitationRequest

__all__ = ["UpstreamElicitationRouter"]

logger = logging.getLogger("mcp_fastapi_server.upstreams")


@dataclass(eq=False, slots=True)
class _Caller:
    """One in-flight exposed call, with what is needed to ask its caller from any task."""

    upstream: str
    session: ServerSession | None
    rpc_id: RequestId | None
    request_id: str | None  # our X-Request-ID, for logs
    #: Why this caller cannot be asked (None: it can).
    unaskable: str | None
    asks: set[asyncio.Task[ElicitResult]] = field(default_factory=set)
    open: bool = True


# Set for the duration of an exposed call; read where the question is handled.
_current: ContextVar[_Caller | None] = ContextVar("mcp_server_upstream_caller", default=None)


def _unaskable(session: ServerSession) -> str | None:
    """Why the caller behind ``session`` cannot be asked a form question (None: it can)."""
    if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return f"the caller speaks {session.protocol_version}, which has no back channel"
    if not session.can_send_request:
        return "the caller's transport has no back channel (stateless HTTP)"
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None:
        return "the caller did not declare the elicitation capability"
    if elicitation.form is None and elicitation.url is not None:
        return "the caller supports only URL-mode elicitation"
    return None


def _caller(upstream: str, context: Context | None) -> _Caller:
    request_id = current_request_id.get() or None
    if context is None:
        try:
            context = get_context()
        except RuntimeError:
            context = None
    try:
        if context is None:
            raise RuntimeError("no FastMCP context")
        session, rpc_id = context.session, context.request_id
    except RuntimeError:
        return _Caller(upstream, None, None, request_id, "the call has no MCP request context")
    return _Caller(upstream, session, rpc_id, request_id, _unaskable(session))


class UpstreamElicitationRouter:
    """Routes upstream questions to the caller of the exposed call they belong to.

    Pass :meth:`handle` as ``UpstreamManager(elicitation_handler=...)`` and wrap every
    exposed call in :meth:`exposed_call`.
    """

    def __init__(self) -> None:
        self._inflight: dict[str, list[_Caller]] = {}

    @contextmanager
    def exposed_call(self, upstream: str, context: Context | None = None) -> Iterator[None]:
        """Register a call to ``upstream`` made for the current request (``context``).

        Every call counts, askable or not, so an unaskable call still makes the
        "only call" rule decline rather than guess. Questions still being asked when the
        call ends are withdrawn (the upstream gets a decline).
        """
        caller = _caller(upstream, context)
        callers = self._inflight.setdefault(upstream, [])
        callers.append(caller)
        token = _current.set(caller)
        try:
            yield
        finally:
            _current.reset(token)
            caller.open = False
            callers.remove(caller)
            if not callers:
                del self._inflight[upstream]
            for ask in list(caller.asks):
                ask.cancel()

    async def handle(self, request: ElicitationRequest) -> ElicitResult:
        """An :data:`~mcp_upstream_client.ElicitationHandler`: ask the caller, or decline."""
        if request.url is not None:
            return self._decline(request, None, "URL-mode elicitation is not forwarded")
        caller = _current.get()
        if caller is not None and caller.upstream != request.upstream:
            caller = None
        if caller is None:
            callers = self._inflight.get(request.upstream, [])
            if len(callers) != 1:
                reason = f"{len(callers)} exposed calls in flight; whose question is unknown"
                return self._decline(request, None, reason)
            caller = callers[0]
        if not caller.open:
            return self._decline(request, caller, "the call has ended")
        if caller.unaskable is not None or caller.session is None:
            return self._decline(request, caller, caller.unaskable or "no session")
        return await self._ask(caller, request)

    async def _ask(self, caller: _Caller, request: ElicitationRequest) -> ElicitResult:
        assert caller.session is not None  # checked by handle()
        schema: dict[str, Any] = dict(request.requested_schema)
        # A task of its own so that the call's end can withdraw the question.
        ask = asyncio.create_task(
            caller.session.elicit_form(request.message, schema, related_request_id=caller.rpc_id)
        )
        caller.asks.add(ask)
        try:
            await asyncio.wait({ask})
        finally:
            ask.cancel()  # no-op when done; stops asking if this handler is cancelled
            caller.asks.discard(ask)
        if ask.cancelled():
            return self._decline(request, caller, "the call ended while asking")
        error = ask.exception()
        if error is not None:
            return self._decline(request, caller, f"asking the caller failed: {error!r}")
        answer = ask.result()
        logger.info(
            "upstream %s: caller answered elicitation with %s",
            request.upstream,
            answer.action,
            extra=_extra(request, caller),
        )
        if answer.action != "accept":
            return ElicitResult(action=answer.action)
        return ElicitResult(action="accept", content=answer.content)

    def _decline(
        self, request: ElicitationRequest, caller: _Caller | None, reason: str
    ) -> ElicitResult:
        logger.warning(
            "upstream %s: elicitation declined: %s",
            request.upstream,
            reason,
            extra={**_extra(request, caller), "reason": reason},
        )
        return ElicitResult(action="decline")


def _extra(request: ElicitationRequest, caller: _Caller | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"upstream": request.upstream}
    if caller is not None:
        extra["request_id"] = caller.request_id
        extra["rpc_id"] = caller.rpc_id
    elif current_request_id.get():  # linked to a request, though not to an exposed call
        extra["request_id"] = current_request_id.get()
    return extra
