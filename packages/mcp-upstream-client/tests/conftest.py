"""Shared helpers for the upstream client tests: test mode, a manual clock, an observer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from mcp_upstream_client import set_testing


@pytest.fixture(autouse=True)
def _testing_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


class ManualClock:
    """A monotonic clock that moves only when told to (breaker timing without sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingObserver:
    """Collects every observer callback."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    circuit: list[tuple[str, int]] = field(default_factory=list)
    connections: list[tuple[str, bool]] = field(default_factory=list)
    pin_mismatches: list[tuple[str, str]] = field(default_factory=list)

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        assert duration_s >= 0
        self.requests.append((upstream, tool, outcome))

    def on_circuit_state(self, upstream: str, state: int) -> None:
        self.circuit.append((upstream, state))

    def on_connection_state(self, upstream: str, connected: bool) -> None:
        self.connections.append((upstream, connected))

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        self.pin_mismatches.append((upstream, tool))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()
