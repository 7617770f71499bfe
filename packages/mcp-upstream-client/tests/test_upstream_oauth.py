"""OAuth 2.1 to an HTTP upstream, through the real ``UpstreamManager`` over real HTTP.

The upstream is the testkit's OAuth fake: FastMCP behind its own in-memory authorization
server (dynamic registration, PKCE, refresh; approves without a person). The headless
approval itself is also tested against tiny authorization servers that behave badly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mcp.client.auth import OAuthFlowError
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mcp_testkit.asgi import running_asgi
from mcp_testkit.fakes import OAuthFake, token_fingerprint
from mcp_upstream_client import (
    AuthorizationCodeResult,
    HeadlessAuthorization,
    UpstreamAuthError,
    UpstreamConfig,
    UpstreamManager,
    UpstreamUnavailableError,
)

REDIRECT_URI = "http://127.0.0.1/oauth/callback"  # OAuthConfig's default; nothing listens

FakeFactory = Callable[..., OAuthFake]


def secured(url: str, *, mode: str = "auto", **oauth: Any) -> UpstreamConfig:
    return UpstreamConfig.model_validate(
        {
            "name": "secured",
            "transport": "http",
            "url": url,
            "allow_tools": ["whoami", "echo"],
            "required": True,
            "health_interval_s": 0,
            "mode": mode,
            "oauth": oauth,
        }
    )


async def whoami(manager: UpstreamManager) -> dict[str, Any]:
    result = await manager.call_tool("secured", "whoami")
    assert not result.is_error, result
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def pre_registered(
    client_id: str, secret: str, *, scope: str | None = None
) -> OAuthClientInformationFull:
    """A client as an administrator would register it at the authorization server."""
    return OAuthClientInformationFull(
        client_id=client_id,
        client_secret=secret,
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["authorization_code", "refresh_token"],
        scope=scope,
    )


async def reporting_client(fake: OAuthFake, *, issuer: str) -> UpstreamConfig:
    """Register client "reporting" at the fake; the config that uses it with ``issuer``."""
    await fake.provider.register_client(pre_registered("reporting", "s3cret-s3cret"))
    return secured(
        fake.url, client_id="reporting", client_secret=SecretStr("s3cret-s3cret"), issuer=issuer
    )


def issued(fake: OAuthFake) -> set[str]:
    return {token_fingerprint(token) for token in fake.provider.access_tokens}


# -- concurrency ------------------------------------------------------------------------


async def test_calls_with_a_valid_token_overlap(fake_oauth_upstream: FakeFactory) -> None:
    # The SDK's OAuth flow holds one lock until response headers arrive; a JSON-answering
    # upstream sends them when the tool is done, so without ConcurrentOAuth the calls run
    # one at a time and each `rendezvous` gives up alone (1). Overlap, not time, is checked.
    fake = fake_oauth_upstream(json_response=True)
    config = secured(fake.url).model_copy(update={"allow_tools": ["rendezvous", "whoami"]})
    async with UpstreamManager([config]) as manager:
        await whoami(manager)  # authorize once
        results = await asyncio.gather(
            *(manager.call_tool("secured", "rendezvous", {"parties": 3}) for _ in range(3))
        )
    assert [r.structured_content for r in results] == [{"result": 3}] * 3
    assert fake.provider.authorizations == 1


# -- authorization code with dynamic registration ---------------------------------------


async def test_dynamic_registration_then_calls_reuse_the_token(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream()
    async with UpstreamManager([secured(fake.url, issuer=fake.issuer)]) as manager:
        assert [t.name for t in await manager.list_tools("secured")] == ["whoami", "echo"]
        first = await whoami(manager)
        echoed = await manager.call_tool("secured", "echo", {"text": "hello"})
        second = await whoami(manager)
        status = await manager.refresh("secured")  # a health check: another request

    provider = fake.provider
    assert list(provider.clients) == [first["client_id"]]  # it registered itself, once
    assert provider.clients[first["client_id"]].client_name == "mcp-upstream-client"
    assert first["token_sha256"] in issued(fake)  # the call carried a token it was issued
    assert echoed.structured_content == {"result": "hello"}
    assert second == first  # same client, same token
    assert status.ok, status
    assert (provider.registrations, provider.authorizations, provider.code_exchanges) == (1, 1, 1)
    assert provider.refreshes == 0


async def test_a_reconnect_keeps_the_token(fake_oauth_upstream: FakeFactory) -> None:
    fake = fake_oauth_upstream()
    # Legacy era: a restarted server has lost the session, so the manager must open a new
    # client (re-initialize); that client shares the upstream's OAuth flow and tokens.
    async with UpstreamManager([secured(fake.url, mode="legacy")]) as manager:
        before = await whoami(manager)
        fake.restart()
        # Proof the session is gone: a call that is not read-only is not retried
        # (the manager re-initialized, i.e. connected a new client, and stopped there).
        with pytest.raises(UpstreamUnavailableError, match="session lost"):
            await manager.call_tool("secured", "echo", {"text": "x"})
        after = await whoami(manager)
    assert after == before
    assert (fake.provider.registrations, fake.provider.authorizations) == (1, 1)


# -- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "configured", "granted"),
    [
        (["read"], None, ["read"]),  # what the upstream's challenge names
        (["read"], ["read", "write"], ["read", "write"]),
        (["read"], ["write"], ["read", "write"]),  # configured + challenged
        (None, ["alpha", "beta"], ["alpha", "beta"]),  # upstream names none
    ],
)
async def test_granted_scopes(
    fake_oauth_upstream: FakeFactory,
    required: list[str] | None,
    configured: list[str] | None,
    granted: list[str],
) -> None:
    fake = fake_oauth_upstream(required_scopes=required)
    async with UpstreamManager([secured(fake.url, scopes=configured)]) as manager:
        me = await whoami(manager)
    assert me["scopes"] == granted
    registered = fake.provider.clients[me["client_id"]].scope  # what it registered for
    assert registered is not None
    assert sorted(registered.split()) == granted


async def test_a_scope_the_server_will_not_grant_is_an_auth_error(
    fake_oauth_upstream: FakeFactory,
) -> None:
    # Every request needs "admin"; dynamic registration may only ask for "read".
    fake = fake_oauth_upstream(required_scopes=["admin"], valid_scopes=["read"])
    with pytest.raises(UpstreamAuthError) as caught:
        async with UpstreamManager([secured(fake.url, scopes=["read"])]):
            pass
    assert "secured" in str(caught.value)
    assert "Registration failed: 400" in str(caught.value)
    assert "Requested scopes are not valid: admin" in str(caught.value)


async def test_a_client_registered_without_the_required_scope_is_refused(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream(required_scopes=["admin"], dynamic_registration=False)
    await fake.provider.register_client(pre_registered("reporting", "s3cret", scope="read"))
    config = secured(fake.url, client_id="reporting", client_secret=SecretStr("s3cret"))
    with pytest.raises(UpstreamAuthError, match="authorization refused: invalid_scope"):
        async with UpstreamManager([config]):
            pass
    assert fake.provider.code_exchanges == 0


# -- tokens going away ----------------------------------------------------------------------


async def test_a_revoked_token_is_replaced_without_registering_again(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream()
    async with UpstreamManager([secured(fake.url)]) as manager:
        before = await whoami(manager)
        assert fake.provider.revoke_access_tokens() == 1
        after = await whoami(manager)  # 401 → authorize again → retried, all inside one call
    assert after["client_id"] == before["client_id"]
    assert after["token_sha256"] != before["token_sha256"]
    assert after["token_sha256"] in issued(fake)
    assert (fake.provider.registrations, fake.provider.authorizations) == (1, 2)


async def test_an_expired_token_is_refreshed(fake_oauth_upstream: FakeFactory) -> None:
    fake = fake_oauth_upstream(advertised_lifetime_s=1)
    async with UpstreamManager([secured(fake.url)]) as manager:
        before = await whoami(manager)
        await asyncio.sleep(1.2)  # past the advertised expiry: the client must refresh
        after = await whoami(manager)
    assert after["token_sha256"] != before["token_sha256"]
    assert after["token_sha256"] in issued(fake)
    assert fake.provider.refreshes >= 1
    assert (fake.provider.registrations, fake.provider.authorizations) == (1, 1)


# -- pre-registered clients -----------------------------------------------------------------


async def test_a_pre_registered_client_does_not_register(fake_oauth_upstream: FakeFactory) -> None:
    fake = fake_oauth_upstream(dynamic_registration=False)
    config = await reporting_client(fake, issuer=fake.issuer)
    async with UpstreamManager([config]) as manager:
        me = await whoami(manager)
    assert me["client_id"] == "reporting"
    assert list(fake.provider.clients) == ["reporting"]
    assert fake.provider.registrations == 1  # ours, above
    assert fake.provider.authorizations == 1


async def test_without_registration_or_client_id_start_fails_as_auth(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream(dynamic_registration=False)
    with pytest.raises(UpstreamAuthError, match=r"secured.*OAuth failed") as caught:
        async with UpstreamManager([secured(fake.url)]):
            pass
    assert caught.value.upstream is None  # the start-up summary names it in the message
    assert fake.provider.authorizations == 0


# -- who approves ---------------------------------------------------------------------------


async def test_a_custom_authorization_handler_replaces_the_headless_one(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream()
    seen: list[str] = []
    headless = HeadlessAuthorization(REDIRECT_URI)

    async def operator(url: str) -> AuthorizationCodeResult:
        seen.append(url)
        return await headless(url)

    async with UpstreamManager(
        [secured(fake.url, issuer=fake.issuer)], authorization_handler=operator
    ) as manager:
        await whoami(manager)
        await whoami(manager)

    assert len(seen) == 1  # one authorization for the upstream's lifetime
    url = urlsplit(seen[0])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake.issuer}/authorize"
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["resource"] == fake.url
    assert query["client_id"] in fake.provider.clients


@pytest.mark.parametrize(
    ("raised", "needle"),
    [
        (RuntimeError("operator declined"), "authorization handler failed: operator declined"),
        (OAuthFlowError("no operator on duty"), "no operator on duty"),
    ],
)
async def test_a_failing_authorization_handler_is_an_auth_error(
    fake_oauth_upstream: FakeFactory, raised: Exception, needle: str
) -> None:
    fake = fake_oauth_upstream()

    async def operator(url: str) -> AuthorizationCodeResult:
        raise raised

    with pytest.raises(UpstreamAuthError) as caught:
        async with UpstreamManager([secured(fake.url)], authorization_handler=operator):
            pass
    message = str(caught.value)
    assert message.startswith("required upstream(s) down at start-up: secured")
    assert "OAuth failed" in message
    assert needle in message
    assert fake.provider.code_exchanges == 0


async def test_an_optional_upstream_refusing_us_fails_calls_as_auth(
    fake_oauth_upstream: FakeFactory,
) -> None:
    fake = fake_oauth_upstream()

    async def operator(url: str) -> AuthorizationCodeResult:
        raise RuntimeError("operator declined")

    config = secured(fake.url).model_copy(update={"required": False})
    async with UpstreamManager([config], authorization_handler=operator) as manager:
        status = manager.status()["secured"]
    assert not status.ok
    assert "operator declined" in (status.last_error or "")


# -- HeadlessAuthorization against authorization servers that misbehave ----------------------


def _authorization_server() -> Starlette:
    async def login_page(request: Request) -> Response:
        return HTMLResponse("<form>Sign in</form>")

    async def deny(request: Request) -> Response:
        return RedirectResponse(
            f"{REDIRECT_URI}?error=access_denied&error_description=not+today&state=s1", 302
        )

    async def authorize(request: Request) -> Response:
        state = request.query_params["state"]
        response = RedirectResponse(f"/consent?state={state}", 302)  # relative Location
        response.set_cookie("sid", "session-1")  # a login session the next hop needs
        return response

    async def consent(request: Request) -> Response:
        if request.cookies.get("sid") != "session-1":
            return Response("no session", status_code=400)
        state = request.query_params["state"]
        return RedirectResponse(f"{REDIRECT_URI}?code=c0de&state={state}&iss=https://as", 303)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", 302)

    async def broken(request: Request) -> Response:
        return Response("boom", status_code=500)

    async def no_code(request: Request) -> Response:
        return RedirectResponse(f"{REDIRECT_URI}?state=s1", 302)

    return Starlette(
        routes=[
            Route("/login", login_page),
            Route("/deny", deny),
            Route("/authorize", authorize),
            Route("/consent", consent),
            Route("/loop", loop),
            Route("/broken", broken),
            Route("/no-code", no_code),
        ]
    )


@pytest.fixture(scope="module")
def auth_server() -> Iterator[str]:
    with running_asgi(_authorization_server()) as server:
        yield server.url


async def test_headless_follows_redirects_and_cookies_to_the_code(auth_server: str) -> None:
    result = await HeadlessAuthorization(REDIRECT_URI)(f"{auth_server}/authorize?state=xyz")
    assert (result.code, result.state, result.iss) == ("c0de", "xyz", "https://as")


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/login", "wants a person to log in"),
        ("/deny", "authorization refused: access_denied not today"),
        ("/loop", "redirected more than 10 times"),
        ("/broken", "authorization request failed: HTTP 500"),
        ("/consent?state=s1", "authorization request failed: HTTP 400"),  # no cookie
        ("/no-code", "carries no authorization code"),
    ],
)
async def test_headless_says_why_it_cannot_approve(
    auth_server: str, path: str, needle: str
) -> None:
    with pytest.raises(OAuthFlowError) as caught:
        await HeadlessAuthorization(REDIRECT_URI)(f"{auth_server}{path}")
    assert needle in str(caught.value)


async def test_headless_login_page_message_names_the_ways_out(auth_server: str) -> None:
    with pytest.raises(OAuthFlowError) as caught:
        await HeadlessAuthorization(REDIRECT_URI)(f"{auth_server}/login")
    message = str(caught.value)
    for way_out in ("client_credentials", "authorization_handler", "Pre-approve"):
        assert way_out in message


async def test_pre_registered_credentials_go_only_to_their_issuer(
    fake_oauth_upstream: FakeFactory,
) -> None:
    # The upstream names its own authorization server; the credentials belong to another.
    fake = fake_oauth_upstream(dynamic_registration=False)
    config = await reporting_client(fake, issuer="https://idp.elsewhere.example")
    with pytest.raises(UpstreamAuthError, match="OAuth failed"):
        async with UpstreamManager([config]):
            pass
    # Dropped instead of presented: no authorization, no token request with the secret.
    assert (fake.provider.authorizations, fake.provider.code_exchanges) == (0, 0)
