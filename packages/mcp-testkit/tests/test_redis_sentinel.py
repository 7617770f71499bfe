"""The sentinel fixture: real sentinels that fail over, followed by redis-py's Sentinel."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from mcp_testkit.redis import SentinelRedis, start_redis_sentinel


def _sentinel(setup: SentinelRedis) -> Sentinel:
    kwargs = setup.sentinel_kwargs()
    return Sentinel(setup.sentinels, sentinel_kwargs=kwargs, socket_timeout=2)  # type: ignore[no-untyped-call]


def _role(node_client: redis.Redis) -> dict[str, object]:
    return dict(node_client.info("replication"))


async def test_master_for_writes_to_the_master_and_the_replica_follows(
    redis_sentinel: SentinelRedis,
) -> None:
    assert len(redis_sentinel.sentinels) == 3
    assert redis_sentinel.sentinel_addresses.count(",") == 2
    master = redis_sentinel.master
    (replica,) = redis_sentinel.replicas
    client = _sentinel(redis_sentinel).master_for(redis_sentinel.master_name)
    try:
        await client.set("s:key", "v")
    finally:
        await client.aclose()
    with master.client() as direct:
        assert direct.get("s:key") == b"v"
        assert _role(direct)["role"] == "master"
        direct.execute_command("WAIT", 1, 5000)
    with replica.client() as direct:
        assert direct.get("s:key") == b"v"
        assert _role(direct)["master_port"] == master.port
    assert redis_sentinel.master_url == master.url
    assert redis_sentinel.env() == {
        "MCP_REDIS_MODE": "sentinel",
        "MCP_REDIS_SENTINELS": redis_sentinel.sentinel_addresses,
        "MCP_REDIS_SENTINEL_MASTER": "mcp-master",
        "MCP_REDIS_SENTINEL_PASSWORD": redis_sentinel.sentinel_password,
        "MCP_REDIS_URL": master.url,
    }


async def test_after_failover_master_for_writes_to_the_new_master(
    redis_sentinel: SentinelRedis,
) -> None:
    old = redis_sentinel.master
    sentinel = _sentinel(redis_sentinel)
    before = sentinel.master_for(redis_sentinel.master_name)  # connected to the old master
    await before.set("before:failover", "old")
    new = await asyncio.to_thread(redis_sentinel.failover)
    assert new is not old
    assert redis_sentinel.master is new
    # What clients see: redis-py asks the sentinels (SENTINEL MASTERS) and gets the new one.
    assert await sentinel.discover_master(redis_sentinel.master_name) == (new.host, new.port)
    with old.client() as direct:
        role = _role(direct)
        assert (role["role"], role["master_port"]) == ("slave", new.port)
    try:
        try:
            await before.set("after:failover", "new")
        except redis.ConnectionError as exc:  # redis-py: its connection to the old master
            assert "previous master" in str(exc)  # noqa: PT017
            await before.set("after:failover", "new")
    finally:
        await before.aclose()
    fresh = sentinel.master_for(redis_sentinel.master_name)
    try:
        await fresh.set("fresh:client", "new")
    finally:
        await fresh.aclose()
    with new.client() as direct:
        assert _role(direct)["role"] == "master"
        assert direct.get("before:failover") == b"old"  # replicated before the switch
        assert direct.get("after:failover") == b"new"
        assert direct.get("fresh:client") == b"new"


async def test_sentinels_fail_over_by_themselves_when_the_master_dies(
    redis_sentinel: SentinelRedis,
) -> None:
    dead = redis_sentinel.kill_master()
    assert not dead.running
    new = redis_sentinel.wait_for_new_master(dead)
    assert new is not dead
    client = _sentinel(redis_sentinel).master_for(redis_sentinel.master_name)
    try:
        await client.set("after:kill", "1")
    finally:
        await client.aclose()
    with new.client() as direct:
        assert direct.get("after:kill") == b"1"


def test_the_next_test_gets_every_process_back(redis_sentinel: SentinelRedis) -> None:
    assert all(node.running for node in redis_sentinel.all_nodes)  # the old master is back
    (replica,) = redis_sentinel.replicas
    with replica.client() as direct:
        role = _role(direct)
        assert (role["role"], role["master_link_status"]) == ("slave", "up")
        assert direct.dbsize() == 0
    for sentinel in redis_sentinel.sentinel_nodes:  # and every sentinel sees it healthy
        with sentinel.client() as client:
            (seen,) = client.sentinel_slaves(redis_sentinel.master_name)
        assert seen["port"] == replica.port
        assert not seen["is_sdown"]
        assert not seen["is_disconnected"]


def test_sentinels_want_their_password(redis_sentinel: SentinelRedis) -> None:
    assert redis_sentinel.sentinel_password
    host, port = redis_sentinel.sentinels[0]
    anonymous = redis.Redis(host=host, port=port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.sentinel_get_master_addr_by_name(redis_sentinel.master_name)
    finally:
        anonymous.close()


async def test_a_private_setup_with_a_master_password() -> None:
    with start_redis_sentinel(master_password="data-secret", sentinels=1) as setup:
        assert setup.sentinel_kwargs() == {}
        assert setup.master_url.startswith("redis://:data-secret@127.0.0.1:")
        assert setup.env()["MCP_REDIS_URL"] == setup.master_url
        sentinel = Sentinel(setup.sentinels, socket_timeout=2)  # type: ignore[no-untyped-call]
        client = sentinel.master_for(setup.master_name, password="data-secret")
        try:
            await client.set("k", "v")
        finally:
            await client.aclose()
        anonymous = sentinel.master_for(setup.master_name, retry=Retry(NoBackoff(), 0))
        try:
            with pytest.raises(redis.AuthenticationError):
                await anonymous.set("k", "v")
        finally:
            await anonymous.aclose()
        new = setup.failover()  # the replica authenticates to the new master: masterauth
        assert setup.master is new
    for node in setup.all_nodes:
        assert not node.running
