"""`mcp-server check|serve` start-up behaviour: one clear line and exit code 2 on errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    return subprocess.run(
        [sys.executable, "-m", "mcp_fastapi_server", *args],
        capture_output=True,
        text=True,
        env=base | env,
        timeout=60,
        check=False,
    )


def test_check_prints_masked_configuration() -> None:
    proc = run("check", MCP_CURSOR_SECRET="hunter2-hunter2-hunter2")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["settings"]["MCP_CURSOR_SECRET"] == "********"
    assert "hunter2" not in proc.stdout
    assert shown["tools"] == ["health", "metadata", "search", "fetch"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MCP_PAGE_SIZE": "-1"}, "MCP_PAGE_SIZE"),
        ({"MCP_TOOLS_ENABLED": "search,delete_everything"}, "delete_everything"),
        ({"MCP_DOCS_DIR": "/definitely/not/here"}, "/definitely/not/here"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(env: dict[str, str], needle: str) -> None:
    proc = run("check", **env)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_serve_refuses_anonymous_non_loopback_bind() -> None:
    proc = run("serve", "--host", "0.0.0.0", "--port", "1")
    assert proc.returncode == 2
    assert "MCP_AUTH_MODE=none" in proc.stderr


def test_serve_refuses_conformance_fixtures_off_loopback() -> None:
    proc = run("serve", "--host", "0.0.0.0", "--port", "1", MCP_CONFORMANCE="true")
    assert proc.returncode == 2
    assert "MCP_CONFORMANCE" in proc.stderr


def test_check_validates_the_upstream_file(tmp_path: pytest.TempPathFactory) -> None:
    good = tmp_path / "ok.toml"  # type: ignore[operator]
    good.write_text(
        '[[upstreams]]\nname = "docs"\ntransport = "http"\nurl = "https://docs.example/mcp"\n'
        'headers = { Authorization = "Bearer ${DOCS_TOKEN}" }\nallow_tools = ["search"]\n'
    )
    proc = run("check", MCP_UPSTREAMS_FILE=str(good), DOCS_TOKEN="very-secret-token")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["upstreams"][0]["name"] == "docs"
    assert "very-secret-token" not in proc.stdout

    bad = tmp_path / "bad.toml"  # type: ignore[operator]
    bad.write_text('[[upstreams]]\nname = "docs"\ntransport = "http"\ntimeout_s = -1\n')
    proc = run("check", MCP_UPSTREAMS_FILE=str(bad))
    assert proc.returncode == 2
    assert "'docs'" in proc.stderr
    assert "timeout_s" in proc.stderr
    assert "Traceback" not in proc.stderr

    proc = run("check", MCP_UPSTREAMS_FILE=str(good))  # DOCS_TOKEN unset
    assert proc.returncode == 2
    assert "DOCS_TOKEN" in proc.stderr


def test_pin_without_upstreams_says_so() -> None:
    proc = run("pin")
    assert proc.returncode == 2
    assert "MCP_UPSTREAMS_FILE" in proc.stderr
