"""One upstream's live connection: connect, list, call, detect failure, reconnect.

FastMCP clients whose transport died keep failing (``Connection closed``, or
``ConnectError`` after an HTTP server came back) until their ``async with`` is left and
re-entered. So recovery here means: drop the client, close it, build a fresh one (a new
subprocess for stdio). Reconnects back off exponentially with jitter up to
``reconnect.max_attempts``; after that the upstream is reported down and only the
periodic health check tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any

import mcp_types
from fastmcp import Client

from mcp_upstream_client._testing import is_testing
from mcp_upstream_client.breaker import Clock, UpstreamBreaker
from mcp_upstream_client.config import UpstreamConfig
from mcp_upstream_client.elicitation import ElicitationHandler, fastmcp_handler
from mcp_upstream_client.errors import (
    ToolNotAllowedError,
    ToolWithdrawnError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.failures import Failure, auth_refusal, classify, describe
from mcp_upstream_client.oauth import AuthorizationHandler
from mcp_upstream_client.observer import UpstreamObserver, notify
from mcp_upstream_client.pins import PinVerdict, check_pins
from mcp_upstream_client.status import State, UpstreamStatus
from mcp_upstream_client.transports import (
    CallScope,
    StderrPump,
    build_client,
    build_http_auth,
    current_scope,
)

__all__ = ["Connection", "UpstreamStatus"]

log = logging.getLogger("mcp_upstream_client")


class Connection:
    """Owns the client, tool catalog, breaker and background tasks of one upstream."""

    def __init__(
        self,
        config: UpstreamConfig,
        observer: UpstreamObserver,
        *,
        clock: Clock,
        authorization_handler: AuthorizationHandler | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._observer = observer
        # One OAuth flow (and token store) for the connection's lifetime: reconnects reuse it.
        self._auth = build_http_auth(config, authorization_handler)
        self._elicitation = (
            fastmcp_handler(config.name, elicitation_handler) if elicitation_handler else None
        )
        self.breaker = UpstreamBreaker(config.name, config.breaker, observer, clock=clock)
        self._client: Client[Any] | None = None
        self._connect_lock = asyncio.Lock()
        self._stderr = StderrPump(config.name) if config.transport == "stdio" else None
        self._state: State = "connecting"
        self._last_error: str | None = None
        self._last_ok_at: float | None = None
        self._reconnects = 0
        self._allowed: dict[str, mcp_types.Tool] = {}
        self._verdict = PinVerdict({}, {})
        self._listed = False
        self._recovery: asyncio.Task[None] | None = None
        self._health: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # Awaited at close, never cancelled: they reap stdio children.
        self._closers: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """First connect; raise :class:`UpstreamUnavailableError` if it fails."""
        if self._stderr is not None:
            await self._stderr.start()
        if self.config.health_interval_s > 0:
            self._health = self._spawn(self._health_loop(), f"health:{self.name}")
        await self._connect()

    def start_recovery(self) -> None:
        """Reconnect in the background with backoff (no-op if already running)."""
        if self._closed or (self._recovery is not None and not self._recovery.done()):
            return
        self._state = "reconnecting"
        self._recovery = self._spawn(self._recover(), f"reconnect:{self.name}")

    async def close(self) -> None:
        """Stop tasks, close the client (stdio: the SDK closes stdin, then SIGTERM, SIGKILL)."""
        self._closed = True
        self._state = "stopped"
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)
        if self._stderr is not None:
            await self._stderr.close()

    # -- status ----------------------------------------------------------------------

    def status(self) -> UpstreamStatus:
        """Current state as a frozen snapshot."""
        return UpstreamStatus(
            name=self.name,
            state=self._state,
            required=self.config.required,
            circuit=self.breaker.state_name,
            tools=tuple(sorted(self._verdict.approved)),
            withdrawn=dict(self._verdict.withdrawn),
            last_error=self._last_error,
            last_ok_at=self._last_ok_at,
            reconnects=self._reconnects,
        )

    @property
    def listed(self) -> bool:
        """Whether a tool listing was ever received."""
        return self._listed

    def approved_tools(self) -> list[mcp_types.Tool]:
        """Allowed tools whose pins match (in allow_tools order)."""
        return [
            self._verdict.approved[n]
            for n in self.config.allow_tools
            if n in self._verdict.approved
        ]

    def allowed_listing(self) -> dict[str, mcp_types.Tool]:
        """Allowed tools as the upstream currently defines them, pins not applied."""
        return dict(self._allowed)

    # -- connecting ------------------------------------------------------------------

    async def ensure_client(self) -> Client[Any]:
        """The live client, connecting inline when idle; fail fast while reconnecting."""
        if self._client is not None:
            return self._client
        if self._recovery is not None and not self._recovery.done():
            raise UpstreamUnavailableError(
                f"upstream {self.name!r} is reconnecting: {self._last_error}", upstream=self.name
            )
        return await self._connect()

    async def _connect(self) -> Client[Any]:
        async with self._connect_lock:
            if self._client is not None:
                return self._client
            if self._closed:
                raise UpstreamUnavailableError(
                    f"upstream {self.name!r} is stopped", upstream=self.name
                )
            client = build_client(
                self.config, self._stderr, auth=self._auth, elicitation=self._elicitation
            )
            timeout = self.config.effective_connect_timeout_s
            # Enter in a fresh context: the session's background tasks copy the context
            # they start in, and must not carry one caller's CallScope (its headers) along.
            scope = CallScope()  # records the connect's HTTP statuses (a 401/403 is auth)
            task = asyncio.create_task(self._enter(client, scope), context=contextvars.Context())
            try:
                async with asyncio.timeout(timeout):
                    tools = await task
            except BaseException as exc:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await self._close_client(client)
                reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
                refused = auth_refusal(exc, scope)
                self._state = "down"
                self._last_error = f"connect failed: {reason}"
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning(
                    "upstream %s: connect failed: %s",
                    self.name,
                    reason,
                    extra={"upstream": self.name},
                )
                error = UpstreamAuthError if refused else UpstreamUnavailableError
                raise error(
                    f"upstream {self.name!r}: connect failed: {refused or reason}",
                    upstream=self.name,
                ) from None
            self._client = client
            self._apply_listing(tools)
            self._state = "up"
            self._last_error = None
            self._last_ok_at = time.time()
            log.info(
                "upstream %s connected (%d approved tools)",
                self.name,
                len(self._verdict.approved),
                extra={"upstream": self.name},
            )
            return client

    async def _enter(self, client: Client[Any], scope: CallScope) -> list[mcp_types.Tool]:
        current_scope().set(scope)  # this task's own context: nobody else sees it
        await client.__aenter__()  # type: ignore[no-untyped-call]  # fastmcp leaves it untyped
        return await client.list_tools()

    async def _close_client(self, client: Client[Any]) -> None:
        with contextlib.suppress(Exception):
            await client.close()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await client.transport.close()

    def _mark_broken(self, client: Client[Any], reason: str) -> None:
        if self._client is not client or self._closed:
            return  # someone already replaced it, or close() owns it now
        self._client = None
        self._state = "reconnecting"
        self._last_error = reason
        log.warning(
            "upstream %s: connection lost: %s", self.name, reason, extra={"upstream": self.name}
        )
        closer = asyncio.create_task(self._close_client(client), name=f"close:{self.name}")
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)
        self.start_recovery()

    def _backoff(self, attempt: int) -> float:
        if is_testing():
            return 0.0
        conf = self.config.reconnect
        ceiling = min(conf.max_backoff_s, conf.initial_backoff_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)

    async def _recover(self) -> None:
        attempts = self.config.reconnect.max_attempts
        for attempt in range(attempts):
            await asyncio.sleep(self._backoff(attempt))
            try:
                await self._connect()
            except UpstreamUnavailableError:
                self._state = "reconnecting"
                continue
            self._reconnects += 1
            return
        self._state = "down"
        log.error(
            "upstream %s: down after %d reconnect attempts: %s",
            self.name,
            attempts,
            self._last_error,
            extra={"upstream": self.name},
        )

    # -- tools and pins --------------------------------------------------------------

    def _apply_listing(self, tools: list[mcp_types.Tool]) -> None:
        allow = set(self.config.allow_tools)
        self._allowed = {t.name: t for t in tools if t.name in allow}
        verdict = check_pins(self._allowed, self.config.allow_tools, self.config.pins)
        for tool, reason in verdict.withdrawn.items():
            if self._verdict.withdrawn.get(tool) != reason:
                log.warning(
                    "upstream %s: tool %s withdrawn: %s",
                    self.name,
                    tool,
                    reason,
                    extra={"upstream": self.name, "tool": tool},
                )
                notify(self._observer, "on_pin_mismatch", self.name, tool)
        self._verdict = verdict
        self._listed = True

    def check_approved(self, tool: str) -> None:
        """Raise unless ``tool`` is offered and approved (call before any I/O)."""
        reason = self._verdict.withdrawn.get(tool)
        if reason is not None:
            raise ToolWithdrawnError(
                f"upstream {self.name!r}: tool {tool!r} is withdrawn until re-approved ({reason})",
                upstream=self.name,
                tool=tool,
            )
        if tool not in self._verdict.approved:
            raise ToolNotAllowedError(
                f"upstream {self.name!r} does not offer allowed tool {tool!r}",
                upstream=self.name,
                tool=tool,
            )

    async def refresh(self) -> None:
        """Re-list tools (health check): feeds pins and status; failures mark it broken."""
        client = await self.ensure_client()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                tools = await client.list_tools()
        except Exception as exc:
            failure = self._classify(exc, CallScope(), self.config.timeout_s)
            self._last_error = str(failure.error)
            if failure.broken or failure.lost:
                self._mark_broken(client, describe(exc))
            raise failure.error from None
        self._apply_listing(tools)
        self._last_ok_at = time.time()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            if self._recovery is not None and not self._recovery.done():
                continue
            with contextlib.suppress(UpstreamError):
                await self.refresh()

    # -- calling ---------------------------------------------------------------------

    async def call(
        self, tool: str, arguments: dict[str, Any], timeout_s: float, headers: dict[str, str]
    ) -> mcp_types.CallToolResult:
        """Call an allowed tool through the breaker (the manager checked the allowlist)."""
        probe = self.breaker.admit()
        try:
            return await self._call_admitted(tool, arguments, timeout_s, headers)
        finally:
            self.breaker.release(probe)

    async def _call_admitted(
        self, tool: str, arguments: dict[str, Any], timeout_s: float, headers: dict[str, str]
    ) -> mcp_types.CallToolResult:
        if self._client is None and self._recovery is not None and not self._recovery.done():
            # Failing fast while a reconnect runs is not new evidence: don't count it.
            raise UpstreamUnavailableError(
                f"upstream {self.name!r} is reconnecting: {self._last_error}", upstream=self.name
            )
        try:
            client = await self.ensure_client()
        except UpstreamUnavailableError as exc:
            self.breaker.record_failure(exc)  # a real connect attempt failed
            raise
        self.check_approved(tool)
        try:
            result = await self._send(client, tool, arguments, timeout_s, headers)
        except Failure as failure:
            if not failure.lost:
                self._settle(client, failure)
                raise failure.error from None
            # A legacy-era HTTP session vanished (404): re-initialize once, and retry
            # only a read-only call, since a write may already have happened upstream.
            client = await self._reinitialize(client)
            self.check_approved(tool)
            if not self._read_only(tool):
                raise UpstreamUnavailableError(
                    f"upstream {self.name!r}: session lost; {tool!r} is not read-only, not retried",
                    upstream=self.name,
                ) from None
            try:
                result = await self._send(client, tool, arguments, timeout_s, headers)
            except Failure as again:
                self._settle(client, again)
                raise again.error from None
        self.breaker.record_success()
        self._last_ok_at = time.time()
        return result

    async def _send(
        self,
        client: Client[Any],
        tool: str,
        arguments: dict[str, Any],
        timeout_s: float,
        headers: dict[str, str],
    ) -> mcp_types.CallToolResult:
        scope = CallScope(headers=headers)
        var = current_scope()
        token = var.set(scope)
        try:
            return await client.call_tool_mcp(tool, arguments, timeout=timeout_s)
        except Exception as exc:
            raise self._classify(exc, scope, timeout_s) from exc
        finally:
            var.reset(token)

    def _settle(self, client: Client[Any], failure: Failure) -> None:
        if failure.counts:
            self.breaker.record_failure(failure.error)
        else:
            self.breaker.record_success()  # it answered: the upstream itself is fine
        if failure.broken:
            self._mark_broken(client, str(failure.error))

    async def _reinitialize(self, client: Client[Any]) -> Client[Any]:
        log.warning(
            "upstream %s: session lost, re-initializing", self.name, extra={"upstream": self.name}
        )
        if self._client is client:
            self._client = None
            await self._close_client(client)
        try:
            return await self._connect()
        except UpstreamUnavailableError as exc:
            self.breaker.record_failure(exc)
            self.start_recovery()
            raise

    def _read_only(self, tool: str) -> bool:
        definition = self._verdict.approved.get(tool)
        annotations = definition.annotations if definition is not None else None
        return bool(annotations is not None and annotations.read_only_hint)

    def _classify(self, exc: BaseException, scope: CallScope, timeout_s: float) -> Failure:
        return classify(
            exc,
            scope,
            upstream=self.name,
            http=self.config.transport == "http",
            timeout_s=timeout_s,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name, context=contextvars.Context())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task
