"""What ``UpstreamManager.status()`` reports per upstream (readiness, health, operators)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["State", "UpstreamStatus"]

#: ``connecting`` at start, ``up``, ``reconnecting`` (backoff running), ``down`` (gave up
#: or never came up), ``stopped`` (after shutdown).
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

    @property
    def ok(self) -> bool:
        """Up and not refusing calls."""
        return self.state == "up" and self.circuit != "open"
