"""The official conformance suite's client scenarios, judging UpstreamManager.

Runs every scenario of the suite's ``core`` (initialize, tools_call, SEP-1034 elicitation
defaults, SSE retry and the 14 OAuth scenarios) through ``tools/conformance/run_client.py``
(the real suite, its Node and ``python -m mcp_upstream_client.conformance_client``) and
checks that each one passed with checks and no failure. ``--suite all`` (back-compat and
extensions) runs in ``nox -s conformance``. It never skips: the runner installs the pinned
suite (``tools/node``) on first use, and a failed install fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mcp_testkit.asgi import free_port
from mcp_upstream_client.conformance_client import CIMD_URL, main, oauth_for, run

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "tools" / "conformance" / "run_client.py"
# The 18 scenarios of the pinned suite's `core`: the manager must pass every one.
CORE = {
    "initialize",
    "tools_call",
    "elicitation-sep1034-client-defaults",
    "sse-retry",
    *(
        f"auth/{name}"
        for name in (
            "metadata-default",
            "metadata-var1",
            "metadata-var2",
            "metadata-var3",
            "basic-cimd",
            "scope-from-www-authenticate",
            "scope-from-scopes-supported",
            "scope-omitted-when-undefined",
            "scope-step-up",
            "scope-retry-limit",
            "token-endpoint-auth-basic",
            "token-endpoint-auth-post",
            "token-endpoint-auth-none",
            "pre-registration",
        )
    ),
}


def test_core_client_suite_passes(tmp_path: Path) -> None:
    report = tmp_path / "results.json"
    output = ["--output", str(tmp_path / "out"), "--json", str(report)]
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--suite", "core", *output],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    results = json.loads(report.read_text(encoding="utf-8"))
    assert set(results) == CORE, sorted(results)
    for name in CORE:
        assert results[name]["passed"], (name, results[name])
        assert results[name]["checks"] > 0, results[name]
        assert not results[name]["failures"], results[name]


async def test_adapter_reports_an_unreachable_upstream() -> None:
    # Nothing listens on a fresh free port: the manager's connect error is exit status 1.
    assert await run(f"http://127.0.0.1:{free_port()}/mcp", "tools_call") == 1


@pytest.mark.parametrize("context", ["not json", "[1, 2]"])
def test_adapter_rejects_a_context_that_is_not_a_json_object(
    context: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_CONFORMANCE_CONTEXT", context)
    with pytest.raises(SystemExit) as exc:
        main(["http://127.0.0.1:1/mcp", "--scenario", "auth/pre-registration"])
    assert exc.value.code == 2


def test_adapter_rejects_a_url_that_is_not_http() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["localhost:1234/mcp", "--scenario", "initialize"])
    assert exc.value.code == 2


def test_adapter_maps_auth_scenarios_to_the_upstream_files_oauth_table() -> None:
    assert oauth_for("tools_call", {}) is None
    dcr = oauth_for("auth/metadata-default", {})
    assert dcr is not None
    assert dcr.grant == "authorization_code"
    assert dcr.client_id is None
    assert dcr.client_metadata_url == CIMD_URL
    pre = oauth_for("auth/pre-registration", {"client_id": "c", "client_secret": "s"})
    assert pre is not None
    assert pre.client_id == "c"
    assert pre.client_metadata_url is None
    assert pre.client_secret is not None
    assert pre.client_secret.get_secret_value() == "s"
    basic = oauth_for("auth/client-credentials-basic", {"client_id": "c", "client_secret": "s"})
    assert basic is not None
    assert basic.grant == "client_credentials"
    key = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    jwt = oauth_for(
        "auth/client-credentials-jwt",
        {"client_id": "c", "private_key_pem": key, "signing_algorithm": "ES256"},
    )
    assert jwt is not None
    assert jwt.private_key is not None
    assert jwt.signing_algorithm == "ES256"
    assert jwt.client_secret is None
