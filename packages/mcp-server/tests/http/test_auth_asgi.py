"""Authentication and scopes over real HTTP: uvicorn on 127.0.0.1, real fastmcp Clients in
both eras, httpx for raw status and header checks, a real JWKS served by the testkit issuer.

The app is FastMCP's behind the HTTP adapter's real chain (``http.build_chain`` with auth
and without limits or metrics), as ``mount_mcp`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.dependencies import get_access_token, get_http_request
from mcp import MCPError
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from mcp_fastapi_server import ToolSpec, http
from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.auth import AuthSetup, build_auth
from mcp_fastapi_server.core import get_request_context
from mcp_testkit.asgi import RunningApp, running_asgi
from mcp_testkit.jwt import JwtIssuer

ADMIN_SCOPE = "admin:write"


def make_mcp() -> FastMCP:
    mcp = FastMCP("auth-test")

    @mcp.tool
    async def whoami() -> dict[str, Any]:
        """Who the token says I am."""
        token = get_access_token()
        ctx = get_request_context(get_http_request().scope)
        assert token is not None
        assert ctx is not None
        return {
            "sub": token.subject,
            "scopes": sorted(token.scopes),
            "ctx_subject": ctx.subject,
            "ctx_client_id": ctx.client_id,
            "ctx_scopes": sorted(ctx.scopes),
        }

    @mcp.tool
    async def admin_op() -> str:
        """Needs admin:write."""
        return "done"

    return mcp


SPECS = [
    ToolSpec(name="whoami", description="", fn=lambda: None),
    ToolSpec(name="admin_op", description="", fn=lambda: None, scopes=(ADMIN_SCOPE,)),
]


class Served:
    def __init__(self, running: RunningApp, setup: AuthSetup, failures: list[str]) -> None:
        self.url = running.url
        self.mcp_url = f"{running.url}/mcp"
        self.setup = setup
        self.failures = failures


@pytest.fixture
def serve(jwt_issuer: JwtIssuer) -> Iterator[Callable[..., Served]]:
    stack: list[Any] = []

    def start(root_path: str = "", stateless: bool = True, **settings: Any) -> Served:
        env = {"auth_required_scopes": ["mcp:read"], **settings}
        cfg = Settings(
            auth_mode="jwt",
            auth_jwt_jwks_url=jwt_issuer.jwks_url,
            auth_jwt_issuer=jwt_issuer.issuer,
            auth_jwt_audience=jwt_issuer.audience,
            **env,
        )
        failures: list[str] = []
        setup = build_auth(cfg, SPECS, on_failure=failures.append)
        assert setup is not None
        mcp = make_mcp()
        for middleware in http.fastmcp_middleware(cfg, setup):
            mcp.add_middleware(middleware)
        mcp_app = mcp.http_app(path="/mcp", stateless_http=stateless, json_response=True)
        chain = http.build_chain(mcp_app, settings=cfg, metrics=None, auth=setup, limiter=None)
        routes = [*http.host_routes(cfg, None, setup), Mount("/", app=chain)]
        app = Starlette(routes=routes, lifespan=mcp_app.lifespan)
        ctx = running_asgi(app, root_path=root_path)
        running = ctx.__enter__()
        stack.append(ctx)
        return Served(running, setup, failures)

    yield start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def rpc(method: str, params: dict[str, Any] | None = None, rid: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}


HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def post(
    url: str, body: dict[str, Any], token: str | None = None, **headers: str
) -> httpx.Response:
    hdrs = {**HEADERS, **headers}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    return httpx.post(url, json=body, headers=hdrs, timeout=10)


def challenge(resp: httpx.Response) -> dict[str, str]:
    value = resp.headers["www-authenticate"]
    assert value.startswith("Bearer ")
    out = {}
    for part in value.removeprefix("Bearer ").split(", "):
        key, _, val = part.partition("=")
        out[key] = val.strip('"')
    return out


# --- real clients, both protocol eras --------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_client_sees_only_permitted_tools_and_its_identity(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer, mode: str
) -> None:
    served = serve()
    token = jwt_issuer.token(sub="alice", scopes=["mcp:read"], azp="cli-app", client_id=None)
    async with Client(served.mcp_url, auth=token, mode=mode) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert names == {"whoami"}
        result = await client.call_tool("whoami", {})
    assert result.structured_content == {
        "sub": "alice",
        "scopes": ["mcp:read"],
        "ctx_subject": "alice",
        "ctx_client_id": "cli-app",
        "ctx_scopes": ["mcp:read"],
    }

    admin = jwt_issuer.token(sub="root", scopes=["mcp:read", ADMIN_SCOPE])
    async with Client(served.mcp_url, auth=admin, mode=mode) as client:
        assert {tool.name for tool in await client.list_tools()} == {"whoami", "admin_op"}
        assert (await client.call_tool("admin_op", {})).data == "done"


async def test_stateful_session_is_bound_to_the_token_principal(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    # scope["user"] is set the way Starlette's AuthenticationMiddleware would, so the SDK
    # binds a stateful session to (client_id, iss, sub): another subject cannot reuse it.
    served = serve(stateless=False)
    call = rpc("tools/call", {"name": "whoami", "arguments": {}})
    async with Client(served.mcp_url, auth=jwt_issuer.token(sub="alice"), mode="legacy") as c:
        assert (await c.call_tool("whoami", {})).structured_content["sub"] == "alice"
        session = {"Mcp-Session-Id": c.transport.get_session_id()}
        same_user = post(served.mcp_url, call, jwt_issuer.token(sub="alice"), **session)
        other_user = post(served.mcp_url, call, jwt_issuer.token(sub="mallory"), **session)
    assert same_user.status_code == 200
    assert same_user.json()["result"]["structuredContent"]["sub"] == "alice"
    assert other_user.status_code == 404


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_client_calling_a_tool_without_its_scope_fails(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer, mode: str
) -> None:
    served = serve()
    async with Client(served.mcp_url, auth=jwt_issuer.token(), mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("admin_op", {})
    assert caught.value.code == -32003
    assert caught.value.data is not None
    assert caught.value.data["required_scopes"] == sorted(["mcp:read", ADMIN_SCOPE])
    assert served.failures == ["insufficient_scope"]


# --- raw HTTP: statuses, challenges, bodies --------------------------------------------


def test_no_token_is_401_with_resource_metadata(serve: Callable[..., Served]) -> None:
    served = serve()
    resp = post(served.mcp_url, rpc("tools/list"), **{"X-Request-ID": "req-123"})
    assert resp.status_code == 401
    params = challenge(resp)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == (f"{served.url}/.well-known/oauth-protected-resource/mcp")
    error = resp.json()["error"]
    assert error["code"] == -32001
    assert error["data"] == {"reason": "missing", "request_id": "req-123"}
    # Decided from the headers before the body is read, so the JSON-RPC id is unknown.
    assert resp.json()["id"] is None
    assert served.failures == ["missing"]


def test_token_in_query_string_is_ignored(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    served = serve()
    token = jwt_issuer.token()
    resp = post(f"{served.mcp_url}?access_token={token}", rpc("tools/list"))
    assert resp.status_code == 401
    assert resp.json()["error"]["data"]["reason"] == "missing"
    assert token not in resp.text
    assert token not in str(resp.headers)


BAD_TOKENS = {
    "expired": ("expired", "expired"),
    "future_nbf": ("future_nbf", "not_yet_valid"),
    "future_iat": ("future_iat", "not_yet_valid"),
    "without_exp": ("without_exp", "missing_claim"),
    "without_sub": ("without_sub", "missing_claim"),
    "wrong_issuer": ("wrong_issuer", "bad_issuer"),
    "wrong_audience": ("wrong_audience", "bad_audience"),
    "bad_signature": ("bad_signature", "bad_signature"),
    "unknown_kid": ("unknown_kid", "unknown_kid"),
    "alg_none": ("alg_none", "alg_not_allowed"),
    "hs256_with_public_key": ("hs256_with_public_key", "alg_not_allowed"),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_invalid_token(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer, case: str
) -> None:
    served = serve()
    maker, reason = BAD_TOKENS[case]
    token = getattr(jwt_issuer, maker)()
    resp = post(served.mcp_url, rpc("tools/list"), token)
    assert resp.status_code == 401, resp.text
    params = challenge(resp)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
    assert resp.json()["error"]["data"]["reason"] == reason
    assert served.failures == [reason]
    assert token not in resp.text
    assert token not in str(resp.headers)


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a b", "malformed"),
        ('Bearer "quoted"', "malformed"),
        ("Bearer", "malformed"),
        ("Basic dXNlcjpwYXNz", "missing"),
    ],
)
def test_malformed_authorization_is_401(
    serve: Callable[..., Served], authorization: str, reason: str
) -> None:
    served = serve()
    resp = httpx.post(
        served.mcp_url, json=rpc("tools/list"), headers={**HEADERS, "Authorization": authorization}
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["data"]["reason"] == reason


def test_missing_tool_scope_is_403_naming_every_needed_scope(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    served = serve()
    resp = post(
        served.mcp_url,
        rpc("tools/call", {"name": "admin_op", "arguments": {}}),
        jwt_issuer.token(scopes=["mcp:read"]),
        **{"X-Request-ID": "r-9"},
    )
    assert resp.status_code == 403
    params = challenge(resp)
    assert params["error"] == "insufficient_scope"
    assert set(params["scope"].split()) == {"mcp:read", ADMIN_SCOPE}
    assert params["resource_metadata"] == f"{served.url}/.well-known/oauth-protected-resource/mcp"
    error = resp.json()["error"]
    assert error["code"] == -32003
    assert error["data"]["required_scopes"] == sorted(["mcp:read", ADMIN_SCOPE])
    assert error["data"]["request_id"] == "r-9"


def test_missing_required_scope_is_403_for_any_call(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    served = serve()
    resp = post(served.mcp_url, rpc("tools/list"), jwt_issuer.token(scopes=["other"]))
    assert resp.status_code == 403
    assert challenge(resp)["scope"] == "mcp:read"


def test_tool_scopes_setting_overrides_the_spec(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    served = serve(tool_scopes={"admin_op": ["mcp:read"]})
    resp = post(
        served.mcp_url,
        rpc("tools/call", {"name": "admin_op", "arguments": {}}),
        jwt_issuer.token(scopes=["mcp:read"]),
    )
    assert resp.status_code == 200
    assert resp.json()["result"]["structuredContent"] == {"result": "done"}


@pytest.mark.parametrize("name", [["admin_op"], 7, None])
def test_a_call_whose_tool_the_chain_cannot_read_never_runs_a_tool(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer, name: Any
) -> None:
    # Scopes are decided once, before FastMCP, from the parsed body. A tools/call whose
    # name is not a string is authorized as "some call" (required scopes only), so it
    # must never reach a tool: FastMCP refuses the params, no tool runs.
    served = serve()
    call = rpc("tools/call", {"name": name, "arguments": {}})
    resp = post(served.mcp_url, call, jwt_issuer.token(scopes=["mcp:read"]))
    assert resp.status_code in (200, 400)
    body = resp.json()
    assert "result" not in body
    assert body["error"]["code"] == -32602


def test_verifier_also_plugs_into_fastmcp_auth_hook(jwt_issuer: JwtIssuer) -> None:
    # FastMCP(auth=verifier) works too (FastMCP then verifies and answers 401 itself).
    cfg = Settings(
        auth_mode="jwt",
        auth_jwt_jwks_url=jwt_issuer.jwks_url,
        auth_jwt_audience=jwt_issuer.audience,
    )
    setup = build_auth(cfg, [])
    assert setup is not None
    mcp = FastMCP("hooked", auth=setup.verifier)

    @mcp.tool
    async def sub() -> str:
        token = get_access_token()
        return token.subject if token and token.subject else "?"

    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    with running_asgi(app) as running:
        call = rpc("tools/call", {"name": "sub", "arguments": {}})
        ok = post(f"{running.url}/mcp", call, jwt_issuer.token(sub="bob"))
        assert ok.json()["result"]["structuredContent"] == {"result": "bob"}
        assert post(f"{running.url}/mcp", call, jwt_issuer.expired()).status_code == 401


# --- RFC 9728 metadata -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/mcp", ""])
def test_metadata_document_on_both_paths(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer, suffix: str
) -> None:
    served = serve()
    resp = httpx.get(f"{served.url}/.well-known/oauth-protected-resource{suffix}")
    assert resp.status_code == 200
    assert resp.json() == {
        "resource": served.mcp_url,
        "authorization_servers": [jwt_issuer.issuer],
        "scopes_supported": sorted(["mcp:read", ADMIN_SCOPE]),
        "bearer_methods_supported": ["header"],
    }


def test_metadata_and_challenge_behind_a_root_path_prefix(
    serve: Callable[..., Served], jwt_issuer: JwtIssuer
) -> None:
    # uvicorn --root-path /gw: the proxy strips /gw, the app advertises URLs with it.
    served = serve(root_path="/gw")
    doc = httpx.get(f"{served.url}/.well-known/oauth-protected-resource/mcp").json()
    assert doc["resource"] == f"{served.url}/gw/mcp"
    resp = post(served.mcp_url, rpc("tools/list"))
    assert resp.status_code == 401
    metadata_url = challenge(resp)["resource_metadata"]
    assert metadata_url == f"{served.url}/gw/.well-known/oauth-protected-resource/mcp"
    ok = post(served.mcp_url, rpc("tools/list"), jwt_issuer.token())
    assert ok.status_code == 200


def test_configured_resource_url_wins(serve: Callable[..., Served]) -> None:
    served = serve(resource_url="https://api.example.com/tenant/mcp", auth_servers=["https://idp"])
    doc = httpx.get(f"{served.url}/.well-known/oauth-protected-resource").json()
    assert doc["resource"] == "https://api.example.com/tenant/mcp"
    assert doc["authorization_servers"] == ["https://idp"]
    resp = post(served.mcp_url, rpc("tools/list"))
    assert challenge(resp)["resource_metadata"] == (
        "https://api.example.com/tenant/.well-known/oauth-protected-resource/mcp"
    )


# --- one pass: the 401 comes from the headers, before any body byte is read ------------


async def test_401_is_decided_before_the_body_is_read(jwt_issuer: JwtIssuer) -> None:
    cfg = Settings(
        auth_mode="jwt",
        auth_jwt_jwks_url=jwt_issuer.jwks_url,
        auth_jwt_issuer=jwt_issuer.issuer,
        auth_jwt_audience=jwt_issuer.audience,
    )
    setup = build_auth(cfg, SPECS)
    assert setup is not None

    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("an unauthenticated request reached the app")

    chain = http.build_chain(never, settings=cfg, metrics=None, auth=setup, limiter=None)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body of an unauthenticated request was read")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-length", b"1048576")],
    }
    await chain(scope, receive, send)
    assert sent[0]["status"] == 401


def test_the_chain_guards_the_endpoint_behind_a_root_path(jwt_issuer: JwtIssuer) -> None:
    # Behind `uvicorn --root-path /prefix` the ASGI path keeps the prefix; the chain must
    # still recognise its endpoint, or auth would step aside.
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from mcp_fastapi_server import mount_mcp

    cfg = Settings(
        auth_mode="jwt",
        auth_jwt_jwks_url=jwt_issuer.jwks_url,
        auth_jwt_issuer=jwt_issuer.issuer,
        auth_jwt_audience=jwt_issuer.audience,
    )
    app = FastAPI()
    mount_mcp(app, cfg)
    with TestClient(app, root_path="/prefix", base_url="http://127.0.0.1") as client:
        resp = client.post("/prefix/mcp", json=rpc("tools/list"), headers=HEADERS)
        assert resp.status_code == 401
        assert resp.headers["x-request-id"]
        token = jwt_issuer.token(scopes=["mcp:read"])
        ok = client.post(
            "/prefix/mcp",
            json=rpc("tools/list"),
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
        )
        assert ok.status_code == 200
