"""GCRA, the generic cell rate algorithm: the rules, the decision, and the in-process backend.

A limit of ``L`` requests per ``P`` seconds has an emission interval ``T = P / L``. Each
bucket keeps its *theoretical arrival time* (TAT): the moment the bucket would be empty
again. A request at time ``now`` computes ``tat = max(TAT, now)`` and ``new = tat + T``;
it is admitted when ``new - now <= P`` (at most ``L`` requests "in flight" within one
period, so a burst of ``L`` is allowed from an idle bucket), and then ``TAT := new``.
A refused request changes nothing and may retry after ``new - now - P``. One key, one
number, exact at any concurrency because the step runs atomically: inside Redis as one Lua
script (:mod:`._redis`) or, without Redis, in this process (:class:`MemoryBackend`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcp_fastapi_server._settings import RateLimit
from mcp_fastapi_server.core import CheckResult

__all__ = ["Backend", "Decision", "MemoryBackend", "Rule", "make_rule"]


@dataclass(frozen=True, slots=True, repr=False)
class Rule:
    """One resolved limit for one endpoint, with everything the hot path needs precomputed."""

    endpoint: str  # "tool:search" or "method:tools/list"
    label: str  # "tool 'search'" for messages
    name: str  # the policy identifier in the RateLimit headers
    limit: int
    period_s: float
    interval_us: int  # GCRA emission interval T, whole microseconds (floor, see make_rule)
    period_us: int
    key_suffix: str  # "|tool:search}" — the key is prefix + subject + suffix
    policy_header: bytes  # b'"search";q=10;w=1'
    describe: str  # "10 per 1s"
    script_args: tuple[int, int] = field(repr=False)

    def __repr__(self) -> str:
        return f"<Rule {self.endpoint} {self.describe}>"


def make_rule(endpoint: str, label: str, name: str, rate: RateLimit) -> Rule:
    """Precompute one :class:`Rule`.

    ``T`` is rounded *down* to whole microseconds so that ``L * T <= P`` always holds and
    a full burst of ``L`` is admitted (rounding up would refuse the L-th request).
    """
    period_us = round(rate.period * 1_000_000)
    interval_us = max(1, period_us // rate.limit)
    window = max(1, math.ceil(rate.period))
    name = name.replace("\\", "").replace('"', "")  # keep it a valid sf-string
    return Rule(
        endpoint=endpoint,
        label=label,
        name=name,
        limit=rate.limit,
        period_s=rate.period,
        interval_us=interval_us,
        period_us=period_us,
        key_suffix=f"|{endpoint}}}",
        policy_header=f'"{name}";q={rate.limit};w={window}'.encode(),
        describe=f"{rate.limit} per {rate.period:g}s",
        script_args=(interval_us, period_us),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer for one call."""

    allowed: bool
    limit: int
    remaining: int
    reset_after_s: float  # until the bucket is full again
    retry_after_s: float  # 0 when allowed
    rule: Rule
    degraded: bool = False  # admitted only because the store failed (fail-open)

    @property
    def policy(self) -> str:
        """The ``RateLimit-Policy`` field value, e.g. ``"default";q=60;w=60``."""
        return self.rule.policy_header.decode()

    @property
    def retry_after_header(self) -> int:
        """``Retry-After`` in whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.retry_after_s))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers),
        plus ``Retry-After`` when refused."""
        wait = self.retry_after_header if not self.allowed else math.ceil(self.reset_after_s)
        current = f'"{self.rule.name}";r={self.remaining};t={wait}'.encode()
        out = [(b"ratelimit-policy", self.rule.policy_header), (b"ratelimit", current)]
        if not self.allowed:
            out.append((b"retry-after", str(wait).encode()))
        return out

    def message(self) -> str:
        """The human line for a refused call (same text over HTTP and stdio).

        The wait is the ``Retry-After`` value (whole seconds, at least 1), so it never
        reads "retry in 0" for a wait under a second.
        """
        return (
            f"Rate limit exceeded for {self.rule.label}: {self.rule.describe}; "
            f"retry in {self.retry_after_header} s"
        )

    def error_data(self) -> dict[str, Any]:
        """The JSON-RPC ``error.data`` for a refused call (the caller adds ``request_id``)."""
        return {
            "retry_after": max(0.001, round(self.retry_after_s, 3)),
            "limit": self.limit,
            "period_s": self.rule.period_s,
            "policy": self.rule.name,
        }


class Backend(Protocol):
    """One GCRA step, atomically. ``acquire`` returns
    ``(allowed, remaining, retry_after_us, reset_after_us)`` and raises
    :class:`~mcp_fastapi_server.limits.StoreError` when its store fails."""

    name: str

    async def acquire(self, key: str, rule: Rule) -> tuple[bool, int, int, int]: ...

    async def check(self) -> CheckResult: ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    """GCRA in this process: exact for one replica, and only for one replica.

    Atomic because the step never awaits (asyncio runs it to completion); idle buckets are
    swept once a minute so many one-off subjects cannot grow the dict without bound.
    """

    name = "memory"

    def __init__(self, *, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._next_sweep = 0

    async def acquire(self, key: str, rule: Rule) -> tuple[bool, int, int, int]:
        now = self._clock() // 1000
        if now >= self._next_sweep:
            self._sweep(now)
        tat = self._tats.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + rule.interval_us
        ahead = new_tat - now
        if ahead > rule.period_us:
            return False, 0, ahead - rule.period_us, tat - now
        self._tats[key] = new_tat
        return True, (rule.period_us - ahead) // rule.interval_us, 0, ahead

    def _sweep(self, now: int) -> None:
        self._next_sweep = now + 60_000_000
        stale = [key for key, tat in self._tats.items() if tat <= now]
        for key in stale:
            del self._tats[key]

    def __len__(self) -> int:
        return len(self._tats)

    async def check(self) -> CheckResult:
        return CheckResult("ok", "in-process limiter (limits are per replica)")

    async def aclose(self) -> None:
        self._tats.clear()
