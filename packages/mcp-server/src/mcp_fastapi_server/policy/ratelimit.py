"""Rate limits per (subject, endpoint), shared by every replica through Redis.

Algorithm: GCRA (the generic cell rate algorithm, a leaky bucket that stores one number).
A limit of ``L`` requests per ``P`` seconds has an emission interval ``T = P / L``. Each
bucket keeps its *theoretical arrival time* (TAT): the moment the bucket would be empty
again. A request at time ``now`` computes ``tat = max(TAT, now)`` and ``new = tat + T``;
it is admitted when ``new - now <= P`` (at most ``L`` requests "in flight" within one
period, so a burst of ``L`` is allowed from an idle bucket), and then ``TAT := new``.
A refused request changes nothing and may retry after ``new - now - P``. One key, one
number, exact at any concurrency because the step runs atomically: inside Redis as one Lua
script (see :mod:`mcp_fastapi_server.policy._ratelimit_lua`) or, without Redis, in this process.

Keys: ``{MCP_REDIS_KEY_PREFIX}rl:{<subject>|<endpoint>}`` where the endpoint is
``tool:<name>`` for ``tools/call`` and ``method:<name>`` for everything else; the braces
are a Redis Cluster hash tag. Every rate is resolved once, at start-up, into a dict of
:class:`Rule` objects holding the precomputed key suffix, script arguments and header
values, so the hot path only builds one key string and reads one dict.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mcp_fastapi_server.services import CheckResult
from mcp_fastapi_server.settings import RateLimit, SettingsError, parse_rate_limit

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from mcp_fastapi_server.registry import ToolSpec
    from mcp_fastapi_server.settings import Settings

__all__ = [
    "Backend",
    "Decision",
    "LimiterUnavailableError",
    "MemoryBackend",
    "RateLimitPolicy",
    "Rule",
    "build_limiter",
    "make_rule",
]

logger = logging.getLogger(__name__)

FailureMode = Literal["open", "closed"]
ErrorHook = Callable[[BaseException], None]

# The answers a backend may raise when its store is slow or gone; anything else is a bug.
# A backend may name more in its ``errors`` attribute (the Redis one adds ``RedisError``),
# so redis-py (~0.15 s to import) loads only when Redis is configured.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)

_MAX_METHODS = 64  # distinct JSON-RPC method names we keep separate buckets for
_MAX_METHOD_LEN = 128
_FAILURE_LOG_EVERY_S = 10.0


class LimiterUnavailableError(RuntimeError):
    """The shared store did not answer and ``MCP_RATE_LIMIT_FAILURE_MODE=closed``."""


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
        """The human line for a refused call (same text over HTTP and stdio)."""
        return (
            f"Rate limit exceeded for {self.rule.label}: {self.rule.describe}; "
            f"retry in {self.retry_after_s:.1f} s"
        )

    def error_data(self) -> dict[str, Any]:
        """The JSON-RPC ``error.data`` for a refused call (the caller adds ``request_id``)."""
        return {
            "retry_after": round(self.retry_after_s, 3),
            "limit": self.limit,
            "period_s": self.rule.period_s,
            "policy": self.rule.name,
        }


class Backend(Protocol):
    """One GCRA step, atomically. ``acquire`` returns
    ``(allowed, remaining, retry_after_us, reset_after_us)`` and raises one of
    ``BACKEND_ERRORS`` (or of its own ``errors`` attribute, when it has one) when its
    store fails."""

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


class _FailureLog:
    """Log a failing store at most once per interval, with how many failures were folded in,
    so a dead Redis under load does not flood the logs."""

    __slots__ = ("_next", "_suppressed")

    def __init__(self) -> None:
        self._next = 0.0
        self._suppressed = 0

    def report(self, exc: BaseException, mode: FailureMode, backend: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        self._next = now + _FAILURE_LOG_EVERY_S
        folded, self._suppressed = self._suppressed, 0
        logger.warning(
            "rate-limit store %s failed (%s: %s); failing %s%s",
            backend,
            type(exc).__name__,
            exc,
            mode,
            f" ({folded} more failures in the last {_FAILURE_LOG_EVERY_S:g}s)" if folded else "",
        )


class RateLimitPolicy:
    """Resolves (subject, method, tool) to a bucket and asks the backend; applies the failure
    mode. Shared by the ASGI middleware and the stdio FastMCP middleware."""

    def __init__(
        self,
        backend: Backend,
        *,
        default: RateLimit,
        tools: dict[str, RateLimit],
        key_prefix: str = "mcp:",
        failure_mode: FailureMode = "open",
        on_error: ErrorHook | None = None,
    ) -> None:
        self.backend = backend
        self._errors: tuple[type[BaseException], ...] = getattr(backend, "errors", BACKEND_ERRORS)
        self.failure_mode: FailureMode = failure_mode
        self._on_error = on_error
        self._default = default
        self._key_prefix = f"{key_prefix}rl:{{"
        # The header policy is "default" for buckets at the default rate, else the tool name.
        self._tools = {
            name: make_rule(
                f"tool:{name}", f"tool {name!r}", "default" if rate == default else name, rate
            )
            for name, rate in tools.items()
        }
        # Tools nobody registered share one bucket per subject, so junk names cannot grow
        # the key space (the call fails anyway with "Unknown tool").
        self._unknown_tool = make_rule("tool:*", "unknown tools", "default", default)
        self._methods: dict[str, Rule] = {}
        self._other_method = make_rule("method:*", "other methods", "default", default)
        self._failures = _FailureLog()

    def rule_for(self, method: str, tool: str | None) -> Rule:
        """The bucket rule for one request (no parsing; dict lookups only)."""
        if method == "tools/call":
            if tool is None:
                return self._unknown_tool
            return self._tools.get(tool, self._unknown_tool)
        rule = self._methods.get(method)
        if rule is None:
            rule = self._new_method_rule(method)
        return rule

    def _new_method_rule(self, method: str) -> Rule:
        # Built once per distinct method name, and only up to a bound: method names come
        # from the client, so the 65th odd name (or a huge one) shares the catch-all bucket.
        if len(self._methods) >= _MAX_METHODS or len(method) > _MAX_METHOD_LEN:
            return self._other_method
        rule = make_rule(f"method:{method}", f"method {method!r}", "default", self._default)
        self._methods[method] = rule
        return rule

    @property
    def tool_rules(self) -> dict[str, Rule]:
        """The resolved per-tool rules (for ``metadata``'s ``limits`` and docs)."""
        return dict(self._tools)

    async def hit(self, subject: str, method: str, tool: str | None = None) -> Decision:
        """Count one call; raise :class:`LimiterUnavailableError` when the store failed and
        the failure mode is ``closed``."""
        rule = self.rule_for(method, tool)
        try:
            allowed, remaining, retry_us, reset_us = await self.backend.acquire(
                self._key_prefix + subject + rule.key_suffix, rule
            )
        except self._errors as exc:
            return self._store_failed(exc, rule)
        return Decision(allowed, rule.limit, remaining, reset_us / 1e6, retry_us / 1e6, rule)

    def _store_failed(self, exc: BaseException, rule: Rule) -> Decision:
        self._failures.report(exc, self.failure_mode, self.backend.name)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:  # a metrics hook must never turn into a 500
                logger.exception("rate-limit on_error hook failed")
        if self.failure_mode == "closed":
            raise LimiterUnavailableError("Rate limiter unavailable; try again shortly") from exc
        return Decision(True, rule.limit, rule.limit, 0.0, 0.0, rule, degraded=True)

    async def check(self) -> CheckResult:
        """Health of the store, for ``/readyz``: always asks the store."""
        return await self.backend.check()

    async def recent_check(self) -> CheckResult:
        """Health of the store for the ``health`` tool: a backend that remembers its last
        answer (Redis) reuses one under a second old instead of asking again."""
        recent = getattr(self.backend, "recent_check", None)
        if recent is not None:
            result: CheckResult = await recent()
            return result
        return await self.backend.check()

    async def aclose(self) -> None:
        await self.backend.aclose()


def resolve_rates(
    settings: Settings, specs: Iterable[ToolSpec], extra_tools: Iterable[str] = ()
) -> dict[str, RateLimit]:
    """Every tool's rate, once: ``MCP_RATE_LIMIT_TOOLS`` > ``ToolSpec.rate_limit`` > default.

    ``extra_tools`` names tools that are served but not in the registry (re-exposed upstream
    tools); they get the default rate unless ``MCP_RATE_LIMIT_TOOLS`` names them.
    """
    default = parse_rate_limit(settings.rate_limit_default)
    rates: dict[str, RateLimit] = {}
    for spec in specs:
        rates[spec.name] = parse_rate_limit(spec.rate_limit) if spec.rate_limit else default
    for name in extra_tools:
        rates.setdefault(name, default)
    unknown = sorted(set(settings.rate_limit_tools) - set(rates))
    if unknown:
        raise SettingsError(
            f"MCP_RATE_LIMIT_TOOLS: {', '.join(unknown)} not registered "
            f"(registered: {', '.join(rates) or 'none'})"
        )
    for name, text in settings.rate_limit_tools.items():
        rates[name] = parse_rate_limit(text)
    return rates


def build_limiter(
    settings: Settings,
    specs: Iterable[ToolSpec],
    *,
    redis: Redis | None = None,
    extra_tools: Iterable[str] = (),
    on_error: ErrorHook | None = None,
) -> RateLimitPolicy | None:
    """The limiter the settings ask for, or ``None`` when ``MCP_RATE_LIMIT_ENABLED=false``.

    ``redis`` reuses the host app's client (it is not closed by :meth:`aclose`); otherwise
    one pooled client is made from ``MCP_REDIS_URL``; with neither, limits live in this
    process. ``on_error`` is called for each store failure (wire a metric to it).
    Raises :class:`~mcp_fastapi_server.settings.SettingsError` for a bad ``MCP_RATE_LIMIT_TOOLS``.
    """
    if not settings.rate_limit_enabled:
        return None
    tools = resolve_rates(settings, specs, extra_tools)
    backend: Backend
    if redis is not None or settings.redis_url is not None:
        from mcp_fastapi_server.policy._ratelimit_lua import RedisBackend

        timeout_s = settings.redis_timeout_ms / 1000
        if redis is not None:
            backend = RedisBackend(redis, timeout_s=timeout_s, owns_client=False)
        else:
            assert settings.redis_url is not None
            backend = RedisBackend.from_url(settings.redis_url.get_secret_value(), timeout_s)
        logger.info(
            "rate limits: Redis at %s, shared by all replicas (failure mode %s)",
            backend.location,
            settings.rate_limit_failure_mode,
        )
    else:
        backend = MemoryBackend()
        logger.info(
            "rate limits: in-process (MCP_REDIS_URL unset), so limits are per replica; "
            "set MCP_REDIS_URL when running more than one"
        )
    return RateLimitPolicy(
        backend,
        default=parse_rate_limit(settings.rate_limit_default),
        tools=tools,
        key_prefix=settings.redis_key_prefix,
        failure_mode=settings.rate_limit_failure_mode,
        on_error=on_error,
    )
