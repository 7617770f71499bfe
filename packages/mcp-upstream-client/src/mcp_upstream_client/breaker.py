"""One circuit breaker per upstream: pybreaker's state machine, driven from asyncio.

pybreaker is synchronous: ``CircuitBreaker.call`` runs a plain function, and its
``call_async`` needs tornado. Wrapping an awaited call in ``call`` cannot work (the
coroutine would be created, counted as a success and awaited later). So we split a call
in three steps around the ``await``, all on the event loop thread:

1. :meth:`UpstreamBreaker.admit` checks the state *before* any I/O. Open and still
   cooling down → :class:`CircuitOpenError` (no network). Open and cooled down → we move
   it to half-open with pybreaker's public ``half_open()`` and let exactly one probe through.
2. The caller awaits the real call.
3. :meth:`record_success` / :meth:`record_failure` feed the outcome back through
   ``CircuitBreaker.call`` with a function that returns or raises at once, so pybreaker
   itself counts failures, opens, closes and notifies its listeners.

A probe that ends with neither (the caller went away, or the upstream refused our
credentials, which says nothing about its health) re-opens the circuit for another full
timeout: without evidence the circuit does not close.

Time comes from an injectable monotonic clock through pybreaker's storage seam
(``opened_at``), so tests move a breaker from open to half-open without sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pybreaker

from mcp_upstream_client.config import BreakerConfig
from mcp_upstream_client.errors import CircuitOpenError
from mcp_upstream_client.observer import UpstreamObserver, notify

__all__ = ["Clock", "UpstreamBreaker", "seconds_text"]

log = logging.getLogger("mcp_upstream_client.breaker")

Clock = Callable[[], float]
_STATE_NUMBER = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class _ClockStorage(pybreaker.CircuitMemoryStorage):
    """Memory storage whose ``opened_at`` is measured with our clock, not wall time.

    pybreaker compares ``datetime.now(UTC)`` with ``opened_at``; we report ``opened_at``
    as "now minus the time elapsed on our clock", so both views agree.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock
        self.opened_mono: float | None = None

    @property
    def opened_at(self) -> datetime | None:
        if self.opened_mono is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=self._clock() - self.opened_mono)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self.opened_mono = self._clock()


class _Recorded(Exception):
    """Stands in for the real failure inside pybreaker (so its traceback is untouched)."""


def seconds_text(seconds: float) -> str:
    """``seconds`` rounded *up* to a tenth (a wait that is still running never reads 0)."""
    return f"{max(0.1, math.ceil(seconds * 10) / 10):.1f}"


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(
        self, upstream: str, observer: UpstreamObserver, on_change: Callable[[], None]
    ) -> None:
        self._upstream = upstream
        self._observer = observer
        self._on_change = on_change

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", "closed")
        new = new_state.name
        level = logging.WARNING if new == pybreaker.STATE_OPEN else logging.INFO
        log.log(
            level,
            "upstream %s circuit %s -> %s",
            self._upstream,
            old,
            new,
            extra={"upstream": self._upstream, "circuit_state": new},
        )
        notify(self._observer, "on_circuit_state", self._upstream, _STATE_NUMBER[new])
        self._on_change()


class UpstreamBreaker:
    """Admit / record around awaited calls; see the module docstring for why."""

    def __init__(
        self,
        upstream: str,
        config: BreakerConfig,
        observer: UpstreamObserver,
        *,
        clock: Clock = time.monotonic,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``on_change`` runs after every state change and at the end of every probe
        (the connection's supervisor waits on it)."""
        self.upstream = upstream
        self._clock = clock
        self._reset_timeout = config.reset_timeout_s
        self._storage = _ClockStorage(clock)
        self._on_change = on_change or _nothing
        self._cb = pybreaker.CircuitBreaker(
            fail_max=config.fail_max,
            reset_timeout=config.reset_timeout_s,
            state_storage=self._storage,
            listeners=[_Listener(upstream, observer, self._on_change)],
            name=upstream,
            throw_new_error_on_trip=False,
        )
        self._probe_in_flight = False
        self.last_failure: str | None = None

    @property
    def state(self) -> int:
        """0 closed, 1 half-open, 2 open."""
        return _STATE_NUMBER[self._cb.current_state]

    @property
    def state_name(self) -> str:
        """``closed``, ``half-open`` or ``open``."""
        return str(self._cb.current_state)

    @property
    def fail_counter(self) -> int:
        """Consecutive counted failures."""
        return int(self._cb.fail_counter)

    @property
    def probe_in_flight(self) -> bool:
        """Whether a half-open probe is under way."""
        return self._probe_in_flight

    def retry_after_s(self) -> float:
        """Seconds until an open circuit lets a probe through (0 if not open)."""
        if self._cb.current_state != pybreaker.STATE_OPEN or self._storage.opened_mono is None:
            return 0.0
        return max(0.0, self._storage.opened_mono + self._reset_timeout - self._clock())

    def admit(self) -> bool:
        """Let a call through or raise :class:`CircuitOpenError`; True if it is the probe."""
        state = self._cb.current_state
        if state == pybreaker.STATE_OPEN:
            wait = self.retry_after_s()
            if wait > 0:
                raise CircuitOpenError(
                    f"upstream {self.upstream!r}: circuit open, retry in {seconds_text(wait)}s"
                    + self._cause(),
                    upstream=self.upstream,
                )
            self._cb.half_open()
            state = pybreaker.STATE_HALF_OPEN
        if state == pybreaker.STATE_HALF_OPEN:
            if self._probe_in_flight:
                raise CircuitOpenError(
                    f"upstream {self.upstream!r}: circuit half-open, a probe call is in flight"
                    + self._cause(),
                    upstream=self.upstream,
                )
            self._probe_in_flight = True
            return True
        return False

    def _cause(self) -> str:
        return f" (last failure: {self.last_failure})" if self.last_failure else ""

    def release(self, probe: bool) -> None:
        """End of an admitted call, whatever happened (lets the next probe through).

        A probe that recorded neither success nor failure re-opens the circuit for a
        full timeout: there is no evidence that the upstream is back.
        """
        if not probe:
            return
        self._probe_in_flight = False
        if self._cb.current_state == pybreaker.STATE_HALF_OPEN:
            log.info(
                "upstream %s: the probe ended without an answer; circuit stays open",
                self.upstream,
                extra={"upstream": self.upstream},
            )
            self._cb.open()
        self._on_change()

    def record_success(self) -> None:
        """The upstream answered (a result, an isError result or a JSON-RPC error)."""
        # While open (another call tripped it meanwhile) pybreaker refuses the call with
        # CircuitBreakerError; a late success must not close the circuit, so ignore it.
        with contextlib.suppress(pybreaker.CircuitBreakerError):
            self._cb.call(_succeed)

    def record_failure(self, exc: BaseException) -> None:
        """A transport failure, a failed (re)connect, a timeout or a 5xx: counts toward
        opening (and re-opens a half-open circuit)."""
        self.last_failure = str(exc).removeprefix(f"upstream {self.upstream!r}: ")
        with contextlib.suppress(_Recorded, pybreaker.CircuitBreakerError):
            self._cb.call(_fail, f"{type(exc).__name__}: {exc}")


def _nothing() -> None:
    return None


def _succeed() -> None:
    return None


def _fail(description: str) -> None:
    raise _Recorded(description)
