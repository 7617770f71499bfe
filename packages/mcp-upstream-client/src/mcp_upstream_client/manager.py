"""``UpstreamManager``: the library API over all configured upstreams.

Started from the host app's lifespan (``async with UpstreamManager(configs) as m``). It
enforces the allowlist before any I/O, passes each call through the upstream's circuit
breaker, sends only configured static headers plus what ``outgoing_headers()`` returns
(never a caller's Authorization; the correlation ones also in the call's ``_meta``), and
on exit drains in-flight calls within a grace period before closing sessions and
stopping stdio children. Every configured upstream is announced to the observers when
the manager is built (circuit closed, not connected), before any connect or call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import mcp_types

from mcp_upstream_client.breaker import Clock
from mcp_upstream_client.config import UpstreamConfig
from mcp_upstream_client.connection import Connection
from mcp_upstream_client.elicitation import ElicitationHandler
from mcp_upstream_client.errors import (
    CircuitOpenError,
    ToolNotAllowedError,
    ToolWithdrawnError,
    UnknownUpstreamError,
    UpstreamAuthError,
    UpstreamCallError,
    UpstreamConfigError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.oauth import AuthorizationHandler
from mcp_upstream_client.observer import ObserverGroup, UpstreamObserver, notify
from mcp_upstream_client.pins import tool_pin
from mcp_upstream_client.status import UpstreamStatus
from mcp_upstream_client.transports import sanitize_headers

__all__ = ["OutgoingHeaders", "UpstreamManager", "compute_pins"]

log = logging.getLogger("mcp_upstream_client")

#: Returns the headers of the *current* request to pass on (X-Request-ID, traceparent).
OutgoingHeaders = Callable[[], Mapping[str, str] | None]


class UpstreamManager:
    """Connections to every configured upstream, with one policy for all of them."""

    def __init__(
        self,
        configs: Iterable[UpstreamConfig],
        *,
        observer: UpstreamObserver | None = None,
        outgoing_headers: OutgoingHeaders | None = None,
        shutdown_grace_s: float = 10.0,
        clock: Clock = time.monotonic,
        elicitation_handler: ElicitationHandler | None = None,
        authorization_handler: AuthorizationHandler | None = None,
    ) -> None:
        """``elicitation_handler`` answers upstreams' ``elicitation/create`` (none: the
        capability is not declared, so upstreams cannot ask). ``authorization_handler``
        approves OAuth authorization-code requests of ``[upstreams.oauth]`` upstreams in
        place of :class:`~mcp_upstream_client.oauth.HeadlessAuthorization`."""
        self._observer = ObserverGroup([observer] if observer is not None else [])
        self._outgoing_headers = outgoing_headers
        self._grace = shutdown_grace_s
        self._connections: dict[str, Connection] = {}
        for config in configs:
            if config.name in self._connections:
                raise UpstreamConfigError(f"upstream name {config.name!r} is used twice")
            self._connections[config.name] = Connection(
                config,
                self._observer,
                clock=clock,
                authorization_handler=authorization_handler,
                elicitation_handler=elicitation_handler,
            )
        self._accepting = False
        self._started = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        for name in self._connections:
            self._announce(self._observer, name)

    def add_observer(self, observer: UpstreamObserver) -> None:
        """Report to ``observer`` too (e.g. the metrics of a server handed this manager).

        It is told the current circuit and connection state of every upstream at once, so
        its gauges start right. Adding the same observer twice has no effect.
        """
        if self._observer.add(observer):
            for name in self._connections:
                self._announce(observer, name)

    def _announce(self, observer: object, name: str) -> None:
        conn = self._connections[name]
        notify(observer, "on_circuit_state", name, conn.breaker.state)
        notify(observer, "on_connection_state", name, conn.connected)

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> UpstreamManager:
        """Connect to all upstreams concurrently; raise if a required one is down."""
        if self._started:
            raise RuntimeError("UpstreamManager can be entered only once")
        self._started = True
        conns = list(self._connections.values())
        results = await asyncio.gather(*(c.start() for c in conns), return_exceptions=True)
        failed_required: list[tuple[str, BaseException]] = []
        for conn, result in zip(conns, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                await self._close_all()
                raise result
            if isinstance(result, BaseException):
                if conn.config.required:
                    failed_required.append((conn.name, result))
                else:
                    log.warning(
                        "optional upstream %s starts down: %s",
                        conn.name,
                        result,
                        extra={"upstream": conn.name},
                    )
        if failed_required:
            await self._close_all()
            # All of them refused our credentials: say so by type ("fix the OAuth set-up",
            # not "the upstream is down"); it is still an UpstreamUnavailableError.
            refused = all(isinstance(e, UpstreamAuthError) for _, e in failed_required)
            error = UpstreamAuthError if refused else UpstreamUnavailableError
            raise error(
                "required upstream(s) down at start-up: "
                + "; ".join(f"{name} ({e})" for name, e in failed_required)
            )
        for conn in conns:
            conn.supervise()
        self._accepting = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse new calls, wait for in-flight ones (grace period), close everything."""
        self._accepting = False
        if self._inflight:
            log.info(
                "upstreams: waiting up to %.1fs for %d in-flight call(s)",
                self._grace,
                self._inflight,
            )
            try:
                await asyncio.wait_for(self._idle.wait(), self._grace)
            except TimeoutError:
                log.warning(
                    "upstreams: %d call(s) still running after the grace period", self._inflight
                )
        await self._close_all()

    async def _close_all(self) -> None:
        await asyncio.gather(
            *(c.close() for c in self._connections.values()), return_exceptions=True
        )

    # -- queries ---------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Configured upstream names, in file order."""
        return list(self._connections)

    def config(self, upstream: str) -> UpstreamConfig:
        """The configuration of ``upstream``."""
        return self._get(upstream).config

    def status(self) -> dict[str, UpstreamStatus]:
        """Snapshot per upstream, fed by calls and the periodic health checks."""
        return {name: conn.status() for name, conn in self._connections.items()}

    def not_ready(self) -> dict[str, str]:
        """Required upstreams that are not ok, with state, circuit and last error."""
        return {
            name: st.describe() for name, st in self.status().items() if st.required and not st.ok
        }

    async def list_tools(self, upstream: str) -> list[mcp_types.Tool]:
        """Allowed, approved tools of ``upstream`` (connects first if never listed)."""
        conn = self._get(upstream)
        if not conn.catalog.listed:
            await conn.refresh()
        return conn.catalog.approved_tools()

    async def refresh(self, upstream: str) -> UpstreamStatus:
        """Run a health check now (re-list tools, re-check pins) and return the status."""
        conn = self._get(upstream)
        try:
            await conn.refresh()
        except UpstreamError as exc:
            log.info("upstream %s health check failed: %s", upstream, exc)
        return conn.status()

    def current_pins(self) -> dict[str, dict[str, str]]:
        """Pins of the allowed tools as the upstreams define them now (drifted ones too)."""
        return {
            name: {tool: tool_pin(t) for tool, t in sorted(conn.catalog.allowed_listing().items())}
            for name, conn in self._connections.items()
        }

    # -- calls -----------------------------------------------------------------------

    async def call_tool(
        self,
        upstream: str,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the public API names it so)
    ) -> mcp_types.CallToolResult:
        """Call an allowed tool; a tool-level failure is a result with ``is_error=True``.

        Raises a subclass of :class:`UpstreamError` when there is no result; a tool not
        in ``allow_tools`` fails with :class:`ToolNotAllowedError` before any I/O.
        """
        conn = self._get(upstream)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            if not self._accepting:
                raise UpstreamUnavailableError(
                    f"upstream {upstream!r}: manager is not running", upstream=upstream
                )
            if tool not in conn.config.allow_tools:
                raise ToolNotAllowedError(
                    f"upstream {upstream!r}: tool {tool!r} is not in allow_tools",
                    upstream=upstream,
                    tool=tool,
                )
            headers = self._headers()
            self._inflight += 1
            self._idle.clear()
            try:
                result = await conn.call(
                    tool, dict(arguments or {}), timeout or conn.config.timeout_s, headers
                )
            finally:
                self._inflight -= 1
                if not self._inflight:
                    self._idle.set()
            outcome = "tool_error" if result.is_error else "ok"
            return result
        except UpstreamError as exc:
            outcome = _outcome(exc)
            raise
        finally:
            notify(
                self._observer, "on_request", upstream, tool, outcome, time.perf_counter() - started
            )

    def _headers(self) -> dict[str, str]:
        if self._outgoing_headers is None:
            return {}
        try:
            return sanitize_headers(self._outgoing_headers())
        except Exception:
            log.exception("outgoing_headers() failed; calling upstream without them")
            return {}

    def _get(self, upstream: str) -> Connection:
        try:
            return self._connections[upstream]
        except KeyError:
            raise UnknownUpstreamError(
                f"no upstream named {upstream!r}", upstream=upstream
            ) from None


def _outcome(exc: UpstreamError) -> str:
    for kind, label in (
        (ToolWithdrawnError, "withdrawn"),
        (ToolNotAllowedError, "denied"),
        (CircuitOpenError, "circuit_open"),
        (UpstreamTimeoutError, "timeout"),
        (UpstreamCallError, "rpc_error"),
    ):
        if isinstance(exc, kind):
            return label
    return "unavailable"


async def compute_pins(
    source: UpstreamManager | Iterable[UpstreamConfig],
) -> dict[str, dict[str, str]]:
    """Pins of every allowed tool, for approval (``mcp-server pin``).

    Given a running manager, read its current listings; given configs, connect to each
    upstream once (all treated as required, configured pins ignored) and list them.
    """
    if isinstance(source, UpstreamManager):
        return source.current_pins()
    configs = [
        c.model_copy(update={"required": True, "pins": {}, "health_interval_s": 0.0})
        for c in source
    ]
    async with UpstreamManager(configs, shutdown_grace_s=0) as manager:
        return manager.current_pins()
