"""The Redis backend: one GCRA step as one Lua script, one round trip per call.

The script reads the server's clock (``TIME``), so replicas with skewed clocks still agree,
and the read-compute-write runs atomically on the server, so concurrent callers on any
number of replicas are counted exactly. ``TIME`` before a write is allowed because Redis
≥ 5 replicates scripts by effects (the ``SET`` is replicated, not the script). The one key
is hash-tagged per subject and endpoint, so a call touches one slot of a cluster.

Round trips: one ``EVALSHA`` per call through redis-py (any client: ours from
:mod:`._redis_client`, or the host's ``Redis``, ``RedisCluster`` or Sentinel-managed
master); only after a ``SCRIPT FLUSH`` or a failover to a server that never saw the script
does it get ``NOSCRIPT``, ``SCRIPT LOAD`` the source and retry, once. No ``PING``, ``GET``
or ``EXPIRE`` around it: ``SET … PX`` stores the TAT and its expiry together, so idle keys
vanish as soon as their bucket would be full again.

Readiness runs the same script through the same client on a probe key under the prefix
(one per cluster master), so TLS, ACL and slot problems show as not ready, not only a
dead socket. Failures are sorted by :mod:`._store_errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import NoPermissionError, NoScriptError

from mcp_fastapi_server.core import CheckResult
from mcp_fastapi_server.limits._gcra import Rule
from mcp_fastapi_server.limits._redis_client import RedisClient, describe_client, redis_from_url
from mcp_fastapi_server.limits._redis_errors import classify
from mcp_fastapi_server.limits._store_errors import StoreError, StoreMisconfiguredError

__all__ = ["GCRA_LUA", "GCRA_SHA", "RedisBackend"]

# The health tool reuses the verdict of a limiter round trip this recent instead of a probe.
FRESH_S = 1.0
# Start-up and readiness may wait longer than one call: a first TLS handshake to a remote
# managed Redis can take longer than MCP_REDIS_TIMEOUT_MS.
PROBE_TIMEOUT_S = 5.0
_PROBE_ARGS = (1, 1_000_000)  # T = 1 µs, P = 1 s: always admitted, the key lives 1 ms

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
GCRA_SHA = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()


class RedisBackend:
    """GCRA in Redis through one redis-py asyncio client (standalone, cluster, sentinel)."""

    name = "redis"

    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str,
        timeout_s: float,
        owns_client: bool,
        topology: str | None = None,
        location: str | None = None,
        tls_without_client_cert: bool = False,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._timeout_s = timeout_s
        found = describe_client(client)
        self.topology = topology or found[0]
        self.location = location or found[1]
        self._probe_prefix = f"{key_prefix}rl:{{probe"
        self._tls_without_client_cert = tls_without_client_cert
        # Set when a TLS refusal was seen (the server's alert, or a probe's reset right after
        # the handshake): calls that then meet a reset are refused as that, not admitted. A
        # server that wants a client certificate sends its alert after the TLS 1.3
        # handshake, so the client reads either the alert or, racing it, a reset.
        self._tls_refusal: StoreError | None = None
        self._last_ok = -FRESH_S  # time.monotonic() of the last answered call

    @classmethod
    def from_url(
        cls, url: str, *, timeout_s: float, key_prefix: str = "mcp:", **options: Any
    ) -> RedisBackend:
        """A backend on its own client for ``url`` (``options``: see ``redis_from_url``)."""
        target = redis_from_url(url, **options)
        return cls(
            target.client,
            key_prefix=key_prefix,
            timeout_s=timeout_s,
            owns_client=True,
            topology=target.topology,
            location=target.location,
            tls_without_client_cert=target.tls_without_client_cert,
        )

    @property
    def client(self) -> RedisClient:
        return self._client

    async def _eval(self, key: str, args: tuple[int, int]) -> Any:
        client = self._client
        try:
            return await client.evalsha(GCRA_SHA, 1, key, *args)
        except NoScriptError:
            # A flushed script cache, or a master (after failover) that never saw it. A
            # cluster client sends SCRIPT LOAD to every master.
            await client.script_load(GCRA_LUA)
            return await client.evalsha(GCRA_SHA, 1, key, *args)

    async def acquire(self, key: str, rule: Rule) -> tuple[bool, int, int, int]:
        """One GCRA step; raises :class:`~._store_errors.StoreError` when Redis fails."""
        try:
            async with asyncio.timeout(self._timeout_s):
                res = await self._eval(key, rule.script_args)
        except Exception as exc:
            self._last_ok = -FRESH_S
            raise self._call_failure(exc) from exc
        self._last_ok = time.monotonic()
        self._tls_refusal = None
        return res[0] == 1, res[1], res[2], res[3]

    async def _probe_keys(self) -> list[tuple[str, str]]:
        """``(key, node)`` pairs: one probe key per master, so every master is exercised."""
        client = self._client
        if not isinstance(client, RedisCluster):
            return [(self._probe_prefix + "}", self.location)]
        await client.initialize()
        wanted = {node.name: node for node in client.get_primaries()}
        keys: list[tuple[str, str]] = []
        index = 0
        while wanted and index < 100_000:  # a hash tag per master (≈ masters × ln masters)
            key = f"{self._probe_prefix}{index}}}"
            node = client.get_node_from_key(key)
            if node is not None and node.name in wanted:
                keys.append((key, node.name))
                del wanted[node.name]
            index += 1
        return keys

    async def probe(self, timeout_s: float = PROBE_TIMEOUT_S) -> str:
        """Run the script on the probe key(s) through the limiter's own client.

        Returns what was found (for ``check`` and readiness); raises
        :class:`~._store_errors.StoreError` naming the cause.
        """
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                keys = await self._probe_keys()
                for key, _node in keys:
                    await self._eval(key, _PROBE_ARGS)
                where = await self._found(len(keys))
        except Exception as exc:
            self._last_ok = -FRESH_S
            raise self._probe_failure(exc) from exc
        self._last_ok = time.monotonic()
        self._tls_refusal = None
        return f"{where}: script ran in {(time.perf_counter() - start) * 1000:.1f} ms"

    def _call_failure(self, exc: Exception) -> StoreError:
        error = classify(exc, where=self.location)
        if error.reason == "tls":
            self._tls_refusal = error
        elif self._tls_refusal is not None and _reset_by_peer(exc):
            error = self._tls_refusal
        return error

    def _probe_failure(self, exc: Exception) -> StoreError:
        error = self._call_failure(exc)
        if self._tls_without_client_cert and error.reason == "connection" and _reset_by_peer(exc):
            # A reset right after a completed TLS handshake, on a fresh connection and
            # again on the retry: a server that requires a client certificate (TLS 1.3
            # sends its refusal after the handshake). Only the probe (start-up, check,
            # readiness) reads a first reset so; a call reads a reset as an outage unless
            # a TLS refusal was seen since the last answer (see _call_failure).
            self._tls_refusal = StoreMisconfiguredError(
                "tls",
                f"Redis at {self.location} closed the TLS connection after the handshake: "
                "it requires a client certificate (set MCP_REDIS_TLS_CERT_FILE and "
                "MCP_REDIS_TLS_KEY_FILE)",
            )
            return self._tls_refusal
        return error

    async def _found(self, probes: int) -> str:
        client = self._client
        if isinstance(client, RedisCluster):
            return f"cluster of {probes} masters ({self.location})"
        pool = client.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            host, port = await pool.get_master_address()  # type: ignore[no-untyped-call]
            return f"sentinel master {pool.service_name!r} at {host}:{port}"
        await self._not_a_cluster_node(client)
        return f"standalone {self.location}"

    async def _not_a_cluster_node(self, client: Any) -> None:
        """A standalone client on a cluster node answers the probe key when its slot is
        local and ``MOVED`` for most subjects: say so at the probe, not per call."""
        try:
            info = await client.info("cluster")
        except NoPermissionError:  # an ACL without INFO: the calls will tell (wrong_node)
            return
        if int(info.get("cluster_enabled", 0)) == 1:
            raise StoreMisconfiguredError(
                "wrong_node",
                f"Redis at {self.location} is a cluster node; set MCP_REDIS_MODE=cluster",
            )

    async def recent_check(self) -> CheckResult:
        """:meth:`check`, or the verdict of a limiter call under :data:`FRESH_S` old.

        The ``health`` tool is itself rate-limited, so the limiter has just talked to Redis
        for the very call that asks; a probe on top would double the round trips.
        """
        age = time.monotonic() - self._last_ok
        if age < FRESH_S:
            return CheckResult("ok", f"redis {self.location}: answered {age * 1000:.0f} ms ago")
        return await self.check()

    async def check(self) -> CheckResult:
        """The probe, as a health result: ``down`` with the cause when it fails."""
        try:
            found = await self.probe(timeout_s=max(self._timeout_s, 1.0))
        except StoreError as exc:
            return CheckResult("down", f"{exc} [{exc.reason}]")
        return CheckResult("ok", f"redis {found}")

    def describe(self) -> dict[str, str]:
        return {"backend": "redis", "topology": self.topology, "location": self.location}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _reset_by_peer(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionResetError) or "reset by peer" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
