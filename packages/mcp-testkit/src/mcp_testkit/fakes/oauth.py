"""An OAuth-protected fake upstream: FastMCP behind its own in-memory authorization server.

For testing an MCP *client's* OAuth (discovery, dynamic registration, PKCE, refresh,
scopes) over real HTTP without an external identity provider. FastMCP's
``InMemoryOAuthProvider`` is both the authorization server and the resource server's token
verifier, and approves every authorization request without a person, so a headless client
can complete the authorization-code flow. :class:`RecordingOAuthProvider` only adds what a
test asserts on: how often it authorized, issued and refreshed, and ways to revoke.

>>> with oauth_upstream(required_scopes=["read"]) as fake:  # doctest: +SKIP
...     ...  # point a client at fake.url; inspect fake.provider.clients afterwards
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider
from fastmcp.server.dependencies import get_access_token
from mcp.server.auth.provider import AuthorizationCode, AuthorizationParams, RefreshToken
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp_types import ToolAnnotations

from mcp_testkit.asgi import free_port, running_asgi

__all__ = ["OAuthFake", "RecordingOAuthProvider", "oauth_upstream", "token_fingerprint"]

MCP_PATH = "/mcp"


def token_fingerprint(token: str) -> str:
    """A short, stable id of a bearer token (``whoami`` reports this, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class RecordingOAuthProvider(InMemoryOAuthProvider):
    """``InMemoryOAuthProvider`` that counts its grants and can revoke what it issued.

    The counters are plain ints written on the server's event loop thread; a test reads
    them between requests, never during one.
    """

    def __init__(self, *, advertised_lifetime_s: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.advertised_lifetime_s = advertised_lifetime_s
        self.registrations = 0
        self.authorizations = 0
        self.code_exchanges = 0
        self.refreshes = 0

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        await super().register_client(client_info)
        self.registrations += 1

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        redirect = await super().authorize(client, params)
        self.authorizations += 1
        return redirect

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        token = await super().exchange_authorization_code(client, authorization_code)
        self.code_exchanges += 1
        return self._advertise(token)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        token = await super().exchange_refresh_token(client, refresh_token, scopes)
        self.refreshes += 1
        return self._advertise(token)

    def _advertise(self, token: OAuthToken) -> OAuthToken:
        # A short advertised lifetime makes a client refresh on its own schedule, while
        # the server keeps accepting the token: the refresh path becomes testable without
        # racing a real expiry.
        if self.advertised_lifetime_s is None:
            return token
        return token.model_copy(update={"expires_in": self.advertised_lifetime_s})

    def revoke_access_tokens(self) -> int:
        """Forget every access token (refresh tokens stay valid); returns how many.

        The client still holds a token it believes valid: its next request gets a 401.
        """
        tokens = list(self.access_tokens)
        for token in tokens:
            del self.access_tokens[token]
        return len(tokens)

    def revoke_all(self) -> int:
        """Forget every access and refresh token (the client must authorize again)."""
        count = len(self.access_tokens) + len(self.refresh_tokens)
        for token in list(self.access_tokens):
            self._revoke_internal(access_token_str=token)
        for token in list(self.refresh_tokens):
            self._revoke_internal(refresh_token_str=token)
        return count


class OAuthFake:
    """A running OAuth-protected fake: ``url`` is the MCP endpoint, ``issuer`` the AS.

    ``provider`` holds the registered clients and issued tokens (inspect, pre-register,
    revoke); :meth:`restart` drops every MCP session but keeps them.
    """

    def __init__(
        self,
        provider: RecordingOAuthProvider,
        server: FastMCP,
        port: int,
        *,
        json_response: bool = False,
    ) -> None:
        self.provider = provider
        self.server = server
        self.port = port
        self.json_response = json_response
        self._serving = ExitStack()

    @property
    def issuer(self) -> str:
        """The authorization server's issuer (also the server's base URL)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint, ``http://127.0.0.1:<port>/mcp``."""
        return f"{self.issuer}{MCP_PATH}"

    def start(self) -> None:
        """Serve a fresh app (FastMCP's session manager runs only once per app)."""
        app = self.server.http_app(path=MCP_PATH, json_response=self.json_response)
        # A legacy client keeps a GET stream open; without a bound, stopping waits for it.
        serving = running_asgi(app, port=self.port, timeout_graceful_shutdown=1)
        self._serving.enter_context(serving)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._serving.close()

    def restart(self) -> None:
        """Stop and serve again on the same port: every MCP session is gone (a legacy
        client must re-initialize), registered clients and tokens survive."""
        self.stop()
        self.start()


def _build_server(provider: RecordingOAuthProvider) -> FastMCP:
    server = FastMCP("oauth-fake", auth=provider)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def whoami() -> dict[str, Any]:
        """The access token this request carried: client_id, scopes, fingerprint."""
        token = get_access_token()
        if token is None:  # cannot happen behind the auth middleware; say so if it does
            return {"client_id": None, "scopes": [], "token_sha256": None}
        return {
            "client_id": token.client_id,
            "scopes": sorted(token.scopes),
            "token_sha256": token_fingerprint(token.token),
        }

    @server.tool
    def echo(text: str) -> str:
        """Return ``text`` unchanged."""
        return text

    inside: list[asyncio.Event] = []

    @server.tool
    async def rendezvous(parties: int, timeout_s: float = 10.0) -> int:
        """Wait until ``parties`` calls are inside at once; return how many were seen.

        Proves calls overlap without timing them: a client that sends one call at a time
        sees 1 after ``timeout_s``.
        """
        arrived = asyncio.Event()
        inside.append(arrived)
        try:
            if len(inside) >= parties:
                for event in inside:
                    event.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), timeout_s)
            return len(inside)
        finally:
            await asyncio.sleep(0)  # let the peers read the count before it drops
            inside.remove(arrived)

    return server


@contextmanager
def oauth_upstream(
    *,
    required_scopes: list[str] | None = None,
    valid_scopes: list[str] | None = None,
    dynamic_registration: bool = True,
    advertised_lifetime_s: int | None = None,
    json_response: bool = False,
) -> Iterator[OAuthFake]:
    """Serve the fake on a free 127.0.0.1 port until the block exits.

    ``required_scopes``: every MCP request needs a token with all of them (a 403
    ``insufficient_scope`` otherwise); they are also what the server advertises.
    ``valid_scopes``: scopes a client may register/ask for (default: any).
    ``dynamic_registration=False`` leaves only clients registered beforehand through
    ``fake.provider.register_client``. ``advertised_lifetime_s``: the ``expires_in`` sent
    with tokens (the server itself accepts them for an hour), to make clients refresh.
    ``json_response=True`` answers each call with one JSON body (headers only when the
    tool is done) instead of an SSE stream.
    """
    # The issuer and resource URLs are baked into the metadata when the app is built, and
    # a client checks them against the URL it connects to: the port must come first.
    port = free_port()
    provider = RecordingOAuthProvider(
        base_url=f"http://127.0.0.1:{port}",
        client_registration_options=ClientRegistrationOptions(
            enabled=dynamic_registration,
            valid_scopes=valid_scopes,
            default_scopes=required_scopes,
        ),
        required_scopes=required_scopes,
        advertised_lifetime_s=advertised_lifetime_s,
    )
    fake = OAuthFake(provider, _build_server(provider), port, json_response=json_response)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
