"""JWTTokenVerifier with real keys (RSA, RSA-PSS, EC, Ed25519, HMAC) and a real JWKS over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastmcp.server.auth import TokenVerificationError

from mcp_fastapi_server.auth import (
    AuthFailure,
    JwksKeySource,
    JWTTokenVerifier,
    KeySource,
    StaticKeySource,
    VerificationKey,
)
from mcp_testkit.jwt import JwtIssuer

Factory = Callable[..., JwtIssuer]


class Clock:
    """A monotonic clock the test steps by hand (no sleeping, no timing assertions)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingKeys:
    """Wraps a real key source and counts lookups (to see the token cache at work)."""

    def __init__(self, inner: KeySource) -> None:
        self.inner, self.calls = inner, 0

    async def get(self, kid: str | None) -> VerificationKey:
        self.calls += 1
        return await self.inner.get(kid)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        await self.inner.aclose()


def verifier_for(issuer: JwtIssuer, source: str = "jwks", **kw: Any) -> JWTTokenVerifier:
    algs = [issuer.alg]
    keys: KeySource
    if source == "jwks":
        keys = JwksKeySource(issuer.jwks_url, algs, **kw.pop("jwks", {}))
    elif source == "pem":
        keys = StaticKeySource.from_pem(issuer.public_pem, algs)
    else:
        keys = StaticKeySource.from_secret(issuer.secret, algs)
    return JWTTokenVerifier(
        keys, algorithms=algs, issuer=issuer.issuer, audience=issuer.audience, **kw
    )


async def reason_of(verifier: JWTTokenVerifier, token: str) -> str:
    with pytest.raises(AuthFailure) as caught:
        await verifier.authenticate(token)
    return caught.value.reason


@pytest.mark.parametrize(
    ("alg", "source"),
    [
        ("RS256", "jwks"),
        ("RS256", "pem"),
        ("PS256", "jwks"),
        ("ES256", "jwks"),
        ("ES384", "pem"),
        ("EdDSA", "jwks"),
        ("EdDSA", "pem"),
        ("HS256", "secret"),
        ("HS512", "secret"),
    ],
)
async def test_valid_token_gives_identity(
    jwt_issuer_factory: Factory, alg: str, source: str
) -> None:
    issuer = jwt_issuer_factory(alg)
    verifier = verifier_for(issuer, source)
    token = issuer.token(sub="alice", scopes=["mcp:read", "docs:read"], client_id=None, azp="app")
    identity = await verifier.authenticate(token)
    assert identity.subject == "alice"
    assert identity.client_id == "app"
    assert identity.scopes == {"mcp:read", "docs:read"}
    assert identity.access_token.claims["iss"] == issuer.issuer
    assert (await verifier.verify_token(token)) is not None


BAD = {
    "expired": "expired",
    "future_nbf": "not_yet_valid",
    "future_iat": "not_yet_valid",
    "without_exp": "missing_claim",
    "without_sub": "missing_claim",
    "wrong_issuer": "bad_issuer",
    "wrong_audience": "bad_audience",
    "bad_signature": "bad_signature",
    "unknown_kid": "unknown_kid",
    "alg_none": "alg_not_allowed",
}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_tokens_fail_with_their_reason(
    jwt_issuer_factory: Factory, alg: str, case: str
) -> None:
    issuer = jwt_issuer_factory(alg)
    verifier = verifier_for(issuer, jwks={"min_refetch_interval_s": 3600})
    assert await reason_of(verifier, getattr(issuer, case)()) == BAD[case]


@pytest.mark.parametrize("case", sorted(set(BAD) - {"unknown_kid"}))
async def test_bad_hs_tokens_fail_with_their_reason(jwt_issuer_factory: Factory, case: str) -> None:
    issuer = jwt_issuer_factory("HS256")
    verifier = verifier_for(issuer, "secret")
    assert await reason_of(verifier, getattr(issuer, case)()) == BAD[case]


@pytest.mark.parametrize("source", ["jwks", "pem"])
async def test_algorithm_confusion_is_refused(jwt_issuer: JwtIssuer, source: str) -> None:
    # Even with HS256 on the allowlist, an RSA key never verifies an HMAC token.
    keys: KeySource = (
        JwksKeySource(jwt_issuer.jwks_url, ["RS256", "HS256"])
        if source == "jwks"
        else StaticKeySource.from_pem(jwt_issuer.public_pem, ["RS256"])
    )
    verifier = JWTTokenVerifier(keys, algorithms=["RS256", "HS256"], audience=jwt_issuer.audience)
    token = jwt_issuer.hs256_with_public_key()
    assert await reason_of(verifier, token) == "alg_not_allowed"


