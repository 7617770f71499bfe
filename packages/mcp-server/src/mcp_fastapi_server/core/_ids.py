"""Request ids and W3C trace context: made here, or taken from the caller when safe.

The id is taken from the caller (``X-Request-ID`` or ``X-Correlation-ID``) only when it is
short and made of safe characters, so a client can neither inject log syntax nor blow up
log storage; otherwise a new one is made. Validation is one precompiled ``fullmatch``.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["MAX_REQUEST_ID_LENGTH", "new_request_id", "parse_request_id", "parse_traceparent"]

MAX_REQUEST_ID_LENGTH = 128

_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:\-]{1,%d}" % MAX_REQUEST_ID_LENGTH)
# W3C Trace Context level 1: version-traceid-parentid-flags, lowercase hex. Later
# versions may append fields after the flags, so only version 00 is held to 55 chars.
_TRACEPARENT_RE = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16


def new_request_id() -> str:
    """A fresh, unguessable id: 32 hex chars (``secrets`` is ~0.3 µs, faster than uuid4)."""
    return secrets.token_hex(16)


def parse_request_id(value: bytes | str | None) -> str | None:
    """``value`` as a request id if it is 1–128 chars of ``[A-Za-z0-9._:-]``, else ``None``."""
    if value is None:
        return None
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else value
    if _REQUEST_ID_RE.fullmatch(raw) is None:
        return None
    return raw.decode("ascii")


def parse_traceparent(value: bytes | str | None) -> str | None:
    """``value`` if it is a valid W3C ``traceparent`` header, else ``None``."""
    if value is None:
        return None
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else value
    match = _TRACEPARENT_RE.fullmatch(raw.strip())
    if match is None:
        return None
    version, trace_id, span_id, extra = match.groups()
    if version == b"ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == b"00" and extra is not None:
        return None
    return match.group(0).decode("ascii")
