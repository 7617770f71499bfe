"""What ``UpstreamManager.status()`` reports per upstream (readiness, health, operators).

``state`` and ``circuit`` are read from the same place: the connection (is a session
live?) and its circuit breaker (is it letting calls through?). ``down`` always comes with
an open circuit, except after an upstream refused our credentials too often (then the
circuit stays closed: a refusal is not a sign of ill health).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mcp_upstream_client.breaker import seconds_text

__all__ = ["State", "UpstreamStatus"]

#: ``connecting`` before the first connect ends, ``up`` (a live session), ``reconnecting``
#: (circuit closed or half-open, reconnects under way), ``down`` (circuit open and waiting
#: for its probe, or reconnects stopped after repeated credential refusals), ``stopped``.
State = Literal["connecting", "up", "reconnecting", "down", "stopped"]


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """A snapshot for readiness and health (``status()``)."""

    name: str
    state: State
    required: bool
    circuit: str  # closed | half-open | open
    tools: tuple[str, ...]  # allowed, approved and offered
    withdrawn: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
    last_ok_at: float | None = None  # time.time() of the last good exchange
    reconnects: int = 0
    failures: int = 0  # consecutive failures counted by the breaker
    retry_in_s: float | None = None  # open circuit: seconds until its next probe

    @property
    def ok(self) -> bool:
        """Up and not refusing calls."""
        return self.state == "up" and self.circuit != "open"

    def describe(self) -> str:
        """One line for health checks and readiness: state, circuit, tools, last error."""
        circuit = f"circuit {self.circuit}"
        if self.circuit == "open" and self.retry_in_s is not None:
            circuit += f" (probe in {seconds_text(self.retry_in_s)} s)"
        parts = [f"{self.state}, {circuit}"]
        if self.failures:
            parts.append(f"{self.failures} consecutive failure(s)")
        parts.append(f"{len(self.tools)} tools")
        if self.last_error and not self.ok:
            parts.append(f"last error: {self.last_error}")
        return "; ".join(parts)
