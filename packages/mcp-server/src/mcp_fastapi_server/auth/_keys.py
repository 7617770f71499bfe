"""Where verification keys come from: a JWKS URL (cached), a PEM public key, or an HMAC secret.

Every key is stored with the algorithms it may verify: the configured allowlist, cut to the
key's family (HMAC / RSA / EC by curve / EdDSA) and to the JWK's own ``alg`` when it names
one. The verifier refuses a token whose header ``alg`` is not in that set *before* any
signature check, which is what stops algorithm confusion (an HS256 token "signed" with the
RSA public key) and ``alg: none``.

pyjwt's ``PyJWKClient`` is synchronous (urllib) and refetches on every unknown ``kid``;
the JWKS cache below is async (httpx), coalesces concurrent refetches and keeps a floor
between them so a flood of made-up ``kid`` values cannot hammer the identity provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWKError, PyJWTError

from mcp_fastapi_server._settings import SettingsError
from mcp_fastapi_server.auth._errors import AuthFailure

if TYPE_CHECKING:  # httpx (~0.2 s to import) loads on the first JWKS fetch, not at start-up
    import httpx

__all__ = [
    "FAMILY_ALGORITHMS",
    "JwksKeySource",
    "KeyFamily",
    "KeySource",
    "StaticKeySource",
    "VerificationKey",
    "algorithms_for_key",
]

log = logging.getLogger("mcp_fastapi_server.auth")

KeyFamily = Literal["hmac", "rsa", "ec", "okp"]

FAMILY_ALGORITHMS: Mapping[KeyFamily, frozenset[str]] = {
    "hmac": frozenset({"HS256", "HS384", "HS512"}),
    "rsa": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "ec": frozenset({"ES256", "ES384", "ES512"}),
    "okp": frozenset({"EdDSA"}),
}
_EC_CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 §3.2: key ≥ hash size
_RSA_MIN_BITS = 2048


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One key and the algorithms it may verify (never empty, never ``none``)."""

    key: Any  # bytes for HMAC, a cryptography public key otherwise
    family: KeyFamily
    algorithms: tuple[str, ...]
    kid: str | None = None


def _family(key: Any) -> KeyFamily:
    if isinstance(key, bytes):
        return "hmac"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "okp"
    raise ValueError(f"unsupported key type {type(key).__name__}")


def algorithms_for_key(
    key: Any, allowlist: Iterable[str], jwk_alg: str | None = None
) -> tuple[str, ...]:
    """The allowlisted algorithms this key can verify; empty when none fits."""
    family = _family(key)
    fits = set(FAMILY_ALGORITHMS[family]) & set(allowlist)
    if family == "ec":
        fits &= {_EC_CURVE_ALG.get(key.curve.name, "")}
    elif family == "hmac":
        fits = {alg for alg in fits if len(key) >= _HMAC_MIN_BYTES[alg]}
    elif family == "rsa" and key.key_size < _RSA_MIN_BITS:
        fits = set()
    if jwk_alg:
        fits &= {jwk_alg}
    fits.discard("none")
    return tuple(sorted(fits))


class KeySource(Protocol):
    """Finds the key for a token's ``kid``; raises :class:`AuthFailure` when it cannot."""

    async def get(self, kid: str | None) -> VerificationKey: ...

    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def _public(key: Any) -> Any:
    # A JWKS that (wrongly) publishes private parts still only needs the public half here.
    public_key = getattr(key, "public_key", None)
    return public_key() if callable(public_key) else key


class StaticKeySource:
    """A single configured key (PEM public key or HMAC secret); ``kid`` is ignored."""

    def __init__(self, key: VerificationKey, *, kind: str) -> None:
        self._key = key
        self._kind = kind

    @classmethod
    def from_secret(cls, secret: str, allowlist: Iterable[str]) -> StaticKeySource:
        """An HMAC shared secret (``MCP_AUTH_JWT_SECRET``)."""
        raw = secret.encode()
        allowed = list(allowlist)
        algorithms = algorithms_for_key(raw, allowed)
        if not algorithms:
            hs = sorted(set(allowed) & FAMILY_ALGORITHMS["hmac"])
            why = (
                f"the secret is {len(raw)} bytes; {', '.join(hs)} need at least "
                f"{min(_HMAC_MIN_BYTES[a] for a in hs)} bytes"
                if hs
                else f"{', '.join(allowed)} cannot use an HMAC secret; set e.g. HS256"
            )
            raise SettingsError(f"MCP_AUTH_JWT_SECRET / MCP_AUTH_JWT_ALGORITHMS: {why}")
        _refuse_mixed(allowed, algorithms, "an HMAC secret (MCP_AUTH_JWT_SECRET)")
        return cls(VerificationKey(raw, "hmac", algorithms), kind="secret")

    @classmethod
    def from_pem(cls, value: str, allowlist: Iterable[str]) -> StaticKeySource:
        """A PEM public key or certificate, given inline or as a file path."""
        text = value.strip()
        if not text.startswith("-----BEGIN"):
            path = Path(text).expanduser()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(
                    "MCP_AUTH_JWT_PUBLIC_KEY: neither a PEM value nor a readable file "
                    f"({exc.strerror or exc})"
                ) from None
        if "PRIVATE KEY-----" in text.split("\n", 1)[0]:
            raise SettingsError(
                "MCP_AUTH_JWT_PUBLIC_KEY: this is a private key; give the public key"
            )
        try:
            if text.startswith("-----BEGIN CERTIFICATE"):
                key: Any = x509.load_pem_x509_certificate(text.encode()).public_key()
            else:
                key = serialization.load_pem_public_key(text.encode())
            family = _family(key)
        except ValueError as exc:
            raise SettingsError(
                f"MCP_AUTH_JWT_PUBLIC_KEY: not a usable PEM public key ({exc})"
            ) from None
        allowed = list(allowlist)
        algorithms = algorithms_for_key(key, allowed)
        if not algorithms:
            raise SettingsError(
                f"MCP_AUTH_JWT_ALGORITHMS: {', '.join(allowed)} cannot verify with this "
                f"{family.upper()} public key (RSA needs ≥ {_RSA_MIN_BITS} bits)"
            )
        _refuse_mixed(allowed, algorithms, f"an {family.upper()} public key")
        return cls(VerificationKey(key, family, algorithms), kind="public_key")

    async def get(self, kid: str | None) -> VerificationKey:
        return self._key

    def describe(self) -> dict[str, Any]:
        return {"key_source": self._kind, "key_family": self._key.family}

    async def aclose(self) -> None:
        return None


