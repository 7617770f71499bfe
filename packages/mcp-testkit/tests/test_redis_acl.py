"""ACL users: each one is refused exactly where a misconfigured account would be."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

from mcp_testkit.redis import AclUsers, url_with_credentials

SCRIPT = "return redis.call('INCR', KEYS[1])"


async def test_app_user_may_do_anything_under_its_prefix(redis_acl: AclUsers) -> None:
    assert redis_acl.key_prefix == "app:"
    client = redis.asyncio.Redis.from_url(redis_acl.app_url)
    try:
        assert await client.ping()
        assert await client.eval(SCRIPT, 1, "app:counter") == 1
        assert await client.set("app:k", "v")
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"(?i)no permissions"):
            await client.set("other:k", "v")
    finally:
        await client.aclose()


async def test_user_without_permission_on_the_prefix_gets_noperm(redis_acl: AclUsers) -> None:
    client = redis.asyncio.Redis.from_url(redis_acl.noperm_url)
    try:
        assert await client.ping()  # it connects and authenticates: only the keys fail
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"(?i)no permissions"):
            await client.set("app:k", "v")
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"(?i)no permissions"):
            await client.eval(SCRIPT, 1, "app:counter")
    finally:
        await client.aclose()


async def test_user_without_scripting_gets_noperm_on_scripts(redis_acl: AclUsers) -> None:
    client = redis.asyncio.Redis.from_url(redis_acl.noscript_url)
    try:
        assert await client.set("app:k", "v")  # plain commands on its keys work
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"(?i)no permissions"):
            await client.eval(SCRIPT, 1, "app:counter")
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"(?i)no permissions"):
            await client.script_load(SCRIPT)
    finally:
        await client.aclose()


def test_wrong_password_is_refused(redis_acl: AclUsers) -> None:
    client = redis.Redis.from_url(redis_acl.wrong_password_url)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.ping()
    finally:
        client.close()


def test_each_test_gets_an_empty_acl_server(redis_acl: AclUsers) -> None:
    (server,) = redis_acl.nodes
    with server.client() as admin:
        assert admin.dbsize() == 0  # keys of the tests above are gone
    assert redis_acl.base_url == server.url


def test_url_with_credentials_replaces_and_quotes() -> None:
    url = url_with_credentials("rediss://old:pw@127.0.0.1:6380/2?ssl_ca_certs=/ca", "u", "p@:/")
    assert url == "rediss://u:p%40%3A%2F@127.0.0.1:6380/2?ssl_ca_certs=/ca"
    assert url_with_credentials(url, None, None) == "rediss://127.0.0.1:6380/2?ssl_ca_certs=/ca"
