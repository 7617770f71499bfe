"""The Redis backend: one GCRA step as one Lua script, one round trip per call.

The script reads the server's clock (``TIME``), so replicas with skewed clocks still agree,
and the read-compute-write runs atomically on the server, so concurrent callers on any
number of replicas are counted exactly. ``TIME`` before a write is allowed because Redis
≥ 5 replicates scripts by effects (the ``SET`` is replicated, not the script).

Round trips: one ``EVALSHA`` per call; only after a ``SCRIPT FLUSH`` (or a fail-over to a
server that never saw the script) does it get ``NOSCRIPT``, ``SCRIPT LOAD`` the source and
retry, once. With our own URL the call goes through
:class:`~mcp_fastapi_server.limits._script_pipe.ScriptPipe` (one pipelined connection, a fraction
of redis-py's CPU per call); with a team's client, through redis-py's
:class:`~redis.commands.core.AsyncScript`. No ``PING``/``GET``/``EXPIRE`` around it:
``SET … PX`` stores the TAT and its expiry together, so idle keys vanish as soon as their
bucket would be full again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from mcp_fastapi_server.core import CheckResult
from mcp_fastapi_server.limits._gcra import Rule
from mcp_fastapi_server.limits._script_pipe import ScriptPipe

__all__ = ["GCRA_LUA", "POOL_SIZE", "RedisBackend"]

POOL_SIZE = 64  # concurrent Redis calls per process; more adds sockets, not throughput
# The health tool reuses the verdict of a limiter round trip this recent instead of a PING.
FRESH_S = 1.0

# KEYS[1] bucket key; ARGV[1] emission interval T (µs); ARGV[2] period P (µs).
# Returns {allowed, remaining, retry_after_us, reset_after_us}. Times are integer µs held
# in Lua doubles (exact below 2^53, i.e. for the next 250 years of Unix time); the TAT is
# written with %.0f because Lua's default number format keeps only 14 digits.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > period then
  return {0, 0, ahead - period, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000))
local remaining = math.floor((period - ahead) / interval)
return {1, remaining, 0, ahead}
"""


class RedisBackend:
    """GCRA in Redis through one pooled asyncio client."""

    name = "redis"
    errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

    def __init__(
        self,
        client: Redis,
        *,
        timeout_s: float,
        owns_client: bool,
        pipe: ScriptPipe | None = None,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._pipe = pipe
        self._last_ok = -FRESH_S  # time.monotonic() of the last answered call
        self._script = client.register_script(GCRA_LUA)
        # Our own pool bounds pool wait, connect and read by ``timeout_s`` (see from_url),
        # so it needs no extra timer per call (asyncio.timeout costs a scheduled handle,
        # measurable next to a ~100 µs round trip). A team's client may have no timeouts
        # at all, and a request must never hang on the limiter: it gets the backstop.
        self._deadline_s = 2 * timeout_s
        self._backstop = not owns_client

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisBackend:
        """One pooled client with short socket timeouts.

        The pool *blocks* (up to ``timeout_s``) when all ``POOL_SIZE`` connections are busy:
        redis-py's default pool raises "Too many connections" instead, which under a burst
        would fail open and admit calls over the limit. It retries once, with no back-off
        and only on a broken connection (a pooled socket that died when Redis restarted),
        never on a timeout: a slow Redis gets one try. The pool reconnects by itself, so
        recovery needs nothing from us.
        """
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
        )
        pipe = ScriptPipe(url, GCRA_LUA, timeout_s=timeout_s) if ScriptPipe.supports(url) else None
        return cls(Redis.from_pool(pool), timeout_s=timeout_s, owns_client=True, pipe=pipe)

    @property
    def client(self) -> Redis:
        return self._client

    @property
    def location(self) -> str:
        """``host:port/db`` without credentials, for logs."""
        kw: dict[str, Any] = self._client.connection_pool.connection_kwargs
        where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
        return f"{where}/{kw.get('db', 0)}"

    async def acquire(self, key: str, rule: Rule) -> tuple[bool, int, int, int]:
        try:
            if self._pipe is not None:  # bounded by its own per-connection timeout
                res = await self._pipe.evalsha(key, rule.script_args)
            elif self._backstop:
                async with asyncio.timeout(self._deadline_s):
                    res = await self._script(keys=(key,), args=rule.script_args)
            else:
                res = await self._script(keys=(key,), args=rule.script_args)
        except BaseException:
            self._last_ok = -FRESH_S
            raise
        self._last_ok = time.monotonic()
        return res[0] == 1, res[1], res[2], res[3]

    async def recent_check(self) -> CheckResult:
        """:meth:`check`, or the verdict of a limiter call under :data:`FRESH_S` old.

        The ``health`` tool is itself rate-limited, so the limiter has just talked to Redis
        for the very call that asks; a ``PING`` on top would double the round trips.
        """
        age = time.monotonic() - self._last_ok
        if age < FRESH_S:
            return CheckResult("ok", f"redis {self.location}: answered {age * 1000:.0f} ms ago")
        return await self.check()

    async def check(self) -> CheckResult:
        """``PING`` with its latency; ``down`` (with the error) when it does not answer."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline_s):
                await self._client.ping()
        except Exception as exc:  # any failure is the answer here, not a crash
            return CheckResult("down", f"redis {self.location}: {type(exc).__name__}: {exc}")
        ms = (time.perf_counter() - start) * 1000
        return CheckResult("ok", f"redis {self.location}: PING {ms:.1f} ms")

    async def aclose(self) -> None:
        if self._pipe is not None:
            await self._pipe.aclose()
        if self._owns_client:
            await self._client.aclose()