async def test_hs_secret_refuses_rs_tokens(jwt_issuer_factory: Factory) -> None:
    hs, rs = jwt_issuer_factory("HS256"), jwt_issuer_factory("RS256")
    verifier = verifier_for(hs, "secret")
    assert await reason_of(verifier, rs.token(iss=hs.issuer)) == "alg_not_allowed"


async def test_leeway_is_honoured(jwt_issuer: JwtIssuer) -> None:
    now = int(time.time())
    just_expired = jwt_issuer.token(exp=now - 10, iat=now - 100, nbf=now - 100)
    nearly_valid = jwt_issuer.token(nbf=now + 10, iat=now + 10)
    lenient = verifier_for(jwt_issuer, leeway_s=30)
    strict = verifier_for(jwt_issuer, leeway_s=0)
    assert (await lenient.authenticate(just_expired)).subject == "user-1"
    assert (await lenient.authenticate(nearly_valid)).subject == "user-1"
    assert await reason_of(strict, just_expired) == "expired"
    assert await reason_of(strict, nearly_valid) == "not_yet_valid"


async def test_scp_claim_and_client_id_fallbacks(jwt_issuer: JwtIssuer) -> None:
    verifier = verifier_for(jwt_issuer)
    as_list = jwt_issuer.token(scopes=[], scope=None, scp=["a", "b"], client_id=None, cid="okta")
    identity = await verifier.authenticate(as_list)
    assert identity.scopes == {"a", "b"}
    assert identity.client_id == "okta"
    as_string = jwt_issuer.token(scope=None, scp="x y", client_id=None)
    identity = await verifier.authenticate(as_string)
    assert identity.scopes == {"x", "y"}
    assert identity.client_id is None
    assert identity.access_token.client_id == "user-1"  # FastMCP wants a str: falls back to sub
    assert await reason_of(verifier, jwt_issuer.token(scope=None, scp=[1, 2])) == "malformed"


async def test_garbage_and_oversized_tokens_are_malformed(jwt_issuer: JwtIssuer) -> None:
    verifier = verifier_for(jwt_issuer)
    for token in ["", "abc", "a.b.c", "x" * 20_000]:
        assert await reason_of(verifier, token) == "malformed"


async def test_verify_token_hook_returns_none_and_counts(jwt_issuer: JwtIssuer) -> None:
    seen: list[str] = []
    verifier = verifier_for(jwt_issuer, on_failure=seen.append)
    assert await verifier.verify_token(jwt_issuer.expired()) is None
    assert seen == ["expired"]


# --- the token cache ---------------------------------------------------------------------


async def test_cache_skips_reverification_until_ttl(jwt_issuer: JwtIssuer) -> None:
    clock = Clock()
    keys = CountingKeys(StaticKeySource.from_pem(jwt_issuer.public_pem, ["RS256"]))
    verifier = JWTTokenVerifier(
        keys, algorithms=["RS256"], audience=jwt_issuer.audience, cache_ttl_s=60, clock=clock
    )
    token = jwt_issuer.token()
    for _ in range(5):
        await verifier.authenticate(token)
    assert keys.calls == 1
    clock.advance(61)
    await verifier.authenticate(token)
    assert keys.calls == 2


async def test_cache_never_outlives_exp(jwt_issuer: JwtIssuer) -> None:
    clock = Clock()
    keys = CountingKeys(StaticKeySource.from_pem(jwt_issuer.public_pem, ["RS256"]))
    verifier = JWTTokenVerifier(
        keys, algorithms=["RS256"], audience=jwt_issuer.audience, leeway_s=0,
        cache_ttl_s=600, clock=clock,
    )  # fmt: skip
    token = jwt_issuer.token(exp=int(clock.now) + 20)
    await verifier.authenticate(token)
    clock.advance(10)
    await verifier.authenticate(token)
    assert keys.calls == 1
    clock.advance(15)  # past exp by the verifier's clock: the cached verdict is dropped
    await verifier.authenticate(token)
    assert keys.calls == 2


