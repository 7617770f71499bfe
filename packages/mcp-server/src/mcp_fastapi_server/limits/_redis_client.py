"""The limiter's Redis client, built from settings with redis-py for every topology.

``MCP_REDIS_MODE`` picks the client: ``standalone`` (``redis://``, ``rediss://``,
``unix://``; ACL user, password and db in the URL) is a :class:`redis.asyncio.Redis` over a
blocking pool; ``cluster`` is a :class:`redis.asyncio.RedisCluster` seeded from the URL's
node (it learns the slots and follows ``MOVED``/``ASK``); ``sentinel`` asks
``MCP_REDIS_SENTINELS`` for ``MCP_REDIS_SENTINEL_MASTER`` and follows failovers, with the
master's credentials, db and TLS from the URL. ``MCP_REDIS_TLS_*`` files apply in every
mode, exactly as the URL's ``ssl_ca_certs``/``ssl_certfile``/``ssl_keyfile`` options would.

Socket timeouts are left off: every limiter call runs under one ``asyncio.timeout``
(``MCP_REDIS_TIMEOUT_MS``), which covers pool wait, connect and read with one timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster, Sentinel
from redis.asyncio.connection import (
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from mcp_fastapi_server._settings import Settings, SettingsError

__all__ = [
    "POOL_SIZE",
    "RedisClient",
    "RedisTarget",
    "describe_client",
    "redis_from_settings",
    "redis_from_url",
]

POOL_SIZE = 64  # concurrent Redis calls per process; more adds sockets, not throughput

RedisClient = Redis | RedisCluster


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A client and what it is connected to, for logs and ``mcp-server check``."""

    client: RedisClient
    topology: str  # "standalone", "cluster" or "sentinel"
    location: str  # where, without credentials
    tls_without_client_cert: bool = False
    """TLS is on and we present no client certificate: a server that requires one (mutual
    TLS 1.3) completes the handshake and then resets the connection, which looks like an
    outage unless the probe knows this."""


def _tls_options(settings: Settings) -> dict[str, str]:
    files = {
        "ssl_ca_certs": settings.redis_tls_ca_file,
        "ssl_certfile": settings.redis_tls_cert_file,
        "ssl_keyfile": settings.redis_tls_key_file,
    }
    return {key: str(path) for key, path in files.items() if path is not None}


def _url_options(url: str) -> dict[str, Any]:
    """``parse_url`` plus a check that every query option is one redis-py knows.

    An unknown option (a typo such as ``ssl_ca_cert``) would only fail when the first
    connection is made; building one connection object here (no I/O) moves that to
    start-up, naming the variable.
    """
    options: dict[str, Any] = dict(parse_url(url))
    connection_class = options.pop("connection_class", Connection)
    probe = {k: v for k, v in options.items() if k not in ("host", "port", "path", "db")}
    try:
        connection_class(**probe)
    except TypeError as exc:
        raise SettingsError(f"MCP_REDIS_URL: unknown option ({exc})") from None
    options["ssl"] = connection_class is SSLConnection
    options["unix"] = connection_class is UnixDomainSocketConnection
    return options


def _where(options: dict[str, Any]) -> str:
    if options.get("unix"):
        return f"unix:{options.get('path', '?')}/{options.get('db', 0)}"
    scheme = "rediss" if options.get("ssl") else "redis"
    host, port, db = options.get("host", "?"), options.get("port", 6379), options.get("db", 0)
    return f"{scheme}://{host}:{port}/{db}"


def redis_from_settings(settings: Settings) -> RedisTarget:
    """The client ``MCP_REDIS_URL``, ``MCP_REDIS_MODE`` and ``MCP_REDIS_TLS_*`` describe."""
    assert settings.redis_url is not None
    password = settings.redis_sentinel_password
    return redis_from_url(
        settings.redis_url.get_secret_value(),
        mode=settings.redis_mode,
        tls=_tls_options(settings),
        sentinels=settings.redis_sentinels,
        sentinel_master=settings.redis_sentinel_master,
        sentinel_password=password.get_secret_value() if password is not None else None,
    )


def redis_from_url(
    url: str,
    *,
    mode: str = "standalone",
    tls: dict[str, str] | None = None,
    sentinels: Sequence[str] = (),
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
) -> RedisTarget:
    """A client for ``url`` in ``mode`` (no I/O yet); ``tls`` holds ``ssl_*`` file options."""
    options = _url_options(url)
    options.update(tls or {})
    ssl, unix = options.pop("ssl"), options.pop("unix")
    where = _where({**options, "ssl": ssl, "unix": unix})
    no_cert = bool(ssl) and not options.get("ssl_certfile")
    common: dict[str, Any] = {
        "socket_timeout": None,  # bounded per call by the limiter's asyncio.timeout
        "health_check_interval": 0,
    }
    if mode == "cluster":
        options.pop("db", None)
        client = RedisCluster(**options, **common, ssl=ssl, max_connections=POOL_SIZE)
        return RedisTarget(client, "cluster", f"seed {where.rsplit('/', 1)[0]}", no_cert)
    if mode == "sentinel":
        options.pop("host", None)
        options.pop("port", None)
        sentinel_kwargs: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        if sentinel_password is not None:
            sentinel_kwargs["password"] = sentinel_password
        if ssl:  # sentinels of a TLS deployment speak TLS too, with the same trust anchor
            sentinel_kwargs.update(ssl=True, **(tls or {}))
            for key in ("ssl_cert_reqs", "ssl_check_hostname", "ssl_ca_certs"):
                if key in options:
                    sentinel_kwargs.setdefault(key, options[key])
        addresses = [
            (host, int(port)) for host, _, port in (item.rpartition(":") for item in sentinels)
        ]
        manager = Sentinel(addresses, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        master = sentinel_master
        if not master or not addresses:
            raise SettingsError("sentinel mode needs sentinels and the master's name")
        client = manager.master_for(master, redis_class=Redis, ssl=ssl, **options, **common)
        names = ",".join(sentinels)
        return RedisTarget(client, "sentinel", f"master {master!r} via sentinels {names}", no_cert)
    pool = BlockingConnectionPool(
        connection_class=(
            UnixDomainSocketConnection if unix else SSLConnection if ssl else Connection
        ),
        max_connections=POOL_SIZE,
        # A burst waits for a free connection (bounded by the call's timeout) instead of
        # failing with "Too many connections", which would fail open over the limit.
        timeout=None,
        # One retry, with no back-off, on a broken pooled connection (Redis restarted);
        # a timeout is never retried: a slow Redis gets one try.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        **options,
        **common,
    )
    return RedisTarget(Redis.from_pool(pool), "standalone", where, no_cert)


def describe_client(client: RedisClient) -> tuple[str, str]:
    """``(topology, location)`` of a client a host passed in (``mount_mcp(redis=...)``)."""
    if isinstance(client, RedisCluster):
        nodes = ", ".join(f"{n.host}:{n.port}" for n in client.get_nodes()) or "not yet known"
        return "cluster", f"nodes {nodes}"
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return "sentinel", f"master {pool.service_name!r}"
    kw: dict[str, Any] = pool.connection_kwargs
    where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
    return "standalone", f"{where}/{kw.get('db', 0)}"
