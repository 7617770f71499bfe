"""The JWT fixtures: tokens verify with plain pyjwt, bad tokens are bad, the JWKS is real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from mcp_testkit.jwt import JwtIssuer

ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]


def decode(issuer: JwtIssuer, token: str, key: Any = None) -> dict[str, Any]:
    if key is None:
        key = issuer.secret if issuer.symmetric else issuer.public_pem
    return jwt.decode(
        token, key, algorithms=[issuer.alg], audience=issuer.audience, issuer=issuer.issuer
    )


@pytest.mark.parametrize("alg", ALGS)
def test_token_has_sensible_defaults(
    jwt_issuer_factory: Callable[..., JwtIssuer], alg: str
) -> None:
    issuer = jwt_issuer_factory(alg)
    token = issuer.token(sub="alice", scopes=["a", "b"], tenant="t1")
    claims = decode(issuer, token)
    assert claims["sub"] == "alice"
    assert claims["scope"] == "a b"
    assert claims["tenant"] == "t1"
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid


def test_jwks_over_http_verifies_tokens_and_counts_requests(jwt_issuer: JwtIssuer) -> None:
    token = jwt_issuer.token()
    client = jwt.PyJWKClient(jwt_issuer.jwks_url, cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    assert decode(jwt_issuer, token, key)["sub"] == "user-1"
    assert jwt_issuer.jwks_requests == 1
    jwt_issuer.set_jwks_available(False)
    assert httpx.get(jwt_issuer.jwks_url).status_code == 503
    assert jwt_issuer.jwks_requests == 2


def test_rotation_publishes_the_new_key_next_to_the_old(jwt_issuer: JwtIssuer) -> None:
    old = jwt_issuer.kid
    new = jwt_issuer.rotate()
    assert new != old
    assert jwt_issuer.kid == new
    kids = [k["kid"] for k in httpx.get(jwt_issuer.jwks_url).json()["keys"]]
    assert kids == [old, new]
    jwt_issuer.rotate(keep_previous=False)
    assert len(jwt_issuer.jwks()["keys"]) == 1


@pytest.mark.parametrize(
    ("maker", "error"),
    [
        ("expired", jwt.ExpiredSignatureError),
        ("future_nbf", jwt.ImmatureSignatureError),
        ("wrong_audience", jwt.InvalidAudienceError),
        ("wrong_issuer", jwt.InvalidIssuerError),
        ("bad_signature", jwt.InvalidSignatureError),
        ("unknown_kid", jwt.InvalidSignatureError),
    ],
)
def test_bad_tokens_fail_plain_pyjwt(
    jwt_issuer: JwtIssuer, maker: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decode(jwt_issuer, getattr(jwt_issuer, maker)())


def test_structural_bad_tokens(jwt_issuer: JwtIssuer) -> None:
    assert "exp" not in jwt.decode(jwt_issuer.without_exp(), options={"verify_signature": False})
    assert "sub" not in jwt.decode(jwt_issuer.without_sub(), options={"verify_signature": False})
    none = jwt_issuer.alg_none()
    assert jwt.get_unverified_header(none)["alg"] == "none"
    assert none.endswith(".")
    confused = jwt_issuer.hs256_with_public_key()
    assert jwt.get_unverified_header(confused)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode(jwt_issuer, confused)


def test_hmac_issuer_has_a_secret_and_no_jwks(jwt_issuer_factory: Callable[..., JwtIssuer]) -> None:
    issuer = jwt_issuer_factory("HS256")
    assert len(issuer.secret) >= 64
    with pytest.raises(TypeError):
        _ = issuer.jwks_url
    assert issuer.env()["MCP_AUTH_JWT_SECRET"] == issuer.secret


def test_env_points_a_server_at_the_issuer(jwt_issuer: JwtIssuer) -> None:
    env = jwt_issuer.env()
    assert env["MCP_AUTH_JWT_JWKS_URL"] == jwt_issuer.jwks_url
    assert env["MCP_AUTH_JWT_AUDIENCE"] == jwt_issuer.audience
    assert jwt_issuer.env("pem")["MCP_AUTH_JWT_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY")


def test_close_stops_the_jwks_server() -> None:
    issuer = JwtIssuer("ES256")
    url = issuer.jwks_url
    assert httpx.get(url).status_code == 200
    issuer.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
