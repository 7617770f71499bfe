"""Signed continuation cursors and size cuts for tool results.

Tools hand out ``next_cursor`` tokens that the caller passes back verbatim. A token must
survive a trip through an untrusted client and a load balancer (another replica may
decode it), so it is HMAC-signed with ``MCP_CURSOR_SECRET``, bound to the tool that
issued it and given an expiry. Tokens are signed, not encrypted: they hold offsets and
hashes only, never secrets.

The size helpers measure a tool result the way the widest transport puts it on the wire,
so a tool can cut its answer to fit ``MCP_MAX_RESPONSE_BYTES`` before sending it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult

__all__ = [
    "WIRE_RESERVE_BYTES",
    "CursorCodec",
    "InvalidCursorError",
    "longest_prefix",
    "result_json_size",
    "result_json_size_bound",
    "utf8_prefix_chars",
]

_VERSION = b"\x01"
_TAG_BYTES = 16  # HMAC-SHA256 truncated to 128 bits: forgery stays infeasible, tokens stay short
_KEY_LABEL = b"mcp-server/cursor/v1"

WIRE_RESERVE_BYTES = 256
"""Room kept for what the protocol layer adds to a result after tools and middleware
have seen it: 2026-era results get ``resultType`` and a ``_meta`` server-info stamp,
~110 bytes for this server. Sizes are checked as ``result_json_size(r) + WIRE_RESERVE_BYTES``."""


class InvalidCursorError(ToolError):
    """A cursor is garbage, tampered with, foreign (another tool or key) or expired.

    A ``ToolError`` so that raising it inside a tool gives the caller an ``isError`` result
    with this message instead of an internal error.
    """


class CursorCodec:
    """Encode and verify opaque, signed, expiring cursors.

    ``kind`` names the tool (or list) a cursor belongs to; a cursor issued for one kind
    never decodes as another. ``clock`` is wall-clock time because cursors travel between
    replicas; inject another clock only to test expiry.
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        ttl_s: float = 3600,
        clock: Callable[[], float] = time.time,
        max_token_chars: int = 4096,
    ) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not raw:
            raise ValueError("the cursor secret must not be empty")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        # Derive a dedicated key so MCP_CURSOR_SECRET could be shared with other uses safely.
        self._key = hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_token_chars = max_token_chars

    def _tag(self, signed: bytes) -> bytes:
        return hmac.new(self._key, signed, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, kind: str, payload: Mapping[str, Any]) -> str:
        """A urlsafe token carrying ``payload`` (JSON-able) for ``kind``."""
        expires = int(self._clock() + self._ttl_s) + 1
        body = orjson.dumps([kind, expires, dict(payload)])
        signed = _VERSION + body
        return base64.urlsafe_b64encode(signed + self._tag(signed)).rstrip(b"=").decode("ascii")

    def decode(self, kind: str, token: str) -> dict[str, Any]:
        """The payload of ``token``; :class:`InvalidCursorError` unless it is ours, intact,
        issued for ``kind`` and not expired."""
        if not isinstance(token, str) or not token or len(token) > self._max_token_chars:
            raise InvalidCursorError("Invalid cursor: not a cursor issued by this server.")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursorError(
                "Invalid cursor: not a cursor issued by this server."
            ) from None
        if len(raw) <= len(_VERSION) + _TAG_BYTES or not raw.startswith(_VERSION):
            raise InvalidCursorError("Invalid cursor: not a cursor issued by this server.")
        signed, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(signed)):
            raise InvalidCursorError(
                "Invalid cursor: signature check failed (the cursor was altered, or was issued "
                "by a server with a different MCP_CURSOR_SECRET)."
            )
        try:
            issued_kind, expires, payload = orjson.loads(signed[len(_VERSION) :])
        except (orjson.JSONDecodeError, ValueError, TypeError):  # signed by us, so a bug
            raise InvalidCursorError("Invalid cursor: malformed.") from None
        if issued_kind != kind:
            raise InvalidCursorError(
                f"Invalid cursor: it was issued by '{issued_kind}', not '{kind}'; pass each "
                "next_cursor back to the tool that returned it."
            )
        if not isinstance(expires, int) or not isinstance(payload, dict):
            raise InvalidCursorError("Invalid cursor: malformed.")
        if self._clock() > expires:
            raise InvalidCursorError(
                "Invalid cursor: expired. Repeat the call without a cursor to start over."
            )
        return payload


def utf8_prefix_chars(text: str, max_bytes: int) -> int:
    """How many leading characters of ``text`` fit in ``max_bytes`` of UTF-8.

    A cut at the returned index never splits a character (Python indexes code points, so a
    4-byte character is one index).
    """
    if max_bytes <= 0:
        return 0
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return len(text)
    cut = max_bytes
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # step back off continuation bytes
        cut -= 1
    return len(data[:cut].decode("utf-8", "surrogatepass"))


def longest_prefix(
    text: str,
    start: int,
    budget: int,
    cost: Callable[[str], int],
    *,
    max_char_cost: int,
) -> int:
    """The largest ``end`` with ``cost(text[start:end]) <= budget`` (``start`` if none fits).

    ``cost`` must be additive over concatenation and at least 1 per character (true for
    JSON escaping, which works code point by code point); ``max_char_cost`` bounds one
    character's cost so the search can start from a length that surely fits. Each probe
    costs only the added slice, so a cut is O(n log n) in C-speed ``cost`` calls.
    """
    n = len(text)
    if budget <= 0 or start >= n:
        return start
    lo = start + min(n - start, budget // max_char_cost)  # surely fits
    used = cost(text[start:lo])
    hi = min(n, lo + (budget - used))  # each further character costs >= 1
    if lo == hi:
        return lo
    top = used + cost(text[lo:hi])
    if top <= budget:
        return hi
    # Invariant: cost(text[start:lo]) == used <= budget < cost(text[start:hi]).
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probe = used + cost(text[lo:mid])
        if probe <= budget:
            lo, used = mid, probe
        else:
            hi = mid
    return lo


def _jsonable_block(block: Any) -> Any:
    return block.model_dump(by_alias=True, mode="json", exclude_none=True)


def _wire_doc(result: ToolResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"content": [_jsonable_block(b) for b in result.content]}
    if result.structured_content is not None:
        doc["structuredContent"] = result.structured_content
    if result.meta is not None:
        doc["_meta"] = result.meta
    doc["isError"] = result.is_error
    return doc


def result_json_size_bound(result: ToolResult) -> int | None:
    """An upper bound of :func:`result_json_size` at a tenth of its cost, or ``None``.

    orjson writes raw UTF-8, where the wire may escape a character as a \\u escape (6 bytes
    for 2-3 UTF-8 bytes) or a surrogate pair (12 for 4), so the wire form is at most 3x
    orjson's; the slack covers float spellings (``1e-05`` vs ``1e-5``). ``None`` when
    orjson refuses the value (non-string keys, huge integers): measure exactly then.
    """
    try:
        return 3 * len(orjson.dumps(_wire_doc(result), default=str)) + 64
    except (orjson.JSONEncodeError, TypeError):
        return None


def result_json_size(result: ToolResult) -> int:
    """Bytes of ``result`` as a ``CallToolResult`` on the wire, in its widest form.

    The modern streamable-HTTP transport writes ``json.dumps(...)`` with ASCII escapes
    (``é`` is 6 bytes, an emoji 12), stdio and legacy HTTP write raw UTF-8; we measure the
    ASCII-escaped form, which is never smaller, so a result that fits here fits on every
    transport. The stdlib C encoder does this in one pass.
    """
    return len(json.dumps(_wire_doc(result), separators=(",", ":"), default=str))
