"""Clients we did not write, against the real ``mcp-server``: the official MCP Inspector CLI
(stdio and HTTP), the TypeScript SDK's ``StreamableHTTPClientTransport`` with a bearer token,
and the Python SDK v2 client (``mcp``) in both protocol eras.

One JWT-protected ``mcp-server serve`` is shared by the module. The Node tools come from the
pinned lockfile in ``tools/node``, installed on first use; a missing one fails the test (see
``NodeTools`` in conftest).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp import MCPError
from mcp.client import Client as SdkClient
from mcp.client.streamable_http import streamable_http_client

from mcp_testkit.clients import LiveTarget, start_target
from mcp_testkit.jwt import JwtIssuer
from mcp_testkit.servers import ServerFactory

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import NodeTools, ServeTargetMaker

BUILTIN_TOOLS = {"health", "metadata", "search", "fetch"}
QUERY = "webhooks"  # a word of the bundled sample corpus
SUBJECT = "e2e-real-clients"
CLIENT_TIMEOUT_S = 120.0  # a bound against hanging, not a speed check
HERE = Path(__file__).parent
TS_CLIENT = HERE / "clients" / "ts_client.mjs"
INSPECTOR_EXIT_AUTH_REQUIRED = 3  # the inspector's EXIT_CODES.auth_required


@pytest.fixture(scope="module")
def issuer() -> Iterator[JwtIssuer]:
    with JwtIssuer("RS256") as issuer:
        yield issuer


@pytest.fixture(scope="module")
def secured(
    issuer: JwtIssuer,
    make_serve_target: ServeTargetMaker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveTarget]:
    """``mcp-server serve`` with JWT auth (JWKS), plus its ``stdio`` command, for the module."""
    target = make_serve_target(
        tmp_path_factory.mktemp("clients-cwd"), issuer.env(), token=issuer.token(sub=SUBJECT)
    )
    with ServerFactory(tmp_path_factory.mktemp("clients-logs")) as servers:
        yield start_target(target, servers)


def _token(issuer: JwtIssuer) -> str:
    return issuer.token(sub=SUBJECT)  # fresh per test: the target's token ages with the module


def _check_hits(structured: Any) -> None:
    assert isinstance(structured, dict), structured
    hits = structured["results"]
    assert hits, f"no hits for {QUERY!r}: {structured}"
    assert any(QUERY in hit["id"] for hit in hits), hits


# --- the MCP Inspector CLI ----------------------------------------------------------------


def _inspector(
    node_tools: NodeTools, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``inspector --cli --format json ...`` with its state kept under ``tmp_path``."""
    state = tmp_path / "inspector-state"
    env = node_tools.env(
        MCP_STORAGE_DIR=str(state / "storage"),
        MCP_CATALOG_PATH=str(state / "mcp.json"),
        MCP_CLIENT_CONFIG_PATH=str(state / "client.json"),
        MCP_INSPECTOR_OAUTH_STATE_PATH=str(state / "oauth.json"),
    )
    return subprocess.run(
        [*node_tools.inspector(), "--cli", "--format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )


def _inspector_result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"inspector exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    answer = json.loads(done.stdout)
    result: dict[str, Any] = answer["result"]
    return result


def _http_args(live: LiveTarget, token: str | None) -> list[str]:
    args = ["--transport", "http", "--server-url", live.mcp_url, "--stored-auth-only"]
    args += ["--connect-timeout", "30000"]
    return [*args, "--header", f"Authorization: Bearer {token}"] if token else args


def _search_args() -> list[str]:
    args_json = json.dumps({"query": QUERY})
    return ["--method", "tools/call", "--tool-name", "search", "--tool-args-json", args_json]


def test_inspector_over_stdio(node_tools: NodeTools, secured: LiveTarget, tmp_path: Path) -> None:
    assert secured.stdio is not None
    server = ["--cwd", str(tmp_path), "--", *secured.stdio.command]
    listed = _inspector_result(_inspector(node_tools, tmp_path, "--method", "tools/list", *server))
    assert {tool["name"] for tool in listed["tools"]} >= BUILTIN_TOOLS
    for tool in listed["tools"]:
        assert tool["annotations"]["readOnlyHint"] is True, tool

    called = _inspector_result(_inspector(node_tools, tmp_path, *_search_args(), *server))
    assert called["isError"] is False
    _check_hits(called["structuredContent"])


def test_inspector_over_http_with_a_token(
    node_tools: NodeTools, secured: LiveTarget, issuer: JwtIssuer, tmp_path: Path
) -> None:
    http = _http_args(secured, _token(issuer))
    listed = _inspector_result(_inspector(node_tools, tmp_path, *http, "--method", "tools/list"))
    assert {tool["name"] for tool in listed["tools"]} >= BUILTIN_TOOLS

    called = _inspector_result(_inspector(node_tools, tmp_path, *http, *_search_args()))
    assert called["isError"] is False
    _check_hits(called["structuredContent"])


def test_inspector_without_a_token_is_refused(
    node_tools: NodeTools, secured: LiveTarget, tmp_path: Path
) -> None:
    http = _http_args(secured, None)
    done = _inspector(node_tools, tmp_path, *http, "--method", "tools/list")
    assert done.returncode == INSPECTOR_EXIT_AUTH_REQUIRED, f"{done.stdout}\n{done.stderr}"
    assert "auth_required" in done.stderr


# --- the TypeScript SDK ---------------------------------------------------------------------


def _ts_client(node_tools: NodeTools, live: LiveTarget, token: str | None) -> tuple[int, Any]:
    node_tools.typescript_sdk()  # fails the test with the install hint when it is missing
    env = node_tools.env(**({"MCP_BEARER_TOKEN": token} if token else {}))
    done = subprocess.run(
        [node_tools.node, str(TS_CLIENT), live.mcp_url, QUERY],
        capture_output=True,
        text=True,
        env=env,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    assert done.stdout.strip(), f"no output (exit {done.returncode}):\n{done.stderr}"
    return done.returncode, json.loads(done.stdout)


def test_typescript_sdk_client_with_a_token(
    node_tools: NodeTools, secured: LiveTarget, issuer: JwtIssuer
) -> None:
    code, out = _ts_client(node_tools, secured, _token(issuer))
    assert code == 0, out
    assert out["protocolVersion"] == "2025-11-25"  # SDK 1.x speaks the handshake era
    assert set(out["tools"]) >= BUILTIN_TOOLS
    _check_hits(out["search"])


def test_typescript_sdk_client_without_a_token_gets_401(
    node_tools: NodeTools, secured: LiveTarget
) -> None:
    code, out = _ts_client(node_tools, secured, None)
    assert code == 2, out
    assert out["code"] == 401, out


# --- the Python SDK v2 client ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_python_sdk_client_in_both_eras(
    secured: LiveTarget, issuer: JwtIssuer, mode: str
) -> None:
    headers = {"Authorization": f"Bearer {_token(issuer)}"}
    async with httpx2.AsyncClient(headers=headers, timeout=CLIENT_TIMEOUT_S) as http:
        transport = streamable_http_client(secured.mcp_url, http_client=http)
        async with SdkClient(transport, mode=mode) as client:
            expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
            assert client.protocol_version == expected
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} >= BUILTIN_TOOLS
            result = await client.call_tool("search", {"query": QUERY})
            assert result.is_error is False
            _check_hits(result.structured_content)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_python_sdk_client_without_a_token_is_refused(secured: LiveTarget, mode: str) -> None:
    async with httpx2.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
        transport = streamable_http_client(secured.mcp_url, http_client=http)
        with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap it
            async with SdkClient(transport, mode=mode) as client:
                await client.list_tools()
    assert refused.group_contains(MCPError, match="bearer token is required", depth=None)