def _refuse_mixed(allowed: list[str], usable: tuple[str, ...], what: str) -> None:
    # An allowlist that names algorithms the single key cannot serve is a configuration
    # mistake (often HS256 left next to RS256); say so at start-up instead of 401s later.
    extra = sorted(set(allowed) - set(usable))
    if extra:
        raise SettingsError(
            f"MCP_AUTH_JWT_ALGORITHMS: {', '.join(extra)} cannot be used with {what}; "
            f"allow only {', '.join(usable)}"
        )


class JwksKeySource:
    """Keys from a JWKS URL, cached; refetched when stale or on an unknown ``kid``.

    Refetches are coalesced (one in flight; waiters reuse its result) and at most one
    happens per ``min_refetch_interval_s``. When a refetch fails the last good set stays in
    use. ``clock`` is injectable so tests can step time instead of sleeping.
    """

    def __init__(
        self,
        url: str,
        allowlist: Iterable[str],
        *,
        min_refetch_interval_s: float = 30.0,
        max_age_s: float = 3600.0,
        timeout_s: float = 5.0,
        max_bytes: int = 1_048_576,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise SettingsError(
                "MCP_AUTH_JWT_JWKS_URL: must be an https:// URL (http:// only on loopback)"
            )
        self.url = url
        self._allowlist = tuple(allowlist)
        self._floor = min_refetch_interval_s
        self._max_age = max_age_s
        self._timeout = timeout_s
        self._max_bytes = max_bytes
        self._client = http_client
        self._clock = clock
        self._keys: dict[str | None, VerificationKey] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        self._generation = 0
        self._last_failed = False
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def get(self, kid: str | None) -> VerificationKey:
        if self._keys is None or self._clock() - self._fetched_at >= self._max_age:
            await self._refresh()
        if self._keys is None:
            raise AuthFailure("jwks_unavailable", "the signing keys could not be fetched")
        key = self._lookup(kid)
        if key is not None:
            return key
        if kid is None:
            raise AuthFailure("unknown_kid", "token has no kid and the key set has several keys")
        await self._refresh()
        key = self._lookup(kid)
        if key is not None:
            return key
        if self._last_failed:  # the IdP is failing: the kid may be a new, legitimate key
            raise AuthFailure("jwks_unavailable", "the signing keys could not be refreshed")
        raise AuthFailure("unknown_kid", "the token's signing key is not in the key set")

    def _lookup(self, kid: str | None) -> VerificationKey | None:
        keys = self._keys or {}
        if kid is None:
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    async def _refresh(self) -> Literal["fetched", "coalesced", "floor", "failed"]:
        import httpx

        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return "coalesced"  # another task fetched while we waited for the lock
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < self._floor:
                return "floor"
            self._last_attempt = now
            self.fetch_count += 1
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError, PyJWTError) as exc:
                log.warning("JWKS fetch from %s failed: %s", self.url, exc)
                self._last_failed = True
                return "failed"
            self._keys, self._fetched_at, self._last_failed = keys, now, False
            self._generation += 1
            return "fetched"

    async def _fetch(self) -> dict[str | None, VerificationKey]:
        import httpx

        client = self._client or httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        try:
            async with client.stream(
                "GET", self.url, headers={"Accept": "application/json"}
            ) as resp:
                if resp.status_code != 200:
                    raise ValueError(f"HTTP {resp.status_code}")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise ValueError(f"key set larger than {self._max_bytes} bytes")
        finally:
            if self._client is None:
                await client.aclose()
        return self._parse(orjson.loads(bytes(body)))

    def _parse(self, doc: Any) -> dict[str | None, VerificationKey]:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ValueError("not a JWK set (no 'keys' list)")
        keys: dict[str | None, VerificationKey] = {}
        for jwk in doc["keys"]:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            kid = kid if isinstance(kid, str) else None
            jwk_alg = jwk.get("alg") if isinstance(jwk.get("alg"), str) else None
            try:
                key = _public(PyJWK(jwk, jwk_alg).key)
                algorithms = algorithms_for_key(key, self._allowlist, jwk_alg)
                family = _family(key)
            except (PyJWKError, PyJWTError, ValueError, TypeError) as exc:
                log.debug("JWKS %s: skipping key %s: %s", self.url, kid, exc)
                continue
            if algorithms and kid not in keys:
                keys[kid] = VerificationKey(key, family, algorithms, kid)
        if not keys:
            raise ValueError("no key in the set fits MCP_AUTH_JWT_ALGORITHMS")
        return keys

    def describe(self) -> dict[str, Any]:
        return {
            "key_source": "jwks",
            "jwks_url": self.url,
            "jwks_min_refetch_interval_s": self._floor,
            "jwks_max_age_s": self._max_age,
        }

    async def aclose(self) -> None:
        # A client per fetch is closed after use; an injected client belongs to its owner.
        return None