async def test_cache_is_a_bounded_lru(jwt_issuer: JwtIssuer) -> None:
    keys = CountingKeys(StaticKeySource.from_pem(jwt_issuer.public_pem, ["RS256"]))
    verifier = JWTTokenVerifier(
        keys, algorithms=["RS256"], audience=jwt_issuer.audience, cache_size=2
    )
    a, b, c = (jwt_issuer.token(sub=s) for s in "abc")
    for token in (a, b, a, c):  # c evicts b (a was used more recently)
        await verifier.authenticate(token)
    assert keys.calls == 3
    await verifier.authenticate(a)
    assert keys.calls == 3
    await verifier.authenticate(b)
    assert keys.calls == 4


# --- JWKS: rotation, refetch floor, coalescing, outages --------------------------------------


async def test_rotation_is_picked_up_after_the_refetch_floor(jwt_issuer: JwtIssuer) -> None:
    clock = Clock(0.0)
    verifier = verifier_for(jwt_issuer, jwks={"min_refetch_interval_s": 30, "clock": clock})
    assert (await verifier.authenticate(jwt_issuer.token())).subject == "user-1"
    assert jwt_issuer.jwks_requests == 1
    old = jwt_issuer.token(sub="old")
    jwt_issuer.rotate()
    new = jwt_issuer.token(sub="new")
    # Within the floor the new kid is unknown and no refetch happens.
    assert await reason_of(verifier, new) == "unknown_kid"
    assert jwt_issuer.jwks_requests == 1
    clock.advance(31)
    assert (await verifier.authenticate(new)).subject == "new"
    assert (await verifier.authenticate(old)).subject == "old"  # old key kept during overlap
    assert jwt_issuer.jwks_requests == 2


async def test_flood_of_unknown_kids_is_held_by_the_floor(jwt_issuer: JwtIssuer) -> None:
    clock = Clock(0.0)
    verifier = verifier_for(jwt_issuer, jwks={"min_refetch_interval_s": 30, "clock": clock})
    await verifier.authenticate(jwt_issuer.token())
    for _ in range(20):
        assert await reason_of(verifier, jwt_issuer.unknown_kid()) == "unknown_kid"
    assert jwt_issuer.jwks_requests == 1
    clock.advance(30)
    for _ in range(20):
        assert await reason_of(verifier, jwt_issuer.unknown_kid()) == "unknown_kid"
    assert jwt_issuer.jwks_requests == 2


async def test_concurrent_refetches_are_coalesced(jwt_issuer: JwtIssuer) -> None:
    verifier = verifier_for(jwt_issuer, jwks={"min_refetch_interval_s": 0})
    tokens = [jwt_issuer.token(sub=f"u{i}") for i in range(25)]
    identities = await asyncio.gather(*(verifier.authenticate(t) for t in tokens))
    assert {i.subject for i in identities} == {f"u{i}" for i in range(25)}
    assert jwt_issuer.jwks_requests == 1


async def test_jwks_down_at_start_is_unavailable_not_invalid(jwt_issuer: JwtIssuer) -> None:
    jwt_issuer.set_jwks_available(False)
    verifier = verifier_for(jwt_issuer)
    assert await reason_of(verifier, jwt_issuer.token()) == "jwks_unavailable"
    with pytest.raises(TokenVerificationError):
        await verifier.verify_token(jwt_issuer.token(sub="other"))


async def test_outage_keeps_known_keys_and_reports_unknown_as_unavailable(
    jwt_issuer: JwtIssuer,
) -> None:
    clock = Clock(0.0)
    verifier = verifier_for(
        jwt_issuer, jwks={"min_refetch_interval_s": 30, "max_age_s": 3600, "clock": clock}
    )
    await verifier.authenticate(jwt_issuer.token())
    jwt_issuer.set_jwks_available(False)
    clock.advance(4000)  # the set is stale and cannot be refreshed: keep using it
    assert (await verifier.authenticate(jwt_issuer.token(sub="b"))).subject == "b"
    clock.advance(31)
    jwt_issuer.rotate()
    assert await reason_of(verifier, jwt_issuer.token(sub="c")) == "jwks_unavailable"
    jwt_issuer.set_jwks_available(True)
    clock.advance(31)
    assert (await verifier.authenticate(jwt_issuer.token(sub="c"))).subject == "c"


async def test_describe_names_the_source_without_secrets(jwt_issuer_factory: Factory) -> None:
    issuer = jwt_issuer_factory("HS256")
    verifier = verifier_for(issuer, "secret")
    described = verifier.describe()
    assert described["key_source"] == "secret"
    assert described["algorithms"] == ["HS256"]
    assert issuer.secret not in repr(described)
