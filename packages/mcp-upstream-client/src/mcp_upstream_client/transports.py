"""Build one FastMCP client per upstream: streamable HTTP or a stdio subprocess.

Two things the FastMCP transports do not do for us:

* **Per-call headers.** ``StreamableHttpTransport(headers=...)`` fixes headers at connect
  time, but X-Request-ID / traceparent belong to the *current* request. The MCP SDK
  carries the sender's ``contextvars`` into the task that POSTs each message, so a
  per-call :class:`CallScope` in a context variable reaches an httpx request hook,
  which adds its headers. The same scope records HTTP statuses, so a 5xx can be told
  apart from a JSON-RPC error of a healthy upstream.
* **Correlation in ``_meta``.** A stdio child has no headers, so the request id and W3C
  trace context also travel in each ``tools/call``'s ``params._meta`` (both transports),
  the way the MCP SDK and FastMCP carry trace context: ``traceparent``, ``tracestate``
  and ``baggage`` under their W3C names (SEP-414), the request id under
  :data:`REQUEST_ID_META_KEY`.
* **stderr into logging.** ``StdioTransport(log_file=...)`` wants a file; we give it the
  write end of a pipe and read the other end on the event loop, one log record a line.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, TextIO, cast

import httpx2
import mcp_types
from fastmcp import Client
from fastmcp.client.elicitation import ElicitationHandler
from fastmcp.client.transports import ClientTransport, StdioTransport, StreamableHttpTransport

from mcp_upstream_client.config import UpstreamConfig
from mcp_upstream_client.oauth import AuthorizationHandler, build_auth

__all__ = [
    "REQUEST_ID_META_KEY",
    "CallScope",
    "StderrPump",
    "build_client",
    "build_http_auth",
    "correlation_meta",
    "current_scope",
    "sanitize_headers",
]

log = logging.getLogger("mcp_upstream_client.stdio")

CLIENT_INFO = mcp_types.Implementation(
    name="mcp-upstream-client", version=version("mcp-upstream-client")
)

# Never sent from ``outgoing_headers()``: credentials belong to the caller, not to the
# upstream, and framing/session headers belong to the transport.
_BLOCKED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    }
)


#: The ``_meta`` key of the request id (the ``X-Request-ID`` of the current request).
REQUEST_ID_META_KEY = "x-request-id"

# Outgoing header (lowercase) -> its ``_meta`` key. W3C trace context keeps its names:
# SEP-414 makes them the one exception to prefixed ``_meta`` keys.
_META_KEYS = {
    "x-request-id": REQUEST_ID_META_KEY,
    "traceparent": "traceparent",
    "tracestate": "tracestate",
    "baggage": "baggage",
}


def correlation_meta(headers: Mapping[str, str]) -> dict[str, str]:
    """The correlation headers of a call as ``_meta`` entries (others are left out)."""
    meta: dict[str, str] = {}
    for key, value in headers.items():
        meta_key = _META_KEYS.get(key.lower())
        if meta_key is not None and value:
            meta[meta_key] = value
    return meta


@dataclass(slots=True)
class CallScope:
    """Per-call state shared with the HTTP hooks through a context variable."""

    headers: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)

    @property
    def server_error(self) -> bool:
        """Whether any HTTP response of this call was a 5xx."""
        return any(status >= 500 for status in self.statuses)


_SCOPE: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar(
    "mcp_upstream_client_call_scope", default=None
)


def current_scope() -> contextvars.ContextVar[CallScope | None]:
    """The context variable holding the current call's :class:`CallScope`."""
    return _SCOPE


def sanitize_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Drop credentials and transport headers from what ``outgoing_headers()`` returned."""
    if not headers:
        return {}
    return {
        str(k): str(v)
        for k, v in headers.items()
        if str(k).lower() not in _BLOCKED_HEADERS and "\n" not in str(v) and "\r" not in str(v)
    }


async def _add_call_headers(request: httpx2.Request) -> None:
    scope = _SCOPE.get()
    if scope is None:
        return
    for key, value in scope.headers.items():
        if key not in request.headers:  # configured static headers win
            request.headers[key] = value


async def _record_status(response: httpx2.Response) -> None:
    scope = _SCOPE.get()
    if scope is not None:
        scope.statuses.append(response.status_code)


def _http_client_factory(connect_timeout_s: float) -> Any:
    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
        **kwargs: Any,
    ) -> httpx2.AsyncClient:
        # The MCP session enforces the call timeout; httpx only bounds connecting
        # and gives reads the SDK's 300 s floor (a slow SSE stream is not an error).
        return httpx2.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=timeout or httpx2.Timeout(connect_timeout_s, read=300.0),
            follow_redirects=kwargs.get("follow_redirects", True),
            event_hooks={"request": [_add_call_headers], "response": [_record_status]},
        )

    return factory


class StderrPump:
    """A pipe whose write end is a child's stderr and whose lines go to ``logging``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        read_fd, write_fd = os.pipe()
        self.writer = cast(TextIO, os.fdopen(write_fd, "w", encoding="utf-8", errors="replace"))
        self._reader_file = os.fdopen(read_fd, "rb")
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        """Start forwarding lines on the running loop."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        self._transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), self._reader_file
        )
        self._task = asyncio.create_task(self._pump(reader), name=f"stderr:{self.upstream}")

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line over the limit: skip it rather than stop logging
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                log.info("[%s] %s", self.upstream, text, extra={"upstream": self.upstream})

    async def close(self, grace_s: float = 1.0) -> None:
        """Close our write end and drain what the children wrote (children must be gone)."""
        with contextlib.suppress(OSError):
            self.writer.close()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):  # wait_for cancels it then
                await asyncio.wait_for(self._task, grace_s)
        if self._transport is not None:
            self._transport.close()
        else:
            self._reader_file.close()


def build_client(
    config: UpstreamConfig,
    stderr: StderrPump | None,
    *,
    auth: httpx2.Auth | None = None,
    elicitation: ElicitationHandler | None = None,
) -> Client[Any]:
    """A fresh, not yet connected FastMCP client for ``config``.

    ``auth`` is the upstream's OAuth flow; it is built once per upstream (see
    :func:`build_http_auth`) and shared by every client of a reconnecting connection, so a
    reconnect reuses its tokens instead of authorizing again. ``elicitation`` answers the
    upstream's ``elicitation/create`` (and declares the capability); None declares none.
    """
    transport: ClientTransport
    if config.transport == "http":
        assert config.url is not None  # the config validator guarantees it
        transport = StreamableHttpTransport(
            config.url,
            headers={k: v.get_secret_value() for k, v in config.headers.items()},
            auth=auth,
            httpx_client_factory=_http_client_factory(config.effective_connect_timeout_s),
        )
    else:
        assert config.command  # the config validator guarantees it
        transport = StdioTransport(
            config.command[0],
            list(config.command[1:]),
            env={k: v.get_secret_value() for k, v in config.env.items()},
            cwd=config.cwd,
            keep_alive=False,  # leaving the client's context stops the child
            log_file=stderr.writer if stderr is not None else None,
        )
    client: Client[Any] = Client(
        transport,
        timeout=config.timeout_s,
        init_timeout=config.effective_connect_timeout_s,
        mode=config.mode,
        client_info=CLIENT_INFO,
        elicitation_handler=elicitation,
    )
    return client


def build_http_auth(
    config: UpstreamConfig, handler: AuthorizationHandler | None = None
) -> httpx2.Auth | None:
    """The upstream's OAuth flow when ``[upstreams.oauth]`` is set, else None."""
    if config.oauth is None or config.url is None:
        return None
    return build_auth(config.url, config.oauth, handler)
