"""JSON and console log lines: request ids, extra fields, redaction, and root configuration."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import fastmcp
import orjson
import pytest

from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.core import current_request_id
from mcp_fastapi_server.observability import (
    REDACTED,
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    redact,
    redact_text,
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it all back."""
    root = logging.getLogger()
    fm = logging.getLogger("fastmcp")
    saved = (root.handlers[:], root.level, fm.handlers[:], fm.level, fm.propagate)
    saved_enabled = fastmcp.settings.log_enabled
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    fm.handlers[:], fm.level, fm.propagate = saved[2], saved[3], saved[4]
    fastmcp.settings.log_enabled = saved_enabled


def _logger_to(stream: io.StringIO, formatter: logging.Formatter, name: str) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_line_has_request_id_from_contextvar_and_extras() -> None:
    stream = io.StringIO()
    log = _logger_to(stream, JsonFormatter(), "test.obs.json")
    token = current_request_id.set("rid-123")
    try:
        log.info("hello %s", "world", extra={"tool": "search", "n": 3, "nested": {"a": [1]}})
    finally:
        current_request_id.reset(token)
    log.warning("outside")
    first, second = _lines(stream)
    assert first["message"] == "hello world"
    assert first["request_id"] == "rid-123"
    assert first["level"] == "INFO"
    assert first["logger"] == "test.obs.json"
    assert first["tool"] == "search"
    assert first["n"] == 3
    assert first["nested"] == {"a": [1]}
    assert first["time"].endswith("Z")
    assert second["request_id"] is None
    assert "tool" not in second


def test_json_line_redacts_secret_fields_and_bearer_tokens() -> None:
    stream = io.StringIO()
    log = _logger_to(stream, JsonFormatter(), "test.obs.redact")
    log.info(
        "upstream said: Authorization: Bearer eyJhbGciOi.payload.sig and bearer abc123==",
        extra={
            "authorization": "Bearer xyz",
            "access_token": "t0k",
            "client_secret": "s3cr3t",
            "password": "hunter2",
            "headers": {"Cookie": "session=1", "accept": "application/json"},
            "note": "sent Bearer qwerty",
        },
    )
    (line,) = _lines(stream)
    text = stream.getvalue()
    for secret in (
        "eyJhbGciOi",
        "abc123",
        "xyz",
        "t0k",
        "s3cr3t",
        "hunter2",
        "session=1",
        "qwerty",
    ):
        assert secret not in text
    assert line["message"] == (
        f"upstream said: Authorization: Bearer {REDACTED} and bearer {REDACTED}"
    )
    assert line["authorization"] == REDACTED
    assert line["headers"] == {"Cookie": REDACTED, "accept": "application/json"}
    assert line["note"] == f"sent Bearer {REDACTED}"


def test_exception_text_is_included_and_redacted() -> None:
    stream = io.StringIO()
    log = _logger_to(stream, JsonFormatter(), "test.obs.exc")
    try:
        raise RuntimeError("token was Bearer leaked.token")
    except RuntimeError:
        log.exception("failed")
    (line,) = _lines(stream)
    assert "RuntimeError" in line["exc"]
    assert "leaked.token" not in line["exc"]


def test_redact_helpers() -> None:
    assert redact_text("no secrets here") == "no secrets here"
    assert redact("Set-Cookie", "a=b") == REDACTED
    assert redact("items", [{"token": "x"}, "Bearer y"]) == [
        {"token": REDACTED},
        "Bearer " + REDACTED,
    ]
    assert redact("count", 5) == 5


def test_console_format_is_one_readable_line() -> None:
    stream = io.StringIO()
    log = _logger_to(stream, ConsoleFormatter(), "test.obs.console")
    token = current_request_id.set("rid-console")
    try:
        log.info("access", extra={"method": "tools/call", "status": 200, "token": "zzz"})
    finally:
        current_request_id.reset(token)
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line
    assert " INFO    test.obs.console [rid-console] access " in line
    assert "method=tools/call" in line
    assert "status=200" in line
    assert "zzz" not in line
    assert f"token={REDACTED}" in line
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)


def test_request_id_filter_serves_host_formatters() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("test.obs.hostfmt")
    log.handlers[:] = [handler]
    log.propagate = False
    token = current_request_id.set("host-rid")
    try:
        log.warning("from the host")
    finally:
        current_request_id.reset(token)
    log.warning("no request")
    assert stream.getvalue().splitlines() == ["host-rid from the host", "None no request"]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_routes_everything_through_one_handler() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)  # idempotent
    assert len(logging.getLogger().handlers) == 1
    fm = logging.getLogger("fastmcp")
    assert fm.handlers == []
    assert fm.propagate is True
    assert fastmcp.settings.log_enabled is False  # run_stdio_async will not reinstall rich

    token = current_request_id.set("rid-root")
    try:
        logging.getLogger("fastmcp.server.test").warning("fastmcp says hi")
        logging.getLogger("team.app").debug("dropped below INFO")
        logging.getLogger("team.app").info("team line")
    finally:
        current_request_id.reset(token)
    lines = _lines(stream)
    assert [(x["logger"], x["message"], x["request_id"]) for x in lines] == [
        ("fastmcp.server.test", "fastmcp says hi", "rid-root"),
        ("team.app", "team line", "rid-root"),
    ]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_console() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="console", log_level="DEBUG"), stream=stream)
    logging.getLogger("team.app").debug("debug shown")
    assert "DEBUG   team.app debug shown" in stream.getvalue()


def test_timestamps_follow_the_record_clock() -> None:
    from datetime import UTC, datetime

    formatter = JsonFormatter()
    for created in (0.0, 1_764_000_000.999, 1_764_000_001.0, 1_764_000_000.5):
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", (), None)
        record.created = created
        stamp = orjson.loads(formatter.format(record))["time"]
        expected = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        assert stamp == expected + "Z"
