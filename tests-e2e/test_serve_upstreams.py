"""Approved upstreams through the real ``mcp-server``: the reference
``@modelcontextprotocol/server-everything`` from npm (stdio) and the testkit's fake (HTTP),
both ``expose = true`` in an ``MCP_UPSTREAMS_FILE``.

``mcp-server pin`` prints pins for both; pasted into the file, they keep every tool callable
through ``mcp-server serve`` for a real client holding a JWT, and the caller's token never
reaches the fake upstream (its header log is the canary).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_testkit.clients import HTTP_TRANSPORTS, start_target
from mcp_testkit.fakes import FakeHttpServer, read_events
from mcp_testkit.jwt import JwtIssuer
from mcp_testkit.servers import ServerFactory

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import NodeTools, ServeTargetMaker

EVERYTHING_TOOLS = ("echo", "get-sum")
FAKE = "fake"
FAKE_TOOLS = ("echo", "headers")
UPSTREAM_KEY = "static-upstream-key"  # the fake's own credential, from ${FAKE_UPSTREAM_KEY}
PIN_TIMEOUT_S = 180.0  # a bound against hanging: a cold npx-free node start plus Python imports


def _toml_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items))  # a JSON list of strings is a TOML array


def _toml_table(pins: Mapping[str, str]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in pins.items()) + " }"


def write_upstreams(
    path: Path,
    everything: list[str],
    fake_url: str,
    pins: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    pins = pins or {}
    text = f"""
[[upstreams]]
name = "everything"
transport = "stdio"
command = {json.dumps(everything)}
allow_tools = {_toml_list(EVERYTHING_TOOLS)}
expose = true
required = true
timeout_s = 30
connect_timeout_s = 120
{"pins = " + _toml_table(pins["everything"]) if "everything" in pins else ""}

[[upstreams]]
name = "{FAKE}"
transport = "http"
url = "{fake_url}"
headers = {{ "X-Upstream-Key" = "${{FAKE_UPSTREAM_KEY}}" }}
allow_tools = {_toml_list(FAKE_TOOLS)}
expose = true
required = true
timeout_s = 30
{"pins = " + _toml_table(pins[FAKE]) if FAKE in pins else ""}
"""
    path.write_text(text, encoding="utf-8")
    return path


def parse_pins(printed: str) -> dict[str, dict[str, str]]:
    """``mcp-server pin`` output: a ``# [[upstreams]] name = "x"`` line, then ``pins = {…}``."""
    pins: dict[str, dict[str, str]] = {}
    upstream: str | None = None
    for line in printed.splitlines():
        if line.startswith("# [[upstreams]] name = "):
            upstream = json.loads(line.split("=", 1)[1])
        elif line.startswith("pins = "):
            assert upstream is not None, printed
            pins[upstream] = tomllib.loads(line)["pins"]
    return pins


def run_pin(
    server_command: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``mcp-server pin`` as a user runs it (blocking: call it in a thread)."""
    return subprocess.run(
        [*server_command, "pin"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PIN_TIMEOUT_S,
        check=False,
    )


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_npm_and_fake_upstreams_exposed_through_serve(
    node_tools: NodeTools,
    fake_http_upstream: Callable[..., FakeHttpServer],
    jwt_issuer: JwtIssuer,
    make_serve_target: ServeTargetMaker,
    mcp_server_process: ServerFactory,
    server_command: list[str],
    server_env: dict[str, str],
    tmp_path: Path,
) -> None:
    everything = node_tools.everything_stdio()
    log = tmp_path / "fake-upstream.jsonl"
    fake = fake_http_upstream(log=log)
    upstreams = tmp_path / "upstreams.toml"
    env = {"MCP_UPSTREAMS_FILE": str(upstreams), "FAKE_UPSTREAM_KEY": UPSTREAM_KEY}

    # 1. `mcp-server pin` connects to both and prints one pin per allowed tool.
    write_upstreams(upstreams, everything, fake.url)
    pinned = await asyncio.to_thread(run_pin, server_command, {**server_env, **env}, tmp_path)
    assert pinned.returncode == 0, f"mcp-server pin failed:\n{pinned.stdout}\n{pinned.stderr}"
    pins = parse_pins(pinned.stdout)
    assert set(pins) == {"everything", FAKE}, pinned.stdout
    assert set(pins["everything"]) == set(EVERYTHING_TOOLS)
    assert set(pins[FAKE]) == set(FAKE_TOOLS)
    for tool_pins in pins.values():
        assert all(pin.startswith("sha256:") and len(pin) == 71 for pin in tool_pins.values())

    # 2. With the pins approved, `serve` exposes both upstreams' tools behind JWT auth.
    write_upstreams(upstreams, everything, fake.url, pins)
    token = jwt_issuer.token(sub="upstream-caller")
    target = make_serve_target(tmp_path, {**env, **jwt_issuer.env()}, token=token)
    live = start_target(target, mcp_server_process)
    for transport in HTTP_TRANSPORTS:
        async with live.client(transport) as client:
            names = {tool.name for tool in await client.list_tools()}
            assert {"everything_echo", "everything_get-sum", f"{FAKE}_echo"} <= names, names
            assert f"{FAKE}_delete_all" not in names  # not allowed, so not exposed
            assert "everything_get-env" not in names

            echoed = await client.call_tool("everything_echo", {"message": f"hi {transport}"})
            assert echoed.is_error is False
            assert _text(echoed) == f"Echo: hi {transport}"

            canary = f"canary via {transport}"
            faked = await client.call_tool(f"{FAKE}_echo", {"text": canary})
            assert faked.is_error is False
            assert canary in _text(faked)

    # 3. The canary: the fake saw our calls, its own key, and never the caller's token.
    requests = read_events(log, "http")
    calls = [r for r in requests if r["method"] == "tools/call"]
    assert len(calls) >= len(HTTP_TRANSPORTS), requests
    for request in requests:
        sent = request["headers"]
        assert token not in json.dumps(sent), sent
        assert "authorization" not in sent, sent
        assert sent.get("x-upstream-key") == UPSTREAM_KEY, sent
    echoed_texts = {e["args"].get("text") for e in read_events(log, "call")}
    assert {f"canary via {t}" for t in HTTP_TRANSPORTS} <= echoed_texts
