"""Bearer-token verification with pyjwt, exposed as a FastMCP ``TokenVerifier``.

FastMCP's own ``JWTVerifier`` accepts tokens without ``exp``, never checks ``iat`` and
offers no typed failure reasons; this one requires ``exp`` and ``sub``, refuses a future
``iat``, checks the header ``alg`` against the allowlist *and* the key's family before
any signature work, and reports a bounded ``reason`` for metrics. Verified tokens are
cached by the SHA-256 of the token (bounded LRU, until ``min(exp + leeway, now + ttl)``),
so a token is verified once however many layers ask.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from fastmcp.server.auth import AccessToken, TokenVerificationError, TokenVerifier
from jwt import exceptions as jwt_errors

from mcp_fastapi_server._settings import Settings, SettingsError
from mcp_fastapi_server.auth._errors import AuthFailure, FailureReason
from mcp_fastapi_server.auth._keys import JwksKeySource, KeySource, StaticKeySource

__all__ = ["Identity", "JWTTokenVerifier", "OnFailure", "identity_from_access_token"]

log = logging.getLogger("mcp_fastapi_server.auth")

OnFailure = Callable[[str], None]
MAX_TOKEN_CHARS = 16_384  # larger than any real IdP token (Entra with groups ≈ 6 KiB)
_COMPACT_JWS = re.compile(r"^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to pick the key; pyjwt re-parses and checks it in decode.

    pyjwt's own ``get_unverified_header`` validates the whole token character by character
    in Python (~a third of an uncached verify), and ``decode`` does it again; a regex and
    one base64 decode of the header segment are enough to route by ``alg``/``kid``.
    """
    match = _COMPACT_JWS.match(token)
    if match is None:
        raise AuthFailure("malformed", "the token is not a well-formed JWT")
    segment = match[1]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise AuthFailure("malformed", "the token header is not valid JSON") from None
    if not isinstance(header, dict):
        raise AuthFailure("malformed", "the token header is not a JSON object")
    return header


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for; what the middleware puts on the RequestContext."""

    access_token: AccessToken
    subject: str
    client_id: str | None
    scopes: frozenset[str]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    # OAuth 2 `scope` is one space-separated string; Entra/Okta put `scp` as list or string.
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return frozenset(s for s in raw if s)
    raise AuthFailure("malformed", "the scope claim is neither a string nor a list of strings")


def _client_id(claims: dict[str, Any]) -> str | None:
    for name in ("client_id", "azp", "cid"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def identity_from_access_token(token: AccessToken) -> Identity:
    """An :class:`Identity` for an ``AccessToken`` from a team's own verifier."""
    return Identity(
        access_token=token,
        subject=token.subject or token.client_id,
        client_id=token.client_id,
        scopes=frozenset(token.scopes),
    )


# Most specific first: several pyjwt errors subclass DecodeError / InvalidTokenError.
_ERRORS: tuple[tuple[type[Exception], FailureReason, str], ...] = (
    (jwt_errors.ExpiredSignatureError, "expired", "the token has expired"),
    (jwt_errors.ImmatureSignatureError, "not_yet_valid", "the token is not valid yet"),
    (jwt_errors.InvalidAudienceError, "bad_audience", "the token is not for this audience"),
    (jwt_errors.InvalidIssuerError, "bad_issuer", "the token is from an unexpected issuer"),
    (jwt_errors.InvalidSignatureError, "bad_signature", "the signature does not verify"),
    (jwt_errors.InvalidAlgorithmError, "alg_not_allowed", "the token's alg is not allowed"),
    (jwt_errors.InvalidKeyError, "bad_signature", "the signing key cannot verify this token"),
    (jwt_errors.PyJWTError, "malformed", "the token is not a well-formed JWT"),
)


