"""pytest fixtures and hooks for real Redis (registered through ``mcp_testkit.plugin``).

Each topology has a session fixture that starts it once (``redis_*_server``) and a
per-test fixture that hands the same object over revived and emptied (``redis_tls``,
``redis_acl``, ``redis_cluster``, ...). Everything is stopped at session end, also after a
failed test; nothing is started unless a test asks for it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from mcp_testkit.redis._acl import AclUsers, create_acl_users
from mcp_testkit.redis._cluster import ClusterRedis, start_redis_cluster
from mcp_testkit.redis._providers import binary_version, local_binaries, plan_provider, start_redis
from mcp_testkit.redis._sentinel import SentinelRedis, start_redis_sentinel
from mcp_testkit.redis._server import ProcessRedis, RedisServer, RedisUnavailableError
from mcp_testkit.redis._tls import (
    RedisTlsServer,
    TlsMaterial,
    TlsUnsupportedError,
    make_tls_material,
    start_tls_redis,
)

__all__ = [
    "pytest_report_header",
    "pytest_terminal_summary",
    "redis_acl",
    "redis_acl_server",
    "redis_client",
    "redis_cluster",
    "redis_cluster_server",
    "redis_factory",
    "redis_mtls",
    "redis_mtls_server",
    "redis_sentinel",
    "redis_sentinel_server",
    "redis_server",
    "redis_tls",
    "redis_tls_material",
    "redis_tls_server",
    "redis_url",
]

_started: list[str] = []


def pytest_report_header(config: pytest.Config) -> str:
    try:
        plan = plan_provider()
    except RedisUnavailableError as exc:
        return f"mcp-testkit redis: unavailable ({exc})"
    if plan.provider == "url":
        return "mcp-testkit redis: url (MCP_TESTKIT_REDIS_URL)"
    if plan.provider == "testcontainers":
        return f"mcp-testkit redis: testcontainers ({plan.detail})"
    return f"mcp-testkit redis: {plan.provider} {binary_version(plan.detail)} ({plan.detail})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _started:
        terminalreporter.write_line(f"mcp-testkit redis: ran {line}")


def _ran(what: str, provider: str, version: str) -> None:
    _started.append(f"{what} on {provider} {version}")


# -- one Redis from the provider chain ------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the whole session (stopped at the end unless it is external)."""
    server = start_redis()
    _ran("standalone", server.provider, server.version)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_factory() -> Iterator[Callable[[], RedisServer]]:
    """Start private servers (never the external URL) that a test may kill; all are
    stopped at session end."""
    servers: list[RedisServer] = []

    def make() -> RedisServer:
        server = start_redis(local_only=True)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied (``FLUSHALL``) for this test; revived if an
    earlier test left it stopped."""
    if not redis_server.running:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A ``redis.asyncio`` client on the flushed server, closed after the test."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# -- TLS ------------------------------------------------------------------------------------


def _revived(server: ProcessRedis) -> None:
    server.resume()
    server.start()
    with server.client() as client:
        client.flushall()


@pytest.fixture(scope="session")
def redis_tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A CA, a server certificate (127.0.0.1, localhost), a client certificate and an
    untrusted CA, made for this session."""
    return make_tls_material(tmp_path_factory.mktemp("redis-tls"))


def _tls_server(material: TlsMaterial, *, mutual: bool) -> Iterator[RedisTlsServer]:
    try:
        server = start_tls_redis(material, mutual=mutual)
    except TlsUnsupportedError as exc:
        pytest.skip(str(exc))
    _ran("mutual TLS" if mutual else "TLS", server.provider, server.version)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_tls_server(redis_tls_material: TlsMaterial) -> Iterator[RedisTlsServer]:
    """A ``rediss://`` Redis (``tls-auth-clients no``); skips without a TLS-built server."""
    yield from _tls_server(redis_tls_material, mutual=False)


@pytest.fixture(scope="session")
def redis_mtls_server(redis_tls_material: TlsMaterial) -> Iterator[RedisTlsServer]:
    """A mutual-TLS Redis (``tls-auth-clients yes``); skips without a TLS-built server."""
    yield from _tls_server(redis_tls_material, mutual=True)


@pytest.fixture
def redis_tls(redis_tls_server: RedisTlsServer) -> RedisTlsServer:
    """``redis_tls_server``, running and emptied for this test."""
    _revived(redis_tls_server)
    return redis_tls_server


@pytest.fixture
def redis_mtls(redis_mtls_server: RedisTlsServer) -> RedisTlsServer:
    """``redis_mtls_server``, running and emptied for this test."""
    _revived(redis_mtls_server)
    return redis_mtls_server


# -- ACL ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_acl_server() -> Iterator[AclUsers]:
    """A Redis of its own with the users of :class:`AclUsers` (key prefix ``app:``)."""
    binaries = local_binaries()
    if not binaries:
        raise RedisUnavailableError("ACL users need a local redis-server (see the chain)")
    provider, binary = binaries[0]
    server = ProcessRedis(binary, provider, name="redis-acl")
    _ran("ACL", provider, server.version)
    try:
        yield create_acl_users(server, key_prefix="app:")
    finally:
        server.close()


@pytest.fixture
def redis_acl(redis_acl_server: AclUsers) -> AclUsers:
    """``redis_acl_server``'s users, with the server running and emptied for this test."""
    for node in redis_acl_server.nodes:
        _revived(node)
    return redis_acl_server


# -- cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster_server() -> Iterator[ClusterRedis]:
    """A 3-master Redis Cluster for the session."""
    cluster = start_redis_cluster()
    _ran("cluster (3 masters)", cluster.provider, cluster.version)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis_cluster(redis_cluster_server: ClusterRedis) -> ClusterRedis:
    """``redis_cluster_server`` with every node back up and every master emptied."""
    redis_cluster_server.heal()
    redis_cluster_server.flush()
    return redis_cluster_server


# -- sentinel -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_sentinel_server() -> Iterator[SentinelRedis]:
    """A master, a replica and three sentinels with a password of their own
    (``.sentinel_password``, made per session)."""
    setup = start_redis_sentinel(sentinel_password=secrets.token_urlsafe(18))
    _ran("sentinel (1 master, 1 replica, 3 sentinels)", setup.provider, setup.version)
    try:
        yield setup
    finally:
        setup.close()


@pytest.fixture
def redis_sentinel(redis_sentinel_server: SentinelRedis) -> SentinelRedis:
    """``redis_sentinel_server`` with every process back, one master that all sentinels
    name, its replica linked, and the data emptied. The master may be either data node
    (an earlier test may have failed over): ask ``.master``."""
    redis_sentinel_server.heal()
    redis_sentinel_server.flush()
    return redis_sentinel_server
