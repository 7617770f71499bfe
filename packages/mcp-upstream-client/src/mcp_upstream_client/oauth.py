"""OAuth 2.1 to an HTTP upstream: the MCP SDK's httpx auth flows, chosen and fed from config.

The SDK's :class:`~mcp.client.auth.OAuthClientProvider` already does the protocol: RFC 9728
protected-resource discovery (from ``WWW-Authenticate`` or the well-known paths), RFC 8414 /
OpenID authorization-server metadata with issuer checks, CIMD, pre-registered clients or
dynamic registration, PKCE (S256), RFC 8707 resource indicators, scope selection, the 403
``insufficient_scope`` step-up (one retry, so a server that never grants cannot loop us)
and refresh. Its client-credentials providers do the machine-to-machine grant. What it
leaves to the application, and this module supplies:

* **Who approves an authorization request.** A server-side manager has no browser and no
  person. :class:`HeadlessAuthorization` (the default) requests the authorization URL and
  follows the authorization server's redirects until one points at ``redirect_uri``; that
  works when the server approves this client without interaction (a pre-consented
  first-party client, an internal authorization server). A login or consent page is an
  :class:`~mcp_upstream_client.errors.UpstreamAuthError` that says so. A team with a person
  in the loop passes its own :data:`AuthorizationHandler` to ``UpstreamManager``.
* **Where tokens live.** :class:`MemoryTokenStore`, one per upstream and process: tokens
  are never written to disk, and a restarted replica authorizes again.
* **Concurrency.** The SDK flow holds one lock from sending a request until its response
  headers arrive, so calls to an upstream that answers with JSON (headers come when the
  tool is done) would run one at a time (measured: 4 concurrent 1 s calls took 4.0 s).
  :class:`ConcurrentOAuth` sends requests that carry a still-valid token without that lock
  and hands only the 401/403 answers (and requests with no valid token) to the SDK flow.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider, OAuthFlowError
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.auth.utils import union_scopes
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl, PrivateAttr

from mcp_upstream_client.config import OAuthConfig

__all__ = [
    "AuthorizationCodeResult",
    "AuthorizationHandler",
    "ConcurrentOAuth",
    "HeadlessAuthorization",
    "MemoryTokenStore",
    "OAuthFlowError",
    "build_auth",
]

log = logging.getLogger("mcp_upstream_client.oauth")

#: Takes the authorization URL (PKCE, state and resource already in it) and returns what the
#: authorization server sent to ``redirect_uri``. Raise to abort the flow.
AuthorizationHandler = Callable[[str], Awaitable[AuthorizationCodeResult]]

_MAX_HOPS = 10  # redirects followed inside the authorization server before giving up


class MemoryTokenStore:
    """The SDK's ``TokenStorage`` in process memory (tokens never touch the disk)."""

    def __init__(self) -> None:
        self._tokens: OAuthToken | None = None
        self._client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client_info = client_info


class HeadlessAuthorization:
    """Approve an authorization request without a browser, if the server lets us.

    Follows the authorization server's own redirects (``/authorize`` → ``/consent`` → …)
    without sending anything but the URL, and stops at the first one aimed at
    ``redirect_uri``: nothing listens there, the code is read from the ``Location``.
    """

    def __init__(self, redirect_uri: str, *, timeout_s: float = 30.0) -> None:
        self.redirect_uri = redirect_uri
        self.timeout_s = timeout_s

    async def __call__(self, authorization_url: str) -> AuthorizationCodeResult:
        url = authorization_url
        async with httpx2.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as http:
            for _ in range(_MAX_HOPS):
                response = await http.get(url)
                location = response.headers.get("location")
                if not response.is_redirect or not location:
                    raise OAuthFlowError(_no_redirect(response))
                url = urljoin(url, location)
                if _same_endpoint(url, self.redirect_uri):
                    return _code_from(url)
        raise OAuthFlowError(f"authorization server redirected more than {_MAX_HOPS} times")


def _no_redirect(response: httpx2.Response) -> str:
    if response.status_code == 200:
        return (
            "the authorization server answered with a page (HTTP 200), not a redirect: it "
            "wants a person to log in or consent, which a server-side client cannot do. "
            "Pre-approve this client at the authorization server, use grant = "
            "'client_credentials', or pass an authorization_handler to UpstreamManager"
        )
    return f"authorization request failed: HTTP {response.status_code}"


def _same_endpoint(url: str, redirect_uri: str) -> bool:
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return (a.scheme, a.netloc.lower(), a.path or "/") == (
        b.scheme,
        b.netloc.lower(),
        b.path or "/",
    )


def _code_from(url: str) -> AuthorizationCodeResult:
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if "error" in query:  # RFC 6749 §4.1.2.1: the server refused
        detail = query.get("error_description", "")
        raise OAuthFlowError(f"authorization refused: {query['error']} {detail}".strip())
    if not query.get("code"):
        raise OAuthFlowError("the redirect to redirect_uri carries no authorization code")
    return AuthorizationCodeResult(
        code=query["code"], state=query.get("state"), iss=query.get("iss")
    )


