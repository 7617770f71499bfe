"""Rate limits per (subject, endpoint), shared by every replica through Redis.

:class:`RateLimitPolicy` resolves a request to a bucket and asks a GCRA backend
(:mod:`._gcra`): Redis (:mod:`._redis`) or this process. Keys:
``{MCP_REDIS_KEY_PREFIX}rl:{<subject>|<endpoint>}`` where the endpoint is ``tool:<name>``
for ``tools/call`` and ``method:<name>`` for everything else; the braces are a Redis
Cluster hash tag, so one call touches one slot. Every rate is resolved once, at start-up,
into :class:`~._gcra.Rule` objects holding the precomputed key suffix, script arguments and
header values, so the hot path only builds one key string and reads one dict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from mcp_fastapi_server._settings import RateLimit, Settings, UnknownToolError, parse_rate_limit
from mcp_fastapi_server.core import CheckResult, ToolPolicy
from mcp_fastapi_server.limits._gcra import Backend, Decision, MemoryBackend, Rule, make_rule
from mcp_fastapi_server.limits._store_errors import StoreError, StoreMisconfiguredError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "LimiterUnavailableError",
    "RateLimitPolicy",
    "build_limiter",
    "resolve_rates",
]

logger = logging.getLogger("mcp_fastapi_server.ratelimit")

FailureMode = Literal["open", "closed"]
ErrorHook = Callable[[str], None]  # called with the failure's reason label

_MAX_METHODS = 64  # distinct JSON-RPC method names we keep separate buckets for
_MAX_METHOD_LEN = 128
_FAILURE_LOG_EVERY_S = 10.0


class LimiterUnavailableError(RuntimeError):
    """The call must be refused with 503: the store did not answer and the failure mode is
    ``closed``, or the store is misconfigured (any mode). The message names the cause."""

    def __init__(self, message: str, *, reason: str, misconfigured: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.misconfigured = misconfigured

    @property
    def retry_after_s(self) -> int:
        """``Retry-After``: soon for an outage, later for a deployment that must be fixed."""
        return 30 if self.misconfigured else 1


class _FailureLog:
    """Log a failing store at most once per interval and reason, with how many failures
    were folded in, so a dead Redis under load does not flood the logs."""

    __slots__ = ("_next", "_suppressed")

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, exc: StoreError, outcome: str) -> None:
        now = time.monotonic()
        if now < self._next.get(exc.reason, 0.0):
            self._suppressed[exc.reason] = self._suppressed.get(exc.reason, 0) + 1
            return
        self._next[exc.reason] = now + _FAILURE_LOG_EVERY_S
        folded = self._suppressed.pop(exc.reason, 0)
        logger.log(
            logging.WARNING if exc.transient else logging.ERROR,
            "rate-limit store failed [%s]: %s; %s%s",
            exc.reason,
            exc,
            outcome,
            f" ({folded} more in the last {_FAILURE_LOG_EVERY_S:g}s)" if folded else "",
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
        except StoreError as exc:
            return self._store_failed(exc, rule)
        return Decision(allowed, rule.limit, remaining, reset_us / 1e6, retry_us / 1e6, rule)

    def _store_failed(self, exc: StoreError, rule: Rule) -> Decision:
        refuse = not exc.transient or self.failure_mode == "closed"
        self._failures.report(
            exc, "refusing calls (503)" if refuse else "admitting calls (failure mode open)"
        )
        if self._on_error is not None:
            try:
                self._on_error(exc.reason)
            except Exception:  # a metrics hook must never turn into a 500
                logger.exception("rate-limit on_error hook failed")
        if not exc.transient:
            raise LimiterUnavailableError(
                f"Rate limiter misconfigured: {exc.cause}; the server's operators must fix it",
                reason=exc.reason,
                misconfigured=True,
            ) from exc
        if refuse:
            raise LimiterUnavailableError(
                f"Rate limiter unavailable: {exc.cause}; try again shortly",
                reason=exc.reason,
                misconfigured=False,
            ) from exc
        return Decision(True, rule.limit, rule.limit, 0.0, 0.0, rule, degraded=True)

    async def open(self) -> None:
        """At start-up: run the script once through the store's own client.

        A misconfigured store (bad credentials, no permission on the prefix, a cluster node
        behind a standalone client, an untrusted certificate, scripts disabled) raises
        :class:`StoreMisconfiguredError` and start-up stops. An unreachable one is logged
        and left to the failure mode: it may come up after this replica.
        """
        probe = getattr(self.backend, "probe", None)
        if probe is None:
            return
        try:
            found = await probe()
        except StoreMisconfiguredError:
            raise
        except StoreError as exc:
            logger.warning(
                "rate-limit store not answering at start-up [%s]: %s; calls are %s until it does",
                exc.reason,
                exc,
                "refused (503)" if self.failure_mode == "closed" else "admitted",
            )
            return
        logger.info("rate limits: %s", found)

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

    def describe(self) -> dict[str, str]:
        """The store as ``mcp-server check`` shows it (backend, topology, where; no secrets)."""
        describe = getattr(self.backend, "describe", None)
        return dict(describe()) if describe is not None else {"backend": self.backend.name}

    async def aclose(self) -> None:
        await self.backend.aclose()


def resolve_rates(
    settings: Settings, specs: Iterable[ToolPolicy], extra_tools: Iterable[str] = ()
) -> dict[str, RateLimit]:
    """Every tool's rate, once: ``MCP_RATE_LIMIT_TOOLS`` > the tool's own rate > default.

    ``specs`` are every registered tool (served or disabled), ``extra_tools`` the names of
    tools served from elsewhere (re-exposed upstream tools); those get the default rate.
    ``MCP_RATE_LIMIT_TOOLS`` naming any other tool is an :class:`UnknownToolError`.
    """
    default = parse_rate_limit(settings.rate_limit_default)
    rates: dict[str, RateLimit] = {
        spec.name: parse_rate_limit(spec.rate_limit) if spec.rate_limit else default
        for spec in specs
    }
    for name in extra_tools:
        rates.setdefault(name, default)
    unknown = sorted(set(settings.rate_limit_tools) - set(rates))
    if unknown:
        raise UnknownToolError(
            f"MCP_RATE_LIMIT_TOOLS: {', '.join(unknown)} not registered "
            f"(registered: {', '.join(rates) or 'none'})"
        )
    for name, text in settings.rate_limit_tools.items():
        rates[name] = parse_rate_limit(text)
    return rates


def build_limiter(
    settings: Settings,
    specs: Iterable[ToolPolicy],
    *,
    redis: Redis | None = None,
    extra_tools: Iterable[str] = (),
    on_error: ErrorHook | None = None,
) -> RateLimitPolicy | None:
    """The limiter the settings ask for, or ``None`` when ``MCP_RATE_LIMIT_ENABLED=false``.

    ``specs``/``extra_tools`` are every known tool (see :func:`resolve_rates`; checked
    even while limits are off, so a typo stops start-up in every mode). ``redis`` reuses the
    host app's client (``Redis``, ``RedisCluster`` or a Sentinel-managed master; it is not
    closed by :meth:`aclose`); otherwise one is made from ``MCP_REDIS_URL`` and
    ``MCP_REDIS_MODE``; with neither, limits live in this process. ``on_error`` is
    called for each store failure (wire a metric to it).
    """
    rates = resolve_rates(settings, specs, extra_tools)
    if not settings.rate_limit_enabled:
        return None
    backend: Backend
    if redis is not None or settings.redis_url is not None:
        # redis-py (~0.15 s to import) loads only when Redis is configured.
        from mcp_fastapi_server.limits._redis import RedisBackend
        from mcp_fastapi_server.limits._redis_client import redis_from_settings

        common: dict[str, Any] = {
            "key_prefix": settings.redis_key_prefix,
            "timeout_s": settings.redis_timeout_ms / 1000,
        }
        if redis is not None:
            backend = RedisBackend(redis, owns_client=False, **common)
        else:
            target = redis_from_settings(settings)
            backend = RedisBackend(
                target.client,
                owns_client=True,
                topology=target.topology,
                location=target.location,
                tls_without_client_cert=target.tls_without_client_cert,
                **common,
            )
        logger.info(
            "rate limits: Redis (%s, %s), shared by all replicas (failure mode %s)",
            backend.topology,
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
        tools=dict(rates),
        key_prefix=settings.redis_key_prefix,
        failure_mode=settings.rate_limit_failure_mode,
        on_error=on_error,
    )
