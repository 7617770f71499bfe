"""JWT fixtures: an issuer with real keys, good and bad tokens, and a JWKS served over HTTP.

``jwt_issuer`` is an RS256 issuer whose JWKS is served on 127.0.0.1 (a free port) by a
stdlib ``ThreadingHTTPServer`` in a thread: a JWKS is one static JSON document, so a full
ASGI stack would only add start-up time. ``jwt_issuer_factory(alg=...)`` makes more
(``RS256``/``PS256``/``ES256``/``ES384``/``EdDSA``/``HS256``…). Everything is shut down at
teardown. Nothing here depends on ``mcp_fastapi_server``: point any server at ``.jwks_url``,
``.public_pem`` or ``.secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

__all__ = ["JwksServer", "JwtIssuer", "jwt_issuer", "jwt_issuer_factory"]

DEFAULT_ISSUER = "https://issuer.test"
DEFAULT_AUDIENCE = "mcp-test"
_CURVES: dict[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}


@dataclass(frozen=True)
class _Key:
    kid: str
    private: Any  # bytes for HMAC
    public: Any


def _new_key(alg: str) -> _Key:
    kid = secrets.token_hex(8)
    if alg.startswith("HS"):
        raw = secrets.token_bytes(64)
        return _Key(kid, raw, raw)
    private: Any
    if alg[:2] in {"RS", "PS"}:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg in _CURVES:
        private = ec.generate_private_key(_CURVES[alg])
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported alg {alg!r}")
    return _Key(kid, private, private.public_key())


def _jwk(key: _Key, alg: str) -> dict[str, Any]:
    if alg[:2] in {"RS", "PS"}:
        data = RSAAlgorithm.to_jwk(key.public, as_dict=True)
    elif alg in _CURVES:
        data = ECAlgorithm.to_jwk(key.public, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(key.public, as_dict=True)
    return {**data, "kid": key.kid, "alg": alg, "use": "sig"}


def _hs_secret(key: _Key) -> str:
    # Servers are configured with text; the secret is the base64url of 64 random bytes.
    return base64url_encode(key.private).decode()


def _b64json(obj: dict[str, Any]) -> str:
    return base64url_encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


class JwksServer:
    """Serves ``GET /jwks.json`` from a callable on 127.0.0.1; counts requests."""

    def __init__(self, jwks: Callable[[], dict[str, Any]]) -> None:
        self.requests = 0
        self.available = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                if self.path.split("?", 1)[0] != "/jwks.json":
                    self.send_error(404)
                    return
                if not owner.available:
                    self.send_error(503)
                    return
                body = json.dumps(jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class JwtIssuer:
    """Mints tokens like an identity provider would, plus every kind of bad token."""

    def __init__(
        self,
        alg: str = "RS256",
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        serve_jwks: bool = True,
    ) -> None:
        self.alg = alg
        self.issuer = issuer
        self.audience = audience
        self._keys = [_new_key(alg)]
        self._stranger_key: _Key | None = None
        self._server: JwksServer | None = None
        if serve_jwks and not self.symmetric:
            self._server = JwksServer(self.jwks)

    # --- keys ---------------------------------------------------------------------------
    @property
    def symmetric(self) -> bool:
        return self.alg.startswith("HS")

    @property
    def kid(self) -> str:
        return self._keys[-1].kid

    @property
    def secret(self) -> str:
        """The HMAC secret (HS issuers only), as the text a server would be configured with."""
        if not self.symmetric:
            raise TypeError(f"{self.alg} issuers have no shared secret")
        return _hs_secret(self._keys[-1])

    def _signing_key(self, key: _Key) -> Any:
        return _hs_secret(key).encode() if self.symmetric else key.private

    @property
    def public_pem(self) -> str:
        """The current public key as PEM (asymmetric issuers only)."""
        if self.symmetric:
            raise TypeError("HMAC issuers have no public key")
        pem: bytes = self._keys[-1].public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def jwks(self) -> dict[str, Any]:
        """The published key set (every current key; HMAC secrets are never published)."""
        return {"keys": [_jwk(key, self.alg) for key in self._keys]}

    @property
    def jwks_url(self) -> str:
        if self._server is None:
            raise TypeError("this issuer serves no JWKS (HMAC, or serve_jwks=False)")
        return self._server.url

    @property
    def jwks_requests(self) -> int:
        """How many times the JWKS was requested (to check a verifier's refetch floor)."""
        return self._server.requests if self._server else 0

    def set_jwks_available(self, available: bool) -> None:
        """Make the JWKS endpoint answer 503 (``False``) to simulate an IdP outage."""
        if self._server is not None:
            self._server.available = available

    def rotate(self, *, keep_previous: bool = True) -> str:
        """Start signing with a new key; publish it (next to the old one by default)."""
        key = _new_key(self.alg)
        self._keys = [*self._keys, key] if keep_previous else [key]
        return key.kid

    # --- tokens -------------------------------------------------------------------------
    def claims(
        self, sub: str | None = "user-1", scopes: Iterable[str] = ("mcp:read",), **claims: Any
    ) -> dict[str, Any]:
        """Default claims (iss, aud, sub, iat, nbf, exp=+5 min, scope); ``None`` drops one."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "scope": " ".join(scopes),
            "client_id": "test-client",
        }
        base.update(claims)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        sub: str | None = "user-1",
        scopes: Iterable[str] = ("mcp:read",),
        *,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A valid token for ``sub`` with ``scopes``; extra keyword claims override defaults."""
        return self._sign(self.claims(sub, scopes, **claims), self._keys[-1], headers)

    def _sign(self, payload: dict[str, Any], key: _Key, headers: dict[str, Any] | None) -> str:
        return jwt.encode(
            payload,
            self._signing_key(key),
            algorithm=self.alg,
            headers={"kid": key.kid, **(headers or {})},
        )

    def expired(self, **kw: Any) -> str:
        now = int(time.time())
        return self.token(iat=now - 3600, nbf=now - 3600, exp=now - 600, **kw)

    def future_nbf(self, **kw: Any) -> str:
        return self.token(nbf=int(time.time()) + 3600, exp=int(time.time()) + 7200, **kw)

    def future_iat(self, **kw: Any) -> str:
        return self.token(iat=int(time.time()) + 3600, nbf=None, **kw)

    def without_exp(self, **kw: Any) -> str:
        return self.token(exp=None, **kw)

    def without_sub(self, **kw: Any) -> str:
        return self.token(sub=None, **kw)

    def wrong_audience(self, **kw: Any) -> str:
        return self.token(aud="someone-else", **kw)

    def wrong_issuer(self, **kw: Any) -> str:
        return self.token(iss="https://evil.example", **kw)

    @property
    def _stranger(self) -> _Key:
        # One unpublished key per issuer: RSA key generation costs ~0.1-0.2 s.
        if self._stranger_key is None:
            self._stranger_key = _new_key(self.alg)
        return self._stranger_key

    def bad_signature(self, **kw: Any) -> str:
        """Signed by a stranger's key under the current ``kid``."""
        stranger = self._stranger
        payload = self.claims(**kw)
        if self.symmetric:
            return jwt.encode(payload, self._fresh_secret(), self.alg, {"kid": self.kid})
        return jwt.encode(payload, stranger.private, self.alg, {"kid": self.kid})

    @staticmethod
    def _fresh_secret() -> str:
        return base64url_encode(secrets.token_bytes(64)).decode()

    def unknown_kid(self, **kw: Any) -> str:
        """Signed by a key the JWKS does not publish, with a new ``kid`` nobody knows."""
        stranger = self._stranger
        key = _Key("unknown-" + secrets.token_hex(8), stranger.private, stranger.public)
        if self.symmetric:
            return jwt.encode(self.claims(**kw), self._fresh_secret(), self.alg, {"kid": key.kid})
        return self._sign(self.claims(**kw), key, None)

    def alg_none(self, **kw: Any) -> str:
        """An unsigned token (``alg: none``). Built by hand: pyjwt will not mint one with a kid."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_b64json(header)}.{_b64json(self.claims(**kw))}."

    def hs256_with_public_key(self, **kw: Any) -> str:
        """The algorithm-confusion attack: HS256 with the public PEM as the HMAC secret.

        pyjwt refuses to sign this (it recognises the PEM), so the JWS is built by hand.
        """
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64json(header)}.{_b64json(self.claims(**kw))}"
        mac = hmac.new(self.public_pem.encode(), signing_input.encode(), hashlib.sha256)
        return f"{signing_input}.{base64url_encode(mac.digest()).decode()}"

    # --- wiring ---------------------------------------------------------------------------
    def env(self, key_source: str = "jwks") -> dict[str, str]:
        """``MCP_*`` variables pointing our server at this issuer (``jwks``/``pem``/``secret``)."""
        out = {
            "MCP_AUTH_MODE": "jwt",
            "MCP_AUTH_JWT_ALGORITHMS": self.alg,
            "MCP_AUTH_JWT_ISSUER": self.issuer,
            "MCP_AUTH_JWT_AUDIENCE": self.audience,
        }
        if self.symmetric or key_source == "secret":
            out["MCP_AUTH_JWT_SECRET"] = self.secret
        elif key_source == "pem":
            out["MCP_AUTH_JWT_PUBLIC_KEY"] = self.public_pem
        else:
            out["MCP_AUTH_JWT_JWKS_URL"] = self.jwks_url
        return out

    def settings_fields(self, key_source: str = "jwks") -> dict[str, str]:
        """:meth:`env` as keyword arguments of ``mcp_fastapi_server.Settings`` (in-process apps)."""
        return {k.removeprefix("MCP_").lower(): v for k, v in self.env(key_source).items()}

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> JwtIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def jwt_issuer_factory() -> Iterator[Callable[..., JwtIssuer]]:
    """``make(alg="ES256", issuer=..., audience=..., serve_jwks=True) -> JwtIssuer``."""
    made: list[JwtIssuer] = []

    def make(alg: str = "RS256", **kwargs: Any) -> JwtIssuer:
        issuer = JwtIssuer(alg, **kwargs)
        made.append(issuer)
        return issuer

    yield make
    for issuer in made:
        issuer.close()


@pytest.fixture
def jwt_issuer(jwt_issuer_factory: Callable[..., JwtIssuer]) -> JwtIssuer:
    """An RS256 issuer with its JWKS served on 127.0.0.1."""
    return jwt_issuer_factory("RS256")
