"""Sort redis-py's exceptions into the limiter's two kinds of store failure.

See :mod:`._store_errors` for what each kind means; this module holds only the mapping,
so redis-py is imported only when Redis is configured.
"""

from __future__ import annotations

import ssl

from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    AuthorizationError,
    BusyLoadingError,
    ClusterCrossSlotError,
    ClusterDownError,
    NoPermissionError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mcp_fastapi_server.limits._store_errors import (
    StoreError,
    StoreMisconfiguredError,
    StoreReason,
    StoreUnavailableError,
)

__all__ = ["classify"]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _misconfigured(reason: StoreReason, why: str) -> StoreMisconfiguredError:
    return StoreMisconfiguredError(reason, why)


def classify(exc: BaseException, *, where: str) -> StoreError:
    """Sort one failure of the limiter's Redis call (``where`` names the server, no secrets)."""
    if isinstance(exc, StoreError):
        return exc
    chain = _chain(exc)
    text = str(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or (
        "certificate verify failed" in text
    ):
        return _misconfigured(
            "tls",
            f"Redis at {where}: its TLS certificate does not verify against the trusted CAs "
            "(set MCP_REDIS_TLS_CA_FILE, or ssl_ca_certs in MCP_REDIS_URL)",
        )
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return _misconfigured(
            "tls",
            f"Redis at {where}: the TLS handshake failed ({text}); a server that requires a "
            "client certificate needs MCP_REDIS_TLS_CERT_FILE and MCP_REDIS_TLS_KEY_FILE",
        )
    if isinstance(exc, AuthenticationError | AuthenticationWrongNumberOfArgsError) or (
        isinstance(exc, ResponseError) and text.startswith(("NOAUTH", "WRONGPASS"))
    ):
        return _misconfigured(
            "auth",
            f"Redis at {where} refused our credentials ({text}); check the user and password "
            "in MCP_REDIS_URL",
        )
    if isinstance(exc, NoPermissionError | AuthorizationError):
        return _misconfigured(
            "permission",
            f"Redis at {where}: the ACL user lacks a permission the limiter needs ({text}); "
            "it needs EVALSHA, SCRIPT LOAD and read/write on keys under MCP_REDIS_KEY_PREFIX",
        )
    if isinstance(exc, ClusterCrossSlotError | AskError):  # MovedError is an AskError
        return _misconfigured(
            "wrong_node",
            f"Redis at {where} is a cluster node ({text.split(' ', 1)[0]}); set "
            "MCP_REDIS_MODE=cluster",
        )
    if isinstance(exc, RedisClusterException) and "cluster mode is not enabled" in text.lower():
        return _misconfigured(
            "not_a_cluster",
            f"Redis at {where} is not a cluster; set MCP_REDIS_MODE=standalone",
        )
    if isinstance(exc, ReadOnlyError):
        return _misconfigured(
            "read_only",
            f"Redis at {where} is a read-only replica; point MCP_REDIS_URL at the master "
            "(or use MCP_REDIS_MODE=sentinel)",
        )
    if isinstance(exc, ClusterDownError | TryAgainError):
        return StoreUnavailableError("failover", f"Redis cluster at {where}: {text}")
    if isinstance(exc, BusyLoadingError):
        return StoreUnavailableError("loading", f"Redis at {where} is loading its data set")
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return StoreUnavailableError("timeout", f"Redis at {where} did not answer in time")
    if isinstance(exc, RedisConnectionError | OSError):
        return StoreUnavailableError(
            "connection", f"Redis at {where}: {text or type(exc).__name__}"
        )
    if isinstance(exc, RedisClusterException):
        return StoreUnavailableError("connection", f"Redis cluster at {where}: {text}")
    if isinstance(exc, ResponseError):
        lowered = text.lower()
        if "unknown command" in lowered or "scripting" in lowered or "noscript" in lowered:
            return _misconfigured(
                "scripts_disabled",
                f"Redis at {where} does not run Lua scripts ({text}); the limiter needs "
                "EVALSHA and SCRIPT LOAD",
            )
        if "select is not allowed in cluster mode" in lowered:
            return _misconfigured(
                "wrong_node",
                f"Redis at {where} is a cluster node (SELECT refused); set "
                "MCP_REDIS_MODE=cluster and use database 0",
            )
        return _misconfigured(
            "script_error", f"Redis at {where}: the limiter script failed: {text}"
        )
    if isinstance(exc, RedisError):
        return StoreUnavailableError("connection", f"Redis at {where}: {text}")
    raise exc
