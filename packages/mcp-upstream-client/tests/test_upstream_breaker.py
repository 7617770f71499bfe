"""The asyncio wrapping of pybreaker, driven by a manual clock (no sleeps, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_upstream_client import BreakerConfig, CircuitOpenError
from mcp_upstream_client.breaker import UpstreamBreaker


def make(clock: Any, observer: Any, fail_max: int = 2) -> UpstreamBreaker:
    return UpstreamBreaker(
        "up", BreakerConfig(fail_max=fail_max, reset_timeout_s=30), observer, clock=clock
    )


def fail_once(breaker: UpstreamBreaker) -> None:
    probe = breaker.admit()
    breaker.record_failure(ConnectionError("boom"))
    breaker.release(probe)


def test_opens_after_fail_max_and_fails_fast(clock: Any, observer: Any) -> None:
    breaker = make(clock, observer)
    fail_once(breaker)
    assert breaker.state == 0
    fail_once(breaker)
    assert breaker.state == 2
    with pytest.raises(CircuitOpenError, match=r"retry in 30\.0s"):
        breaker.admit()
    assert observer.circuit == [("up", 2)]


def test_success_resets_the_count(clock: Any, observer: Any) -> None:
    breaker = make(clock, observer)
    fail_once(breaker)
    breaker.release(breaker.admit())
    breaker.record_success()
    fail_once(breaker)
    assert breaker.state == 0


def test_half_open_lets_one_probe_and_closes_on_success(clock: Any, observer: Any) -> None:
    breaker = make(clock, observer)
    fail_once(breaker)
    fail_once(breaker)
    clock.advance(29.9)
    with pytest.raises(CircuitOpenError):
        breaker.admit()
    clock.advance(0.2)
    assert breaker.admit() is True  # the probe
    assert breaker.state == 1
    with pytest.raises(CircuitOpenError, match="probe call is in flight"):
        breaker.admit()
    breaker.record_success()
    breaker.release(True)
    assert breaker.state == 0
    assert observer.circuit == [("up", 2), ("up", 1), ("up", 0)]


def test_failed_probe_reopens_for_a_full_timeout(clock: Any, observer: Any) -> None:
    breaker = make(clock, observer)
    fail_once(breaker)
    fail_once(breaker)
    clock.advance(31)
    probe = breaker.admit()
    breaker.record_failure(TimeoutError())
    breaker.release(probe)
    assert breaker.state == 2
    assert breaker.retry_after_s() == pytest.approx(30)
    assert observer.circuit == [("up", 2), ("up", 1), ("up", 2)]


def test_late_success_does_not_close_an_open_circuit(clock: Any, observer: Any) -> None:
    breaker = make(clock, observer)
    fail_once(breaker)
    fail_once(breaker)
    breaker.record_success()  # a call admitted before the trip answers late
    assert breaker.state == 2
