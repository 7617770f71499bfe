"""Structured logs through stdlib :mod:`logging`: JSON or console lines, request ids, redaction.

Library users keep their own logging: nothing here runs unless the host calls it, and the
toolkit only ever logs through ``logging.getLogger(...)``, so the host's handlers and
formatters apply. :func:`configure_logging` is what our CLI (and a host that wants our
format) calls. The formatter is hand-written rather than taken from a JSON-logging package
because it must redact secrets and add the request id while serializing each line once
with orjson (the access log is on the hot path of every call).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from mcp_fastapi_server.core import current_request_id

if TYPE_CHECKING:
    from mcp_fastapi_server._settings import Settings

__all__ = [
    "REDACTED",
    "ConsoleFormatter",
    "JsonFormatter",
    "RequestIdFilter",
    "configure_logging",
    "quiet_per_request_sdk_logs",
    "redact",
    "redact_text",
    "route_fastmcp_logging",
]

REDACTED = "[REDACTED]"
# A key is secret when its lowercased name contains one of these words
# (``Authorization``, ``access_token``, ``client_secret``, ``Set-Cookie`` ...).
_SENSITIVE_WORDS = ("authorization", "token", "secret", "password", "cookie")
_BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
# Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "request_id",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}
_sensitive_cache: dict[str, bool] = {}
_PLAIN_TYPES = frozenset({int, float, bool, type(None)})
_MAX_DEPTH = 4


def _is_sensitive(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (memoized: key names come from code)."""
    hit = _sensitive_cache.get(key)
    if hit is None:
        lowered = key.lower()
        hit = any(word in lowered for word in _SENSITIVE_WORDS)
        if len(_sensitive_cache) < 4096:
            _sensitive_cache[key] = hit
    return hit


def redact_text(text: str) -> str:
    """``text`` with ``Bearer <token>`` credentials masked (a substring test skips the regex)."""
    if "earer" in text or "EARER" in text:
        return _BEARER_RE.sub(r"\1 " + REDACTED, text)
    return text


def redact(key: str, value: Any, _depth: int = 0) -> Any:
    """``value`` of field ``key`` with secrets masked: by key name, nested mappings, Bearer text."""
    if _is_sensitive(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping) and _depth < _MAX_DEPTH:
        return {str(k): redact(str(k), v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple) and _depth < _MAX_DEPTH:
        return [redact("", v, _depth + 1) for v in value]
    return value


class RequestIdFilter(logging.Filter):
    """Put the current request id on every record (``record.request_id``).

    Attach it to a *handler* (filters on a logger do not see records from child loggers),
    e.g. to the host's own handler so its formatter can print ``%(request_id)s``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


# One-entry cache (most lines share their second); a tuple swapped whole, so threads
# never see the second of one entry with the text of another.
_last_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds; the seconds part is formatted once per second."""
    global _last_second
    whole = int(created)
    cached = _last_second
    if cached[0] != whole:
        cached = _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((created - whole) * 1000):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra={...}`` fields of ``record``, redacted; scalars take a fast path."""
    fields = record.__dict__
    out: dict[str, Any] = {}
    for key, value in fields.items():  # extras come last, in the order they were given
        if key in _RECORD_ATTRS:
            continue
        kind = type(value)
        sensitive = _sensitive_cache.get(key)
        if sensitive is None:
            sensitive = _is_sensitive(key)
        if sensitive:
            out[key] = REDACTED
        elif kind is str:
            out[key] = redact_text(value)
        elif kind in _PLAIN_TYPES:
            out[key] = value
        else:
            out[key] = redact(key, value)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id.get(),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=repr).decode()


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal: ``time LEVEL logger [request_id] message k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or current_request_id.get()
        parts = [
            time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}",
            f"{record.levelname:<7}",
            record.name,
        ]
        if rid:
            parts.append(f"[{rid}]")
        parts.append(redact_text(record.getMessage()))
        parts.extend(f"{key}={value}" for key, value in _extras(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def route_fastmcp_logging() -> None:
    """Send FastMCP's logs through the root logger (and so through our handler).

    Importing fastmcp gives its ``fastmcp`` logger two rich stderr handlers and
    ``propagate=False``; ``run_stdio_async(log_level=...)`` reinstalls them unless
    ``fastmcp.settings.log_enabled`` is false (fastmcp/utilities/logging.py).
    """
    import fastmcp

    fastmcp.settings.log_enabled = False
    fm_logger = logging.getLogger("fastmcp")
    for handler in fm_logger.handlers[:]:
        fm_logger.removeHandler(handler)
    fm_logger.propagate = True
    fm_logger.setLevel(logging.NOTSET)


def configure_logging(
    settings: Settings, *, stream: TextIO | None = None, fastmcp: bool = True
) -> logging.Handler:
    """Install one stream handler on the root logger (for our CLI; hosts may call it too).

    Replaces the root logger's handlers (like ``basicConfig(force=True)``): in stdio mode
    a stray handler on stdout would corrupt the protocol. ``stream`` defaults to the
    current ``sys.stderr``. Returns the installed handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter: logging.Formatter = (
        ConsoleFormatter() if settings.log_format == "console" else JsonFormatter()
    )
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if fastmcp:  # off for commands that never load FastMCP (its import takes ~1 s)
        route_fastmcp_logging()
    return handler


class _SessionlessTermination(logging.Filter):
    """Drops the SDK's ``Terminating session: None`` line: a stateless request's transport
    ends with every request, so at INFO it doubled the log volume next to our access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Terminating session: None"


def quiet_per_request_sdk_logs() -> None:
    """One line per request at INFO: filter the SDK's per-request transport chatter.

    Installed on the SDK's own logger (so it applies whatever handlers the host has);
    idempotent. Sessions that really end (``Terminating session: <id>``) still log.
    """
    sdk = logging.getLogger("mcp.server.streamable_http")
    if not any(isinstance(f, _SessionlessTermination) for f in sdk.filters):
        sdk.addFilter(_SessionlessTermination())
