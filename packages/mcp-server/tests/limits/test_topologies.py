"""The limiter against every Redis topology teams run, from real redis-server processes.

Built from settings exactly as production builds it (``MCP_REDIS_URL``, ``MCP_REDIS_MODE``,
``MCP_REDIS_TLS_*``, ``MCP_REDIS_SENTINEL*``): exact admission where Redis is right, and a
refusal naming the cause where the deployment is wrong (never an admission in silence).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from redis.asyncio import RedisCluster

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import load_settings
from mcp_fastapi_server.limits import (
    LimiterUnavailableError,
    RateLimitPolicy,
    StoreMisconfiguredError,
    build_limiter,
)
from mcp_testkit.redis import AclUsers, ClusterRedis, RedisTlsServer, SentinelRedis

SPECS = [ToolSpec(name="search", description="s", fn=lambda: None, rate_limit="5/hour")]


@asynccontextmanager
async def limiter(**settings: Any) -> AsyncIterator[RateLimitPolicy]:
    errors: list[str] = []
    policy = build_limiter(
        load_settings(redis_timeout_ms=2000, **settings), SPECS, on_error=errors.append
    )
    assert policy is not None
    try:
        yield policy
    finally:
        await policy.aclose()


async def admitted(policy: RateLimitPolicy, subject: str, calls: int = 7) -> list[bool]:
    decisions = [await policy.hit(subject, "tools/call", "search") for _ in range(calls)]
    assert not any(d.degraded for d in decisions)
    return [d.allowed for d in decisions]


EXACT = [True] * 5 + [False] * 2  # 5/hour: five admitted, then refused
# Real subjects look like these (token `sub` claims): ids and e-mail addresses. Names that
# differ in one digit (user0..user11) land on neighbouring CRC16 slots, one master.
SUBJECTS = [
    f"sub:{hashlib.sha256(str(i).encode()).hexdigest()[:12]}@example.com" for i in range(12)
]


async def refused_for(policy: RateLimitPolicy, reason: str, calls: int = 2) -> None:
    """Start-up stops on this deployment, and every call is a 503 naming the cause."""
    with pytest.raises(StoreMisconfiguredError) as at_start:
        await policy.open()
    assert at_start.value.reason == reason
    for _ in range(calls):
        with pytest.raises(LimiterUnavailableError) as at_call:
            await policy.hit("sub:a", "tools/call", "search")
        assert at_call.value.misconfigured
        assert at_call.value.reason == reason
        assert str(at_call.value).startswith("Rate limiter misconfigured: ")
    check = await policy.check()
    assert check.status == "down"
    assert f"[{reason}]" in check.detail


# --- TLS ---------------------------------------------------------------------------------


async def test_tls_with_a_private_ca_limits_exactly(redis_tls: RedisTlsServer) -> None:
    async with limiter(redis_url=redis_tls.url, redis_tls_ca_file=redis_tls.ca_file) as policy:
        await policy.open()
        assert await admitted(policy, "sub:tls") == EXACT
        assert "script ran" in (await policy.check()).detail
    assert redis_tls.client().exists("mcp:rl:{sub:tls|tool:search}") == 1


async def test_tls_options_in_the_url_work_the_same(redis_tls: RedisTlsServer) -> None:
    async with limiter(redis_url=redis_tls.url_with_ssl_options()) as policy:
        assert await admitted(policy, "sub:url") == EXACT


async def test_tls_without_the_private_ca_is_refused_not_failed_open(
    redis_tls: RedisTlsServer,
) -> None:
    async with limiter(redis_url=redis_tls.url, rate_limit_failure_mode="open") as policy:
        await refused_for(policy, "tls")
    async with limiter(
        redis_url=redis_tls.url, redis_tls_ca_file=redis_tls.untrusted_ca_file
    ) as policy:
        await refused_for(policy, "tls")


async def test_mutual_tls_needs_the_client_certificate(redis_mtls: RedisTlsServer) -> None:
    async with limiter(
        redis_url=redis_mtls.url,
        redis_tls_ca_file=redis_mtls.ca_file,
        redis_tls_cert_file=redis_mtls.client_cert_file,
        redis_tls_key_file=redis_mtls.client_key_file,
    ) as policy:
        await policy.open()
        assert await admitted(policy, "sub:mtls") == EXACT
    async with limiter(redis_url=redis_mtls.url, redis_tls_ca_file=redis_mtls.ca_file) as policy:
        # TLS 1.3: the server refuses after the handshake, so each new connection reads
        # either its alert or, racing it, a reset; both must come out as the TLS refusal.
        await refused_for(policy, "tls", calls=30)


# --- ACL users ---------------------------------------------------------------------------


async def test_an_acl_user_on_its_prefix_limits_exactly(redis_acl: AclUsers) -> None:
    async with limiter(redis_url=redis_acl.app_url, redis_key_prefix=redis_acl.key_prefix) as p:
        await p.open()
        assert await admitted(p, "sub:acl") == EXACT


@pytest.mark.parametrize(
    ("user", "prefix", "reason"),
    [
        ("noperm_url", "app:", "permission"),  # no permission on the key prefix
        ("app_url", "mcp:", "permission"),  # the right user, another prefix
        ("noscript_url", "app:", "permission"),  # scripts denied (-@scripting)
        ("wrong_password_url", "app:", "auth"),
    ],
)
async def test_a_wrong_acl_setup_is_refused_in_every_failure_mode(
    redis_acl: AclUsers, user: str, prefix: str, reason: str
) -> None:
    for mode in ("open", "closed"):
        async with limiter(
            redis_url=getattr(redis_acl, user),
            redis_key_prefix=prefix,
            rate_limit_failure_mode=mode,
        ) as policy:
            await refused_for(policy, reason)


# --- cluster -----------------------------------------------------------------------------


def _evalsha_calls(cluster: ClusterRedis) -> dict[str, int]:
    out = {}
    for node in cluster.nodes:
        stats = node.client().info("commandstats")
        out[node.address] = int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_cluster_mode_from_any_seed_limits_every_subject_exactly(
    redis_cluster: ClusterRedis, seed: int
) -> None:
    subjects = SUBJECTS
    async with limiter(redis_url=redis_cluster.urls[seed], redis_mode="cluster") as policy:
        await policy.open()
        assert "cluster of 3 masters" in (await policy.check()).detail
        for subject in subjects:  # warm: connections and the script on every master
            await policy.hit(subject, "tools/list")
        before = _evalsha_calls(redis_cluster)
        for subject in subjects:
            assert await admitted(policy, subject) == EXACT
        after = _evalsha_calls(redis_cluster)
    used = {node: after[node] - before[node] for node in after}
    assert sum(used.values()) == len(subjects) * 7  # one round trip per call
    assert sum(1 for n in used.values() if n) == 3  # the subjects spread over 3 masters
    owners = {redis_cluster.node_for_key(f"mcp:rl:{{{s}|tool:search}}").address for s in subjects}
    assert len(owners) == 3


async def test_a_standalone_client_on_a_cluster_node_is_refused(
    redis_cluster: ClusterRedis,
) -> None:
    async with limiter(redis_url=redis_cluster.url) as policy:  # MCP_REDIS_MODE unset
        with pytest.raises(StoreMisconfiguredError) as at_start:
            await policy.open()
        assert at_start.value.reason == "wrong_node"
        reasons = set()
        for subject in SUBJECTS:  # the subjects whose slot is elsewhere get MOVED
            try:
                await policy.hit(subject, "tools/call", "search")
            except LimiterUnavailableError as exc:
                reasons.add((exc.misconfigured, exc.reason))
        assert reasons == {(True, "wrong_node")}


async def test_cluster_mode_on_a_standalone_server_is_refused(redis_url: str) -> None:
    async with limiter(redis_url=redis_url, redis_mode="cluster") as policy:
        await refused_for(policy, "not_a_cluster")


async def test_a_killed_cluster_node_fails_its_subjects_only_and_recovers(
    redis_cluster: ClusterRedis,
) -> None:
    async with limiter(
        redis_url=redis_cluster.url, redis_mode="cluster", rate_limit_failure_mode="closed"
    ) as policy:
        subjects = SUBJECTS
        for subject in subjects:
            await policy.hit(subject, "tools/list")
        victim = redis_cluster.node_for_key(f"mcp:rl:{{{subjects[0]}|tool:search}}")
        on_victim = [
            s
            for s in subjects
            if redis_cluster.node_for_key(f"mcp:rl:{{{s}|tool:search}}") is victim
        ]
        elsewhere = [s for s in subjects if s not in on_victim]
        victim.stop(kill=True)
        for subject in elsewhere:
            assert (await policy.hit(subject, "tools/call", "search")).allowed
        for subject in on_victim:
            with pytest.raises(LimiterUnavailableError) as exc:
                await policy.hit(subject, "tools/call", "search")
            assert not exc.value.misconfigured  # an outage: the failure mode decides
        assert (await policy.check()).status == "down"
        victim.start()
        redis_cluster.wait_ok()
        for _ in range(50):  # the client re-reads the slot map after the node is back
            try:
                await policy.hit(on_victim[0], "tools/call", "search")
                break
            except LimiterUnavailableError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the cluster client did not recover")
        assert (await policy.check()).status == "ok"


async def test_a_hosts_redis_cluster_client_is_used_as_is(redis_cluster: ClusterRedis) -> None:
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        policy = build_limiter(load_settings(), SPECS, redis=client)
        assert policy is not None
        await policy.open()
        assert await admitted(policy, "sub:host") == EXACT
        assert policy.describe()["topology"] == "cluster"
        await policy.aclose()
        assert await client.ping()  # still the host's to use
    finally:
        await client.aclose()


# --- sentinel ----------------------------------------------------------------------------


def _sentinel_settings(sentinel: SentinelRedis, **extra: Any) -> dict[str, Any]:
    return {
        "redis_mode": "sentinel",
        "redis_url": f"redis://:{sentinel.master_password}@ignored/0"
        if sentinel.master_password
        else "redis://ignored/0",
        "redis_sentinels": sentinel.sentinel_addresses,
        "redis_sentinel_master": sentinel.master_name,
        "redis_sentinel_password": sentinel.sentinel_password,
        **extra,
    }


async def test_sentinel_mode_limits_exactly_and_follows_a_failover_mid_traffic(
    redis_sentinel: SentinelRedis,
) -> None:
    async with limiter(**_sentinel_settings(redis_sentinel)) as policy:
        await policy.open()
        first = (await policy.check()).detail
        assert f"sentinel master {redis_sentinel.master_name!r} at" in first
        assert await admitted(policy, "sub:before") == EXACT
        outcomes: list[str] = []
        stop = asyncio.Event()

        async def traffic() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    decision = await policy.hit(f"sub:during{i % 20}", "tools/list")
                    outcomes.append("degraded" if decision.degraded else "ok")
                except LimiterUnavailableError as exc:  # pragma: no cover - closed mode only
                    outcomes.append(exc.reason)
                await asyncio.sleep(0.005)

        task = asyncio.create_task(traffic())
        new_master = await asyncio.to_thread(redis_sentinel.failover)
        await asyncio.sleep(0.5)
        stop.set()
        await task
        assert outcomes.count("ok") > 0
        # the limiter follows the new master: exact again, and the check names it
        assert await admitted(policy, "sub:after") == EXACT
        assert new_master.address in (await policy.check()).detail
        assert new_master.client().exists("mcp:rl:{sub:after|tool:search}") == 1


async def test_a_wrong_sentinel_master_name_is_an_outage_not_an_admission_in_closed_mode(
    redis_sentinel: SentinelRedis,
) -> None:
    settings = _sentinel_settings(
        redis_sentinel, redis_sentinel_master="nope", rate_limit_failure_mode="closed"
    )
    async with limiter(**settings) as policy:
        await policy.open()  # unreachable at start-up: logged, left to the failure mode
        with pytest.raises(LimiterUnavailableError) as exc:
            await policy.hit("sub:a", "tools/call", "search")
        assert exc.value.reason == "connection"
        assert "nope" in str(exc.value.__cause__)


# --- the real command --------------------------------------------------------------------


def test_check_and_start_up_name_the_cause(
    redis_acl: AclUsers, run_command: Callable[..., Any]
) -> None:
    check = run_command("check", MCP_REDIS_URL=redis_acl.noperm_url, MCP_REDIS_KEY_PREFIX="app:")
    assert check.returncode == 2
    assert "redis [permission]" in check.stderr
    assert "MCP_REDIS_KEY_PREFIX" in check.stderr
    stdio = run_command("stdio", MCP_REDIS_URL=redis_acl.wrong_password_url)
    assert stdio.returncode == 2
    assert stdio.stderr.strip().startswith("mcp-server stdio: Redis at")
    assert "refused our credentials" in stdio.stderr
    ok = run_command("check", MCP_REDIS_URL=redis_acl.app_url, MCP_REDIS_KEY_PREFIX="app:")
    assert ok.returncode == 0, ok.stderr
    assert "ok: redis: standalone" in ok.stderr


@pytest.fixture
def run_command() -> Callable[..., Any]:
    import os
    import subprocess
    import sys

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
        return subprocess.run(
            [sys.executable, "-m", "mcp_fastapi_server", *args],
            input="",
            capture_output=True,
            text=True,
            env=base | {"MCP_LOG_LEVEL": "ERROR"} | env,
            timeout=60,
            check=False,
        )

    return run


def test_redis_py_is_the_only_client() -> None:
    """Every Redis byte goes through redis-py: no module of the package opens a connection
    of its own (the hand-written RESP pipe is gone), and the limiter's backend holds the
    redis-py client that settings build, in each mode."""
    import re
    from pathlib import Path

    import mcp_fastapi_server

    root = Path(mcp_fastapi_server.__file__).parent
    own_sockets = re.compile(r"open_(unix_)?connection|socket\.socket|create_connection")
    assert [p.name for p in root.rglob("*.py") if own_sockets.search(p.read_text())] == []
    for settings, kind in [
        ({"redis_url": "redis://127.0.0.1:1/0"}, redis.asyncio.Redis),
        ({"redis_url": "redis://127.0.0.1:1", "redis_mode": "cluster"}, RedisCluster),
        (
            {
                "redis_url": "redis://x/0",
                "redis_mode": "sentinel",
                "redis_sentinels": "127.0.0.1:1",
                "redis_sentinel_master": "mymaster",
            },
            redis.asyncio.Redis,
        ),
    ]:
        policy = build_limiter(load_settings(**settings), SPECS)
        assert policy is not None
        assert isinstance(policy.backend.client, kind)  # type: ignore[attr-defined]