class _ConfiguredScopeMetadata(OAuthClientMetadata):
    """Client metadata whose ``scope`` always keeps the configured ``oauth.scopes``.

    The SDK overwrites ``client_metadata.scope`` with what the upstream's challenge or
    metadata names before it registers and authorizes, which would silently drop the
    configured scopes; here they stay first and the upstream's are added (so step-up
    still widens the request).
    """

    _configured: str | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "scope":
            value = union_scopes(self._configured, value)
        super().__setattr__(name, value)


class _AuthorizationCodeProvider(OAuthClientProvider):
    """The SDK flow with the approval step delegated to an :data:`AuthorizationHandler`."""

    def __init__(
        self,
        server_url: str,
        config: OAuthConfig,
        handler: AuthorizationHandler,
        storage: MemoryTokenStore,
    ) -> None:
        self._handler = handler
        self._result: AuthorizationCodeResult | None = None
        method = config.token_endpoint_auth_method
        if method is None:
            method = "client_secret_basic" if config.client_secret else "none"
        metadata = _ConfiguredScopeMetadata(
            client_name=config.client_name,
            redirect_uris=[AnyUrl(config.redirect_uri)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method=method,
            scope=config.scope,
        )
        metadata._configured = config.scope
        super().__init__(
            server_url,
            metadata,
            storage,
            redirect_handler=self._approve,
            callback_handler=self._collect,
            client_metadata_url=config.client_metadata_url,
        )
        self._static: OAuthClientInformationFull | None = None
        if config.client_id is not None:
            # Pre-registered: never register dynamically, and only with its own issuer.
            self._static = OAuthClientInformationFull(
                client_id=config.client_id,
                client_secret=config.client_secret.get_secret_value()
                if config.client_secret
                else None,
                issuer=config.issuer,
                **metadata.model_dump(exclude_none=True),
            )

    async def _initialize(self) -> None:
        await super()._initialize()
        if self._static is not None and self.context.client_info is None:
            self.context.client_info = self._static

    async def _approve(self, authorization_url: str) -> None:
        try:
            self._result = await self._handler(authorization_url)
        except OAuthFlowError:
            raise
        except Exception as exc:
            # Whatever the handler raises is a failed authorization (UpstreamAuthError),
            # not the upstream being down; the failure classifier looks for this type.
            text = str(exc) or type(exc).__name__
            raise OAuthFlowError(f"authorization handler failed: {text}") from exc

    async def _collect(self) -> AuthorizationCodeResult:
        result, self._result = self._result, None
        if result is None:  # the SDK always calls the redirect handler first
            raise OAuthFlowError("authorization handler returned nothing")
        return result


class ConcurrentOAuth(httpx2.Auth):
    """An SDK OAuth provider whose requests with a valid token do not queue on its lock."""

    def __init__(self, provider: OAuthClientProvider) -> None:
        self.provider = provider

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        context = self.provider.context
        tokens = context.current_tokens
        if tokens is not None and context.is_token_valid() and not context.lock.locked():
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"
            response = yield request
            if response.status_code not in (401, 403):
                return
            # Refused: the SDK flow resends the request, learns why, and fixes it
            # (refresh, re-authorization or scope step-up) under its lock.
        async with contextlib.aclosing(self.provider.async_auth_flow(request)) as flow:
            outgoing = await flow.__anext__()
            while True:
                response = yield outgoing
                try:
                    outgoing = await flow.asend(response)
                except StopAsyncIteration:
                    return


def build_auth(
    server_url: str, config: OAuthConfig, handler: AuthorizationHandler | None = None
) -> httpx2.Auth:
    """The httpx auth flow for one upstream (a fresh token store: tokens stay per process)."""
    storage = MemoryTokenStore()
    if config.grant == "authorization_code":
        handler = handler or HeadlessAuthorization(
            config.redirect_uri, timeout_s=config.authorization_timeout_s
        )
        return ConcurrentOAuth(_AuthorizationCodeProvider(server_url, config, handler, storage))
    assert config.client_id is not None  # OAuthConfig's validator guarantees it
    with warnings.catch_warnings():
        # Without `issuer` the SDK warns that it trusts whichever authorization server
        # discovery yields; we say the same once, in our log, instead of a warning per client.
        warnings.simplefilter("ignore")
        if config.private_key is not None:
            signer = SignedJWTParameters(
                issuer=config.client_id,
                subject=config.client_id,
                signing_key=config.private_key.get_secret_value(),
                signing_algorithm=config.signing_algorithm,
            )
            provider: OAuthClientProvider = PrivateKeyJWTOAuthProvider(
                server_url,
                storage,
                config.client_id,
                signer.create_assertion_provider(),
                scope=config.scope,
                issuer=config.issuer,
            )
        else:
            assert config.client_secret is not None
            post = config.token_endpoint_auth_method == "client_secret_post"  # noqa: S105
            provider = ClientCredentialsOAuthProvider(
                server_url,
                storage,
                config.client_id,
                config.client_secret.get_secret_value(),
                token_endpoint_auth_method="client_secret_post" if post else "client_secret_basic",
                scope=config.scope,
                issuer=config.issuer,
            )
    if config.issuer is None:
        log.warning(
            "oauth for %s: no issuer configured, so its client credentials go to whichever "
            "authorization server the upstream names; set oauth.issuer",
            server_url,
        )
    return ConcurrentOAuth(provider)
