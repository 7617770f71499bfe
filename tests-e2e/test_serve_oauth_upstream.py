"""An OAuth-protected upstream through the real ``mcp-server serve``.

The upstream file holds an ``[upstreams.oauth]`` table whose client secret comes from the
environment; the server process authorizes against the testkit's OAuth fake (a
pre-registered client, authorization code with PKCE, approved without a person) and
exposes the upstream's tools to a caller holding our own JWT. The upstream sees the
token it issued, never the caller's.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl

from mcp_testkit.clients import start_target
from mcp_testkit.fakes import oauth_upstream, token_fingerprint
from mcp_testkit.jwt import JwtIssuer
from mcp_testkit.servers import ServerFactory

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import ServeTargetMaker

SECRET = "e2e-client-s3cret"  # a test credential, passed as ${REPORTING_SECRET}


def write_upstreams(path: Path, url: str, issuer: str) -> Path:
    path.write_text(
        f"""
[[upstreams]]
name = "secured"
transport = "http"
url = "{url}"
allow_tools = ["whoami", "echo"]
expose = true
required = true

[upstreams.oauth]
client_id = "reporting"
client_secret = "${{REPORTING_SECRET}}"
issuer = "{issuer}"
""",
        encoding="utf-8",
    )
    return path


async def test_oauth_upstream_exposed_through_serve(
    jwt_issuer: JwtIssuer,
    make_serve_target: ServeTargetMaker,
    mcp_server_process: ServerFactory,
    server_command: list[str],
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    with oauth_upstream(dynamic_registration=False) as fake:
        await fake.provider.register_client(
            OAuthClientInformationFull(
                client_id="reporting",
                client_secret=SECRET,
                redirect_uris=[AnyUrl("http://127.0.0.1/oauth/callback")],
                token_endpoint_auth_method="client_secret_basic",
                grant_types=["authorization_code", "refresh_token"],
            )
        )
        upstreams = write_upstreams(tmp_path / "upstreams.toml", fake.url, fake.issuer)
        env = {"MCP_UPSTREAMS_FILE": str(upstreams), "REPORTING_SECRET": SECRET}

        # `check` validates the table, connects with the secret, and never prints it.
        checked = await asyncio.to_thread(
            subprocess.run,
            [*server_command, "check"],
            env={**server_env, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        assert SECRET not in checked.stdout + checked.stderr
        assert "reporting" in checked.stdout

        caller_token = jwt_issuer.token(sub="oauth-caller")
        target = make_serve_target(tmp_path, {**env, **jwt_issuer.env()}, token=caller_token)
        live = start_target(target, mcp_server_process)
        async with live.client("http-2026-07-28") as client:
            names = {tool.name for tool in await client.list_tools()}
            assert {"secured_whoami", "secured_echo"} <= names, names
            first = await client.call_tool("secured_whoami", {})
            second = await client.call_tool("secured_whoami", {})
            echoed = await client.call_tool("secured_echo", {"text": "through oauth"})

    assert first.is_error is False
    assert isinstance(first.structured_content, dict)
    seen = first.structured_content
    assert seen["client_id"] == "reporting"
    issued = {token_fingerprint(token) for token in fake.provider.access_tokens}
    assert seen["token_sha256"] in issued  # the token the fake issued to the server process
    assert seen["token_sha256"] != token_fingerprint(caller_token)  # never the caller's JWT
    assert second.structured_content == seen  # one authorization, reused
    # The one registration is ours, above (the fake allows no other). Two authorizations:
    # `check` connects to every upstream once, then the serving process once (reused).
    assert (fake.provider.registrations, fake.provider.authorizations) == (1, 2)
    assert echoed.is_error is False