class JWTTokenVerifier(TokenVerifier):
    """Verifies JWT bearer tokens; ``verify_token`` is FastMCP's hook, ``authenticate`` ours.

    Scopes are not enforced here (that would make a missing scope a 401); the HTTP
    middleware answers 403 ``insufficient_scope`` from the :class:`ScopePolicy`.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: Iterable[str],
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 30.0,
        cache_size: int = 10_000,
        cache_ttl_s: float = 60.0,
        on_failure: OnFailure | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.keys = keys
        self.algorithms = frozenset(algorithms) - {"none"}
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.on_failure = on_failure
        self._cache: OrderedDict[bytes, tuple[float, Identity]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl_s
        self._clock = clock
        self._options: jwt.types.Options = {
            "require": ["exp", "sub"],
            "verify_aud": audience is not None,
            "verify_iss": issuer is not None,
        }

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_failure: OnFailure | None = None, **kwargs: Any
    ) -> JWTTokenVerifier:
        """Build from ``MCP_AUTH_JWT_*``; raises ``SettingsError`` naming the variable."""
        algorithms = settings.auth_jwt_algorithms
        keys: KeySource
        if settings.auth_jwt_jwks_url:
            keys = JwksKeySource(settings.auth_jwt_jwks_url, algorithms)
        elif settings.auth_jwt_public_key is not None:
            pem = settings.auth_jwt_public_key.get_secret_value()
            keys = StaticKeySource.from_pem(pem, algorithms)
        elif settings.auth_jwt_secret is not None:
            secret = settings.auth_jwt_secret.get_secret_value()
            keys = StaticKeySource.from_secret(secret, algorithms)
        else:  # Settings already refuses this; kept for direct callers.
            raise SettingsError("MCP_AUTH_MODE=jwt needs a key source (MCP_AUTH_JWT_JWKS_URL, …)")
        if settings.auth_jwt_audience is None:
            log.warning(
                "MCP_AUTH_JWT_AUDIENCE is not set: tokens issued for any API of the issuer "
                "are accepted; set it to this server's audience"
            )
        return cls(
            keys,
            algorithms=algorithms,
            issuer=settings.auth_jwt_issuer,
            audience=settings.auth_jwt_audience,
            leeway_s=settings.auth_leeway_s,
            on_failure=on_failure,
            **kwargs,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """FastMCP's hook: ``None`` for a bad token, ``TokenVerificationError`` when undecidable."""
        try:
            return (await self.authenticate(token)).access_token
        except AuthFailure as failure:
            if self.on_failure is not None:
                self.on_failure(failure.reason)
            if failure.unavailable:
                raise TokenVerificationError(failure.description) from None
            return None

    async def authenticate(self, token: str) -> Identity:
        """Verify ``token`` (or reuse a cached verdict); raise :class:`AuthFailure`."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthFailure("malformed", "the token is empty or too long")
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None:
            if hit[0] > now:
                self._cache.move_to_end(digest)
                return hit[1]
            del self._cache[digest]
        identity, exp = await self._verify(token, now)
        if self._cache_size > 0:
            self._cache[digest] = (min(exp + self.leeway_s, now + self._cache_ttl), identity)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return identity

    async def _verify(self, token: str, now: float) -> tuple[Identity, float]:
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
            raise AuthFailure("malformed", "the token header has no valid alg/kid")
        if alg not in self.algorithms:
            raise AuthFailure("alg_not_allowed", "the token's alg is not allowed")
        key = await self.keys.get(kid)
        if alg not in key.algorithms:  # e.g. HS256 presented against an RSA key
            raise AuthFailure("alg_not_allowed", "the token's alg does not fit the signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(key.algorithms),  # from config, never from the token
                options=self._options,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
            )
        except jwt_errors.MissingRequiredClaimError as exc:
            raise AuthFailure("missing_claim", f"the token has no {exc.claim} claim") from None
        except jwt_errors.PyJWTError as exc:
            for kind, reason, text in _ERRORS:
                if isinstance(exc, kind):
                    raise AuthFailure(reason, text) from None
            raise AuthFailure("malformed", "the token is not a well-formed JWT") from None
        return self._identity(token, claims, now)

    def _identity(self, token: str, claims: dict[str, Any], now: float) -> tuple[Identity, float]:
        iat = claims.get("iat")
        # pyjwt < 2.10 only checks that iat is a number; a future iat means a bad clock or
        # a forged token, so refuse it ourselves whatever pyjwt version is installed.
        if isinstance(iat, int | float) and iat > now + self.leeway_s:
            raise AuthFailure("not_yet_valid", "the token was issued in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthFailure("missing_claim", "the token has no sub claim")
        exp = float(claims["exp"])
        scopes = _scopes(claims)
        client_id = _client_id(claims)
        access = AccessToken(
            token=token,
            client_id=client_id or subject,
            scopes=sorted(scopes),
            expires_at=int(exp),
            subject=subject,
            claims=claims,
        )
        return Identity(access, subject, client_id, scopes), exp

    def describe(self) -> dict[str, Any]:
        """What ``mcp-server check`` prints: no secrets, no key material."""
        return {
            **self.keys.describe(),
            "algorithms": sorted(self.algorithms),
            "issuer": self.issuer,
            "audience": self.audience,
            "leeway_s": self.leeway_s,
            "required_claims": ["exp", "sub"],
            "token_cache": {"size": self._cache_size, "ttl_s": self._cache_ttl},
        }

    async def aclose(self) -> None:
        await self.keys.aclose()
