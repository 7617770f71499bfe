"""``[upstreams.oauth]``: parsing, ``${VAR}`` expansion, every rule, and secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcp_upstream_client import OAuthConfig, UpstreamConfigError, load_upstreams, parse_upstreams

PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
PUBLIC_PEM = (
    serialization.load_pem_private_key(PEM.encode(), None)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

FILE = """
[[upstreams]]
name = "reports"
transport = "http"
url = "https://reports.example/mcp"
allow_tools = ["run_report"]

[upstreams.oauth]
grant = "authorization_code"
client_id = "${REPORTS_CLIENT_ID}"
client_secret = "${REPORTS_CLIENT_SECRET}"
issuer = "https://${IDP_HOST}"
scopes = ["reports:read", "offline_access"]
redirect_uri = "http://127.0.0.1:8765/oauth/callback"
client_name = "acme-gateway"
authorization_timeout_s = 120

[[upstreams]]
name = "billing"
transport = "http"
url = "https://billing.example/mcp"
allow_tools = ["invoice"]

[upstreams.oauth]
grant = "client_credentials"
client_id = "gateway"
private_key = "${BILLING_KEY}"
signing_algorithm = "ES256"
issuer = "https://idp.example"
"""

ENV = {
    "REPORTS_CLIENT_ID": "gw-reports",
    "REPORTS_CLIENT_SECRET": "s3cret-value-1",
    "IDP_HOST": "idp.example",
    "BILLING_KEY": PEM,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upstreams.toml"
    path.write_text(text, encoding="utf-8")
    return path


def http_upstream(oauth: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "api",
        "transport": "http",
        "url": "https://api.example/mcp",
        "oauth": oauth,
        **extra,
    }


def test_oauth_tables_load_with_variables_expanded(tmp_path: Path) -> None:
    reports, billing = load_upstreams(write(tmp_path, FILE), environ=ENV)

    assert reports.oauth is not None
    assert reports.oauth.grant == "authorization_code"
    assert reports.oauth.client_id == "gw-reports"
    assert reports.oauth.client_secret is not None
    assert reports.oauth.client_secret.get_secret_value() == "s3cret-value-1"
    assert reports.oauth.issuer == "https://idp.example"
    assert reports.oauth.scope == "reports:read offline_access"
    assert reports.oauth.redirect_uri == "http://127.0.0.1:8765/oauth/callback"
    assert reports.oauth.client_name == "acme-gateway"
    assert reports.oauth.authorization_timeout_s == 120

    assert billing.oauth is not None
    assert billing.oauth.grant == "client_credentials"
    assert billing.oauth.private_key is not None
    assert billing.oauth.private_key.get_secret_value() == PEM
    assert billing.oauth.signing_algorithm == "ES256"
    assert billing.oauth.client_secret is None


def test_defaults() -> None:
    oauth = OAuthConfig()
    assert oauth.grant == "authorization_code"
    assert oauth.redirect_uri == "http://127.0.0.1/oauth/callback"
    assert oauth.scopes is None
    assert oauth.scope is None
    assert oauth.issuer is None
    assert oauth.authorization_timeout_s == 30


def test_an_unset_variable_in_oauth_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "REPORTS_CLIENT_SECRET"}
    with pytest.raises(UpstreamConfigError) as info:
        load_upstreams(write(tmp_path, FILE), environ=env)
    message = str(info.value)
    assert "REPORTS_CLIENT_SECRET" in message
    assert "'reports'" in message
    assert "'oauth'" in message
    assert "client_secret" in message


@pytest.mark.parametrize(
    ("oauth", "extra", "expected"),
    [
        ({"grant": "client_credentials", "client_secret": "x"}, {}, "client_id: required"),
        (
            {"grant": "client_credentials", "client_id": "gw"},
            {},
            "client_secret (or private_key): required",
        ),
        (
            {"grant": "client_credentials", "client_id": "gw", "client_secret": "x"}
            | {"token_endpoint_auth_method": "private_key_jwt"},
            {},
            "private_key: required for private_key_jwt",
        ),
        (
            {"grant": "client_credentials", "client_id": "gw", "private_key": PEM}
            | {"client_secret": "x", "signing_algorithm": "ES256"},
            {},
            "client_secret: not used with private_key_jwt",
        ),
        (
            {"grant": "client_credentials", "client_id": "gw", "client_secret": "x"}
            | {"token_endpoint_auth_method": "none"},
            {},
            "'none' cannot authenticate",
        ),
        (
            {"grant": "client_credentials", "client_id": "gw", "client_secret": "x"}
            | {"client_metadata_url": "https://gw.example/client.json"},
            {},
            "client_metadata_url: only valid",
        ),
        ({"private_key": PEM}, {}, "private_key_jwt: only valid for grant = 'client_credentials'"),
        (
            {"token_endpoint_auth_method": "private_key_jwt"},
            {},
            "private_key_jwt: only valid for grant = 'client_credentials'",
        ),
        ({"client_secret": "x"}, {}, "client_secret: needs client_id"),
        (
            {"client_id": "gw", "token_endpoint_auth_method": "client_secret_post"},
            {},
            "'client_secret_post': needs client_secret",
        ),
        ({}, {"headers": {"Authorization": "Bearer x"}}, "headers.Authorization: not with oauth"),
        ({}, {"headers": {"authorization": "Bearer x"}}, "headers.Authorization: not with oauth"),
        ({"scopes": ["read write"]}, {}, "'read write' is not a valid OAuth scope"),
        ({"scopes": ['say"hi']}, {}, "is not a valid OAuth scope"),
        ({"scopes": [""]}, {}, "is not a valid OAuth scope"),
        ({"issuer": "idp.example"}, {}, "field 'oauth.issuer'"),
        ({"redirect_uri": "myapp://callback"}, {}, "field 'oauth.redirect_uri'"),
        ({"grant": "implicit"}, {}, "field 'oauth.grant'"),
        ({"client_id": ""}, {}, "field 'oauth.client_id'"),
        ({"authorization_timeout_s": 0}, {}, "field 'oauth.authorization_timeout_s'"),
        ({"signing_algorithm": "HS256"}, {}, "field 'oauth.signing_algorithm'"),
        ({"client_secrets": "x"}, {}, "field 'oauth.client_secrets'"),  # typo: not ignored
        (
            {"grant": "client_credentials", "client_id": "gw", "private_key": "not a key"},
            {},
            "private_key: not a PEM private key that can sign RS256",
        ),
        (  # an EC key cannot sign RS256
            {"grant": "client_credentials", "client_id": "gw", "private_key": PEM},
            {},
            "private_key: not a PEM private key that can sign RS256",
        ),
        (  # a public key cannot sign at all
            {"grant": "client_credentials", "client_id": "gw", "private_key": PUBLIC_PEM}
            | {"signing_algorithm": "ES256"},
            {},
            "private_key: not a PEM private key that can sign ES256",
        ),
    ],
)
def test_oauth_rules(oauth: dict[str, Any], extra: dict[str, Any], expected: str) -> None:
    with pytest.raises(UpstreamConfigError) as info:
        parse_upstreams({"upstreams": [http_upstream(oauth, **extra)]}, environ={})
    message = str(info.value)
    assert "upstream 'api'" in message
    assert expected in message
    assert "\n" not in message


def test_oauth_on_a_stdio_upstream_is_refused() -> None:
    raw = {"name": "local", "transport": "stdio", "command": ["srv"], "oauth": {}}
    with pytest.raises(UpstreamConfigError, match="url/headers/oauth: only valid when transport"):
        parse_upstreams({"upstreams": [raw]}, environ={})


def test_other_headers_are_fine_with_oauth() -> None:
    (config,) = parse_upstreams(
        {"upstreams": [http_upstream({}, headers={"X-Tenant": "acme"})]}, environ={}
    )
    assert config.oauth == OAuthConfig()


def test_redacted_masks_oauth_secrets(tmp_path: Path) -> None:
    reports, billing = load_upstreams(write(tmp_path, FILE), environ=ENV)
    shown = [reports.redacted(), billing.redacted()]
    text = json.dumps(shown)
    assert "s3cret-value-1" not in text
    assert "MIIEsecret" not in text
    assert "s3cret-value-1" not in repr(reports)
    assert shown[0]["oauth"]["client_secret"] == "***"
    assert shown[0]["oauth"]["client_id"] == "gw-reports"  # not a secret: shown for checking
    assert shown[1]["oauth"]["private_key"] == "***"
    assert shown[1]["oauth"]["client_secret"] is None  # unset stays visibly unset


def test_mcp_server_check_masks_oauth_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    proc = subprocess.run(
        # --offline: the upstreams named here do not exist; this is about what is shown
        [sys.executable, "-m", "mcp_fastapi_server", "check", "--offline"],
        capture_output=True,
        text=True,
        env=base | ENV | {"MCP_UPSTREAMS_FILE": str(path)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "s3cret-value-1" not in proc.stdout + proc.stderr
    assert "MIIEsecret" not in proc.stdout + proc.stderr
    upstreams = {u["name"]: u for u in json.loads(proc.stdout)["upstreams"]}
    assert upstreams["reports"]["oauth"]["client_secret"] == "***"
    assert upstreams["reports"]["oauth"]["issuer"] == "https://idp.example"
    assert upstreams["billing"]["oauth"]["private_key"] == "***"
