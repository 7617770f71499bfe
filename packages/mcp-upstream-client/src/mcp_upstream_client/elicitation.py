"""Answering an upstream's ``elicitation/create``: who decides, and SEP-1034 defaults.

The manager calls upstreams on somebody's behalf, so it never answers a question itself:
without an :data:`ElicitationHandler` it declares no ``elicitation`` capability and the
upstream gets the spec's "not supported" error. With one, every request goes to the
handler (which may ask the downstream caller, an operator, or apply a policy) and an
``accept`` is completed the way SEP-1034 asks of clients: a field the answer leaves out
takes the schema's ``default``, as a form pre-filled with the defaults would have sent.
FastMCP's client wrapper then validates the content against the requested schema.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult

__all__ = [
    "ElicitationHandler",
    "ElicitationRequest",
    "accept_defaults",
    "apply_defaults",
    "fastmcp_handler",
]

log = logging.getLogger("mcp_upstream_client.elicitation")


@dataclass(frozen=True, slots=True)
class ElicitationRequest:
    """One question an upstream asks while serving a call."""

    upstream: str
    message: str
    #: The form's JSON Schema (flat object of primitives); empty for URL-mode requests.
    requested_schema: Mapping[str, Any] = field(default_factory=dict)
    #: URL-mode elicitation (the user should open this URL); None for forms.
    url: str | None = None


#: Decides an :class:`ElicitationRequest`; return ``ElicitResult(action=...)``.
ElicitationHandler = Callable[[ElicitationRequest], Awaitable[ElicitResult]]


def apply_defaults(schema: Mapping[str, Any], content: Mapping[str, Any] | None) -> dict[str, Any]:
    """``content`` with every missing property that has a ``default`` in ``schema`` filled in."""
    filled = dict(content or {})
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        for name, spec in properties.items():
            if name not in filled and isinstance(spec, Mapping) and "default" in spec:
                filled[name] = spec["default"]
    return filled


async def accept_defaults(request: ElicitationRequest) -> ElicitResult:
    """A handler that accepts every form as pre-filled (for unattended, trusted upstreams)."""
    if request.url is not None:
        return ElicitResult(action="decline")
    return ElicitResult(action="accept", content={})


def fastmcp_handler(upstream: str, handler: ElicitationHandler) -> Callable[..., Awaitable[Any]]:
    """Adapt ``handler`` to FastMCP's ``elicitation_handler`` signature for one upstream."""

    async def answer(
        message: str, response_type: object, params: ElicitRequestParams, context: object
    ) -> ElicitResult:
        if isinstance(params, ElicitRequestFormParams):
            request = ElicitationRequest(upstream, message, params.requested_schema)
        else:
            request = ElicitationRequest(upstream, message, url=getattr(params, "url", None))
        result = await handler(request)
        if result.action == "accept" and request.url is None:
            content = apply_defaults(request.requested_schema, result.content)
            result = result.model_copy(update={"content": content})
        log.info(
            "upstream %s: elicitation answered %s",
            upstream,
            result.action,
            extra={"upstream": upstream},
        )
        return result

    return answer
