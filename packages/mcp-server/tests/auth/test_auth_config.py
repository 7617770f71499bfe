"""Start-up checks: a bad auth configuration stops with one line naming the variable."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastmcp.server.auth import AccessToken, TokenVerifier

from mcp_fastapi_server import ToolSpec, UnknownToolError
from mcp_fastapi_server._settings import Settings, SettingsError
from mcp_fastapi_server.auth import JwksKeySource, JWTTokenVerifier, StaticKeySource, build_auth
from mcp_testkit.jwt import JwtIssuer

SPECS = [ToolSpec(name="search", description="", fn=lambda: None, scopes=("docs:read",))]
SECRET = secrets.token_urlsafe(48)


def jwt_settings(**kw: Any) -> Settings:
    base: dict[str, Any] = {
        "auth_mode": "jwt",
        "auth_jwt_secret": SECRET,
        "auth_jwt_algorithms": ["HS256"],
    }
    base.update(kw)
    return Settings(**base)


def test_mode_none_builds_nothing() -> None:
    assert build_auth(Settings(auth_mode="none"), SPECS) is None


def test_a_passed_verifier_turns_auth_on_and_is_used() -> None:
    class Static(TokenVerifier):
        async def verify_token(self, token: str) -> AccessToken | None:
            return None

    verifier = Static()
    setup = build_auth(Settings(auth_mode="none"), SPECS, token_verifier=verifier)
    assert setup is not None
    assert setup.verifier is verifier
    assert setup.describe()["key_source"] == "custom"


def test_unknown_tool_in_tool_scopes_names_the_variable() -> None:
    with pytest.raises(UnknownToolError, match="MCP_TOOL_SCOPES: nope not registered"):
        build_auth(jwt_settings(tool_scopes={"nope": ["x"]}), SPECS)
    setup = build_auth(jwt_settings(tool_scopes={"up_echo": ["x"]}), SPECS, other_tools=["up_echo"])
    assert setup is not None
    assert setup.policy.tools["up_echo"] == {"x"}


def test_bad_scope_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="MCP_AUTH_REQUIRED_SCOPES"):
        build_auth(jwt_settings(auth_required_scopes=['a"b']), SPECS)


def test_short_hmac_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"MCP_AUTH_JWT_SECRET.*at least 32 bytes"):
        StaticKeySource.from_secret("short", ["HS256"])


def test_secret_with_an_rsa_allowlist_is_refused() -> None:
    with pytest.raises(SettingsError, match="MCP_AUTH_JWT_SECRET / MCP_AUTH_JWT_ALGORITHMS"):
        StaticKeySource.from_secret(SECRET, ["RS256"])
    with pytest.raises(SettingsError, match="RS256 cannot be used with an HMAC secret"):
        StaticKeySource.from_secret(SECRET, ["HS256", "RS256"])


def test_public_key_with_an_hmac_algorithm_is_refused(jwt_issuer: JwtIssuer) -> None:
    with pytest.raises(SettingsError, match="HS256 cannot be used with an RSA public key"):
        StaticKeySource.from_pem(jwt_issuer.public_pem, ["RS256", "HS256"])
    with pytest.raises(SettingsError, match="MCP_AUTH_JWT_ALGORITHMS: ES256 cannot verify"):
        StaticKeySource.from_pem(jwt_issuer.public_pem, ["ES256"])


def test_public_key_from_a_file(tmp_path: Path, jwt_issuer: JwtIssuer) -> None:
    path = tmp_path / "key.pem"
    path.write_text(jwt_issuer.public_pem)
    setup = build_auth(
        Settings(auth_mode="jwt", auth_jwt_public_key=str(path), auth_jwt_audience="a"), SPECS
    )
    assert setup is not None
    assert setup.describe()["key_source"] == "public_key"
    with pytest.raises(SettingsError, match="MCP_AUTH_JWT_PUBLIC_KEY: neither a PEM"):
        StaticKeySource.from_pem(str(tmp_path / "missing.pem"), ["RS256"])


def test_private_key_and_garbage_pem_are_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(SettingsError, match="private key"):
        StaticKeySource.from_pem(pem, ["RS256"])
    with pytest.raises(SettingsError, match="not a usable PEM"):
        StaticKeySource.from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", ["RS256"]
        )


def test_weak_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = weak.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(SettingsError, match="≥ 2048 bits"):
        StaticKeySource.from_pem(pem, ["RS256"])


@pytest.mark.parametrize(
    "url", ["http://idp.example.com/jwks", "ftp://127.0.0.1/jwks", "file:///etc/jwks"]
)
def test_jwks_url_must_be_https_off_loopback(url: str) -> None:
    with pytest.raises(SettingsError, match="MCP_AUTH_JWT_JWKS_URL"):
        JwksKeySource(url, ["RS256"])


def test_describe_has_no_secret_and_names_the_setup() -> None:
    setup = build_auth(
        jwt_settings(
            auth_jwt_issuer="https://idp.example.com/",
            auth_jwt_audience="api://mcp",
            auth_required_scopes=["mcp:use"],
        ),
        SPECS,
    )
    assert setup is not None
    described = setup.describe()
    assert SECRET not in repr(described)
    assert described["algorithms"] == ["HS256"]
    assert described["issuer"] == "https://idp.example.com/"
    assert described["audience"] == "api://mcp"
    assert described["required_scopes"] == ["mcp:use"]
    assert described["tool_scopes"] == {"search": ["docs:read"]}
    assert described["authorization_servers"] == ["https://idp.example.com/"]
    assert described["metadata_paths"] == [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ]
    assert isinstance(setup.verifier, JWTTokenVerifier)
