"""The 3-master cluster fixture: slots really spread, MOVED really sent, nodes really die."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster

from mcp_testkit.redis import ClusterRedis


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_cluster_client_from_any_node_spreads_keys_over_all_masters(
    redis_cluster: ClusterRedis, seed: int
) -> None:
    assert len(redis_cluster.nodes) == 3
    client = RedisCluster.from_url(redis_cluster.urls[seed])
    try:
        for n in range(60):
            await client.set(f"{{subject-{n}}}:tool", n)
        assert len(client.get_primaries()) == 3
    finally:
        await client.aclose()
    per_node = []
    for node in redis_cluster.nodes:
        with node.client() as plain:
            per_node.append(plain.dbsize())
    assert sum(per_node) == 60
    assert all(count > 0 for count in per_node), per_node


def test_plain_client_gets_moved_and_node_for_key_names_the_owner(
    redis_cluster: ClusterRedis,
) -> None:
    key = "{subject-7}:tool"
    owner = redis_cluster.node_for_key(key)
    with owner.client() as client:
        assert client.execute_command("CLUSTER", "KEYSLOT", key) == redis_cluster.key_slot(key)
        assert client.set(key, "here")
    other = next(node for node in redis_cluster.nodes if node is not owner)
    with other.client() as client, pytest.raises(redis.exceptions.MovedError) as moved:
        client.get(key)
    assert moved.value.slot_id == redis_cluster.key_slot(key)
    assert moved.value.port == owner.port
    assert len({redis_cluster.node_for_slot(s).port for s in (0, 8000, 16383)}) == 3
    assert redis_cluster.env() == {"MCP_REDIS_URL": redis_cluster.url, "MCP_REDIS_MODE": "cluster"}


def test_a_killed_node_takes_only_its_slots_down_and_comes_back(
    redis_cluster: ClusterRedis,
) -> None:
    keys = {node.name: _key_on(redis_cluster, node.name) for node in redis_cluster.nodes}
    victim = redis_cluster.nodes[1]
    victim.stop(kill=True)
    client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        with pytest.raises(redis.ConnectionError):
            client.set(keys[victim.name], "x")
        for name, key in keys.items():
            if name != victim.name:
                assert client.set(key, "x")
        victim.start()
        redis_cluster.wait_ok()
        assert client.set(keys[victim.name], "back")
    finally:
        client.close()


def test_killed_node_is_revived_for_the_next_test(redis_cluster: ClusterRedis) -> None:
    redis_cluster.nodes[2].stop(kill=True)  # left dead on purpose: the next test heals it


def test_each_test_gets_a_whole_empty_cluster(redis_cluster: ClusterRedis) -> None:
    assert all(node.running for node in redis_cluster.nodes)
    for node in redis_cluster.nodes:
        with node.client() as client:
            assert client.dbsize() == 0
            info = client.execute_command("CLUSTER", "INFO").decode()
            assert "cluster_state:ok" in info


def _key_on(cluster: ClusterRedis, name: str) -> str:
    for n in range(1000):
        key = f"{{probe-{n}}}"
        if cluster.node_for_key(key).name == name:
            return key
    raise AssertionError(f"no key found for {name}")
