"""Settings come from MCP_* variables; a bad value is one line naming the variable."""

from __future__ import annotations

import pytest

from mcp_fastapi_server._settings import RateLimit, SettingsError, load_settings, parse_rate_limit


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(_env_file=None)
    assert s.enabled is True
    assert s.http_path == "/mcp"
    assert s.http_stateless is True
    assert s.tools_enabled == ["*"]
    assert s.page_size == 20
    assert s.max_response_bytes == 65536
    assert s.max_request_bytes == 1_048_576
    assert s.auth_mode == "none"
    assert s.auth_jwt_algorithms == ["RS256"]
    assert s.auth_leeway_s == 30
    assert s.redis_url is None
    assert s.redis_key_prefix == "mcp:"
    assert s.rate_limit_default == "60/minute"
    assert s.rate_limit_failure_mode == "open"
    assert s.metrics_path == "/metrics"
    assert s.log_format == "json"
    assert "127.0.0.1:*" in s.allowed_hosts


def test_comma_lists_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TOOLS_ENABLED", "search, fetch")
    monkeypatch.setenv("MCP_AUTH_REQUIRED_SCOPES", '["mcp:use"]')
    monkeypatch.setenv("MCP_TOOL_SCOPES", '{"fetch": ["docs:read"]}')
    monkeypatch.setenv("MCP_RATE_LIMIT_TOOLS", '{"search": "10/second"}')
    s = load_settings(_env_file=None)
    assert s.tools_enabled == ["search", "fetch"]
    assert s.auth_required_scopes == ["mcp:use"]
    assert s.tool_scopes == {"fetch": ["docs:read"]}
    assert s.rate_limit_tools == {"search": "10/second"}


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("MCP_PAGE_SIZE", "0", "MCP_PAGE_SIZE"),
        ("MCP_HTTP_PATH", "mcp", "MCP_HTTP_PATH"),
        ("MCP_AUTH_JWT_ALGORITHMS", "none", "MCP_AUTH_JWT_ALGORITHMS"),
        ("MCP_RATE_LIMIT_DEFAULT", "lots", "MCP_RATE_LIMIT_DEFAULT"),
        ("MCP_RATE_LIMIT_TOOLS", '{"search": "fast"}', "MCP_RATE_LIMIT_TOOLS"),
        ("MCP_TOOL_SCOPES", "{not json", "MCP_TOOL_SCOPES"),
        ("MCP_LOG_FORMAT", "xml", "MCP_LOG_FORMAT"),
        ("MCP_RATE_LIMIT_FAILURE_MODE", "maybe", "MCP_RATE_LIMIT_FAILURE_MODE"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_jwt_needs_exactly_one_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_AUTH_MODE", "jwt")
    with pytest.raises(SettingsError, match="exactly one key source"):
        load_settings(_env_file=None)
    monkeypatch.setenv("MCP_AUTH_JWT_SECRET", "s" * 32)
    assert load_settings(_env_file=None).auth_mode == "jwt"


def test_masked_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_CURSOR_SECRET", "hunter2-hunter2")
    monkeypatch.setenv("MCP_REDIS_URL", "redis://:pw@127.0.0.1:6379/0")
    shown = load_settings(_env_file=None).masked()
    text = repr(shown)
    assert "hunter2" not in text
    assert "pw@" not in text
    assert shown["MCP_CURSOR_SECRET"] == "********"


def test_dotenv_is_read(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"  # type: ignore[operator]
    env.write_text("MCP_PAGE_SIZE=7\n")
    assert load_settings(_env_file=str(env)).page_size == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/second", (10, 1.0)),
        ("60/minute", (60, 60.0)),
        ("5/10s", (5, 10.0)),
        ("1/day", (1, 86400.0)),
    ],
)
def test_parse_rate_limit(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(text) == RateLimit(*expected)


@pytest.mark.parametrize("text", ["", "0/second", "ten/second", "10/fortnight", "10"])
def test_parse_rate_limit_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate_limit(text)
