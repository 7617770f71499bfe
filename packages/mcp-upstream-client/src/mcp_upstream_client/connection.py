"""One upstream's live connection, and the one state machine it shares with its breaker.

FastMCP clients whose transport died keep failing (``Connection closed``, or
``ConnectError`` after an HTTP server came back) until their ``async with`` is left and
re-entered. So recovery means: drop the client, close it, build a fresh one (a new
subprocess for stdio).

Every failure to reach the upstream counts toward its circuit breaker, whoever met it: a
call, a connect (first or again), a health check. There is no separate "reconnecting"
fast path: a call made while the connection is down joins the connect under way (or
starts one), and that attempt counts once. So the breaker opens after ``fail_max``
consecutive failures, calls then fail fast with :class:`CircuitOpenError`, and one
supervisor task per upstream drives the rest from the breaker's state:

* circuit closed, no session: reconnect with exponential backoff and jitter;
* circuit open: wait ``reset_timeout_s``, then probe (half-open): connect, or re-list
  the tools if a session is still live; success closes the circuit, failure re-opens it;
* circuit closed, session live: a health check (``tools/list``) every
  ``health_interval_s``.

Status, metrics and logs all read this one machine. Credential refusals (401/403, OAuth)
never count: reconnects stop after ``reconnect.max_attempts`` of them in a row and only
health checks and calls try again.
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
from mcp_upstream_client.catalog import Catalog
from mcp_upstream_client.config import UpstreamConfig
from mcp_upstream_client.elicitation import ElicitationHandler, fastmcp_handler
from mcp_upstream_client.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamUnavailableError,
)
from mcp_upstream_client.failures import Failure, auth_refusal, classify, describe
from mcp_upstream_client.oauth import AuthorizationHandler
from mcp_upstream_client.observer import UpstreamObserver, notify
from mcp_upstream_client.status import State, UpstreamStatus
from mcp_upstream_client.transports import (
    CallScope,
    StderrPump,
    build_client,
    build_http_auth,
    correlation_meta,
    current_scope,
)

__all__ = ["Connection", "UpstreamStatus"]

log = logging.getLogger("mcp_upstream_client")


class Connection:
    """Owns the client, tool catalog, breaker and supervisor task of one upstream."""

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
        self._changed = asyncio.Event()  # wakes the supervisor: breaker or session changed
        self.breaker = UpstreamBreaker(
            config.name, config.breaker, observer, clock=clock, on_change=self._changed.set
        )
        self.catalog = Catalog(config, observer)
        self._client: Client[Any] | None = None
        self._attempt: asyncio.Task[Client[Any]] | None = None  # the connect under way
        self._stderr = StderrPump(config.name) if config.transport == "stdio" else None
        self._tried = False  # the first connect has ended
        self._refusals = 0  # consecutive connects refused for credentials
        self._last_error: str | None = None
        self._last_ok_at: float | None = None
        self._reconnects = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """First connect; raise :class:`UpstreamUnavailableError` if it fails."""
        if self._stderr is not None:
            await self._stderr.start()
        await self._connect()

    def supervise(self) -> None:
        """Start the supervisor (reconnects, probes, health checks); idempotent."""
        if self._closed or any(t.get_name() == self._task_name for t in self._background):
            return
        self._spawn(self._supervise(), self._task_name)

    @property
    def _task_name(self) -> str:
        return f"supervise:{self.name}"

    async def close(self) -> None:
        """Stop tasks, close the client (stdio: the SDK closes stdin, then SIGTERM, SIGKILL)."""
        self._closed = True
        self._changed.set()
        while self._background:  # closing a client may leave a closer task behind
            tasks = list(self._background)
            for task in tasks:
                if not task.get_name().startswith("close:"):
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._background.difference_update(tasks)
        client = self._client
        self._set_client(None)
        if client is not None:
            await self._close_client(client)
        if self._stderr is not None:
            await self._stderr.close()

    # -- status ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Derived from the session and the breaker; see :mod:`mcp_upstream_client.status`."""
        if self._closed:
            return "stopped"
        if self._client is not None:
            return "up"
        if not self._tried:
            return "connecting"
        if self.breaker.state == 2 or self._gave_up:
            return "down"
        return "reconnecting"

    @property
    def _gave_up(self) -> bool:
        return self._refusals >= self.config.reconnect.max_attempts

    def status(self) -> UpstreamStatus:
        """Current state as a frozen snapshot."""
        breaker = self.breaker
        return UpstreamStatus(
            name=self.name,
            state=self.state,
            required=self.config.required,
            circuit=breaker.state_name,
            tools=tuple(sorted(self.catalog.verdict.approved)),
            withdrawn=dict(self.catalog.verdict.withdrawn),
            last_error=self._last_error,
            last_ok_at=self._last_ok_at,
            reconnects=self._reconnects,
            failures=breaker.fail_counter,
            retry_in_s=breaker.retry_after_s() if breaker.state == 2 else None,
        )

    @property
    def connected(self) -> bool:
        """Whether a session is live."""
        return self._client is not None

    # -- connecting ------------------------------------------------------------------

    def _set_client(self, client: Client[Any] | None) -> None:
        was = self._client is not None
        self._client = client
        if was != (client is not None):
            notify(self._observer, "on_connection_state", self.name, client is not None)
            self._changed.set()

    async def _connect(self) -> Client[Any]:
        """The live client, or join (or start) the one connect attempt under way.

        Concurrent callers share one attempt, which the breaker counts once.
        """
        if self._client is not None:
            return self._client
        if self._closed:
            raise UpstreamUnavailableError(f"upstream {self.name!r} is stopped", upstream=self.name)
        attempt = self._attempt
        if attempt is None or attempt.done():
            attempt = self._attempt = self._spawn(self._attempt_connect(), f"connect:{self.name}")
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if attempt.cancelled() and task is not None and not task.cancelling():
                raise UpstreamUnavailableError(
                    f"upstream {self.name!r} is stopped", upstream=self.name
                ) from None
            raise

    async def _attempt_connect(self) -> Client[Any]:
        # Runs in its own task with a fresh context: the session's background tasks copy
        # the context they start in, and must not carry one caller's CallScope along.
        client = build_client(
            self.config, self._stderr, auth=self._auth, elicitation=self._elicitation
        )
        scope = CallScope()  # records the connect's HTTP statuses (a 401/403 is auth)
        current_scope().set(scope)
        try:
            async with asyncio.timeout(self.config.effective_connect_timeout_s):
                await client.__aenter__()  # type: ignore[no-untyped-call]  # fastmcp: untyped
                tools = await client.list_tools()
        except BaseException as exc:
            await self._close_client(client)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise self._connect_failed(exc, scope) from None
        self._tried = True
        self._refusals = 0
        if self._closed:
            await self._close_client(client)
            raise UpstreamUnavailableError(f"upstream {self.name!r} is stopped", upstream=self.name)
        if self._last_ok_at is not None:
            self._reconnects += 1
        self.catalog.apply(tools)
        self._last_error = None
        self._last_ok_at = time.time()
        self._set_client(client)
        log.info(
            "upstream %s connected (%d approved tools)",
            self.name,
            len(self.catalog.verdict.approved),
            extra={"upstream": self.name},
        )
        if self.breaker.state == 1:
            self.breaker.record_success()  # the half-open probe: the upstream is back
        return client

    def _connect_failed(self, exc: BaseException, scope: CallScope) -> UpstreamError:
        self._tried = True
        reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
        refused = auth_refusal(exc, scope)
        self._last_error = f"connect failed: {refused or reason}"
        error: UpstreamError
        if refused:
            self._refusals += 1
            error = UpstreamAuthError(
                f"upstream {self.name!r}: {self._last_error}", upstream=self.name
            )
            counted = "not counted: a refusal of our credentials"
        else:
            error = UpstreamUnavailableError(
                f"upstream {self.name!r}: {self._last_error}", upstream=self.name
            )
            self.breaker.record_failure(error)
            counted = (
                f"circuit {self.breaker.state_name}, "
                f"{self.breaker.fail_counter}/{self.config.breaker.fail_max} failures"
            )
        log.warning(
            "upstream %s: connect failed (%s): %s",
            self.name,
            counted,
            refused or reason,
            extra={"upstream": self.name},
        )
        return error

    async def _close_client(self, client: Client[Any]) -> None:
        with contextlib.suppress(Exception):
            await client.close()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await client.transport.close()

    def _mark_broken(self, client: Client[Any], reason: str) -> None:
        if self._client is not client or self._closed:
            return  # someone already replaced it, or close() owns it now
        self._last_error = reason
        self._set_client(None)
        log.warning(
            "upstream %s: connection lost: %s", self.name, reason, extra={"upstream": self.name}
        )
        self._spawn(self._close_client(client), f"close:{self.name}")

    def _backoff(self, attempt: int) -> float:
        if is_testing():
            return 0.0
        conf = self.config.reconnect
        ceiling = min(conf.max_backoff_s, conf.initial_backoff_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)

    # -- the supervisor --------------------------------------------------------------

    async def _wait(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: until woken); True if a change woke us first."""
        try:
            async with asyncio.timeout(seconds):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    async def _supervise(self) -> None:
        attempt = 0  # reconnects since the session was lost (the backoff step)
        while not self._closed:
            self._changed.clear()
            breaker = self.breaker
            if breaker.state == 2:  # open: probe once it has cooled down
                wait = breaker.retry_after_s()
                if wait > 0:
                    await self._wait(wait)
                    continue
                await self._probe()
            elif breaker.state == 1:  # half-open: a caller's probe runs, or ours may
                if breaker.probe_in_flight:
                    await self._wait(None)
                    continue
                await self._probe()
            elif self._client is None:  # closed, no session: reconnect
                if self._gave_up:
                    interval = self.config.health_interval_s
                    if await self._wait(interval if interval > 0 else None) or not interval:
                        continue
                elif await self._wait(self._backoff(attempt)):
                    continue
                attempt += 1
                with contextlib.suppress(UpstreamError):
                    await self._connect()
            else:  # closed, session live: health checks
                attempt = 0
                interval = self.config.health_interval_s
                if await self._wait(interval if interval > 0 else None) or not interval:
                    continue
                await self._probe()

    async def _probe(self) -> None:
        with contextlib.suppress(UpstreamError):
            await self.refresh()

    async def refresh(self) -> None:
        """Health check and probe, through the breaker: connect if there is no session,
        else re-list the tools (feeds pins and status). Failures count like a call's."""
        probe = self.breaker.admit()
        try:
            client = self._client
            if client is None:
                await self._connect()  # counted there; closes a half-open circuit
                return
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    tools = await client.list_tools()
            except Exception as exc:
                failure = self._classify(exc, CallScope(), self.config.timeout_s)
                self._last_error = str(failure.error)
                self._settle(client, failure, answered_resets=probe)
                raise failure.error from None
            self.catalog.apply(tools)
            self._last_ok_at = time.time()
            if probe:
                self.breaker.record_success()
        finally:
            self.breaker.release(probe)

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
        client = await self._connect()  # a failed connect counted once, in the attempt
        self.catalog.check_approved(tool)
        try:
            result = await self._send(client, tool, arguments, timeout_s, headers)
        except Failure as failure:
            if not failure.lost:
                self._settle(client, failure)
                raise failure.error from None
            # A legacy-era HTTP session vanished (404): re-initialize once, and retry
            # only a read-only call, since a write may already have happened upstream.
            client = await self._reinitialize(client)
            self.catalog.check_approved(tool)
            if not self.catalog.read_only(tool):
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
            return await client.call_tool_mcp(
                tool, arguments, timeout=timeout_s, meta=correlation_meta(headers) or None
            )
        except Exception as exc:
            raise self._classify(exc, scope, timeout_s) from exc
        finally:
            var.reset(token)

    def _settle(
        self, client: Client[Any], failure: Failure, *, answered_resets: bool = True
    ) -> None:
        if failure.counts:
            self.breaker.record_failure(failure.error)
        elif answered_resets:
            self.breaker.record_success()  # it answered: the upstream itself is fine
        if failure.broken:
            self._mark_broken(client, str(failure.error))

    async def _reinitialize(self, client: Client[Any]) -> Client[Any]:
        log.warning(
            "upstream %s: session lost, re-initializing", self.name, extra={"upstream": self.name}
        )
        if self._client is client:
            self._set_client(None)
            await self._close_client(client)
        return await self._connect()

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
        task.add_done_callback(_finished)
        task.add_done_callback(self._background.discard)
        return task


def _finished(task: asyncio.Task[Any]) -> None:
    """Retrieve a background task's exception (a connect nobody awaits any more)."""
    if not task.cancelled():
        task.exception()
