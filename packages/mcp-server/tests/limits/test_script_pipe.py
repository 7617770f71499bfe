"""The limiter's pipelined Redis client against a real Redis: pipelining, db, auth, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mcp_fastapi_server.limits._redis import GCRA_LUA
from mcp_fastapi_server.limits._script_pipe import ScriptPipe
from mcp_testkit.redis import RedisServer

ECHO = "return {tonumber(ARGV[1]), tonumber(ARGV[2]), redis.call('INCR', KEYS[1])}"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("redis://localhost:6379/0", True),
        ("rediss://user:pw@host:6380/2", True),
        ("unix:///tmp/redis.sock?db=1", True),
        ("redis://localhost:6379/0?ssl_cert_reqs=none", False),  # options we do not speak
        ("redis+sentinel://host/x", False),
    ],
)
def test_supported_urls(url: str, ok: bool) -> None:
    assert ScriptPipe.supports(url) is ok


async def test_concurrent_calls_share_one_connection_in_order(
    redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    pipe = ScriptPipe(redis_url, ECHO, timeout_s=5)
    try:
        results = await asyncio.gather(*(pipe.evalsha("n", (i, 2 * i)) for i in range(200)))
        assert [r[:2] for r in results] == [[i, 2 * i] for i in range(200)]
        assert sorted(r[2] for r in results) == list(range(1, 201))
        clients = await redis_client.client_list()
        assert len(clients) == 2  # the pipe's one connection and this test's client
    finally:
        await pipe.aclose()


async def test_runs_the_limiter_script(redis_url: str) -> None:
    pipe = ScriptPipe(redis_url, GCRA_LUA, timeout_s=5)
    try:
        first = await pipe.evalsha("mcp:rl:{a|tool:x}", (1_000_000, 2_000_000))
        second = await pipe.evalsha("mcp:rl:{a|tool:x}", (1_000_000, 2_000_000))
        third = await pipe.evalsha("mcp:rl:{a|tool:x}", (1_000_000, 2_000_000))
    finally:
        await pipe.aclose()
    assert [first[0], second[0], third[0]] == [1, 1, 0]  # a burst of 2 per 2 s
    assert first[1] == 1


async def test_selects_the_database_in_the_url(
    redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    pipe = ScriptPipe(redis_url.rsplit("/", 1)[0] + "/3", ECHO, timeout_s=5)
    try:
        await pipe.evalsha("in-db-3", (1, 1))
    finally:
        await pipe.aclose()
    assert await redis_client.exists("in-db-3") == 0
    other = redis.asyncio.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/3")
    try:
        assert await other.get("in-db-3") == b"1"
        await other.flushdb()
    finally:
        await other.aclose()


async def test_authenticates_with_the_url_password(
    redis_factory: Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    if not server.running:
        server.start()
    admin = redis.asyncio.Redis.from_url(server.url)
    await admin.config_set("requirepass", "s3cret")
    await admin.aclose()
    with_password = server.url.replace("redis://", "redis://:s3cret@", 1)
    pipe = ScriptPipe(with_password, ECHO, timeout_s=5)
    wrong = ScriptPipe(server.url.replace("redis://", "redis://:nope@", 1), ECHO, timeout_s=5)
    try:
        assert (await pipe.evalsha("k", (1, 2)))[:2] == [1, 2]
        with pytest.raises(ResponseError):
            await wrong.evalsha("k", (1, 2))
    finally:
        await pipe.aclose()
        await wrong.aclose()
        server.stop()


async def test_script_errors_are_response_errors_and_keep_the_connection(
    redis_url: str,
) -> None:
    pipe = ScriptPipe(redis_url, "return redis.error_reply('nope')", timeout_s=5)
    try:
        for _ in range(2):  # the error reply does not desynchronise the pipeline
            with pytest.raises(ResponseError, match="nope"):
                await pipe.evalsha("k", (1,))
    finally:
        await pipe.aclose()


async def test_reconnects_after_redis_restarts(
    redis_factory: Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    if not server.running:
        server.start()
    pipe = ScriptPipe(server.url, ECHO, timeout_s=2)
    try:
        await pipe.evalsha("k", (1, 1))
        server.stop()
        server.start()  # same port; the pipe's socket is now dead, and the script gone
        assert (await pipe.evalsha("k", (2, 2)))[:2] == [2, 2]
    finally:
        await pipe.aclose()
        server.stop()


async def test_frozen_redis_times_out_and_the_next_call_reconnects(
    redis_factory: Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    if not server.running:
        server.start()
    pipe = ScriptPipe(server.url, ECHO, timeout_s=0.2)
    try:
        await pipe.evalsha("k", (1, 1))
        server.pause()
        try:
            pending = [pipe.evalsha("k", (i, i)) for i in range(5)]
            results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
        finally:
            server.resume()
        assert all(isinstance(r, RedisTimeoutError) for r in results)
        assert (await pipe.evalsha("k", (7, 7)))[:2] == [7, 7]
    finally:
        await pipe.aclose()
        server.stop()


async def test_unreachable_redis_is_a_connection_error(
    redis_factory: Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    if not server.running:
        server.start()
    url = server.url
    server.stop()
    pipe = ScriptPipe(url, ECHO, timeout_s=1)
    try:
        with pytest.raises(RedisConnectionError):
            await pipe.evalsha("k", (1, 1))
    finally:
        await pipe.aclose()
