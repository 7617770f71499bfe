"""The OAuth-protected fake upstream: protected, discoverable, and stopped afterwards."""

from __future__ import annotations

import httpx
import pytest

from mcp_testkit.fakes import oauth_upstream


def test_fake_refuses_anonymous_requests_and_publishes_its_metadata() -> None:
    with oauth_upstream(required_scopes=["read"]) as fake:
        with httpx.Client() as http:
            anonymous = http.post(fake.url, json={"jsonrpc": "2.0", "id": 1, "method": "x"})
            resource = http.get(f"{fake.issuer}/.well-known/oauth-protected-resource/mcp")
            server = http.get(f"{fake.issuer}/.well-known/oauth-authorization-server")
        url = fake.url
    assert anonymous.status_code == 401
    assert "resource_metadata=" in anonymous.headers["www-authenticate"]
    assert resource.json()["resource"] == url
    assert resource.json()["scopes_supported"] == ["read"]
    assert server.json()["issuer"].rstrip("/") == fake.issuer
    assert server.json()["registration_endpoint"] == f"{fake.issuer}/register"
    with pytest.raises(httpx.ConnectError):  # stopped when the block ended
        httpx.get(url)


def test_restart_keeps_the_port_and_the_provider() -> None:
    with oauth_upstream(dynamic_registration=False) as fake:
        provider, url = fake.provider, fake.url
        fake.restart()
        assert (fake.provider, fake.url) == (provider, url)
        with httpx.Client() as http:
            assert http.post(url, json={}).status_code == 401
            assert http.post(f"{fake.issuer}/register", json={}).status_code == 404
