"""Signed cursors and size cuts (mcp_fastapi_server._paging)."""

from __future__ import annotations

import base64
import json

import pytest
from fastmcp.exceptions import ToolError
from fastmcp.tools import ToolResult
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp_types import CallToolResult, TextContent

from mcp_fastapi_server._paging import (
    CursorCodec,
    InvalidCursorError,
    longest_prefix,
    result_json_size,
    utf8_prefix_chars,
)

payloads = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20), st.booleans(), st.none()),
    max_size=4,
)


class Clock:
    """A settable wall clock (a real value object, not a mock)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@given(payloads, st.sampled_from(["search", "fetch", "metadata"]))
def test_round_trip(payload: dict[str, object], kind: str) -> None:
    codec = CursorCodec("secret")
    token = codec.encode(kind, payload)
    assert token.isascii()
    assert "=" not in token
    assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))  # urlsafe base64
    assert codec.decode(kind, token) == payload


@given(st.data())
@settings(max_examples=300)
def test_any_single_change_is_rejected(data: st.DataObject) -> None:
    codec = CursorCodec(b"\x00binary secret")
    token = codec.encode("fetch", {"id": "guides/install", "o": 1234, "h": "abcd"})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    i = data.draw(st.integers(0, len(token) - 1))
    ch = data.draw(st.sampled_from(alphabet).filter(lambda c: c != token[i]))
    tampered = token[:i] + ch + token[i + 1 :]
    try:
        decoded = codec.decode("fetch", tampered)
    except InvalidCursorError:
        return
    # The last character may carry unused low bits: then the bytes are unchanged.
    assert i == len(token) - 1
    assert decoded == codec.decode("fetch", token)


def test_tampered_payload_with_recomputed_base64_is_rejected() -> None:
    codec = CursorCodec("secret")
    token = codec.encode("search", {"o": 20})
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body = bytes(raw).replace(b'"o":20', b'"o":99')
    forged = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    with pytest.raises(InvalidCursorError, match="signature check failed"):
        codec.decode("search", forged)


def test_cursor_is_bound_to_its_kind() -> None:
    codec = CursorCodec("secret")
    token = codec.encode("search", {"o": 1})
    with pytest.raises(InvalidCursorError, match="issued by 'search', not 'fetch'"):
        codec.decode("fetch", token)


def test_other_secret_is_rejected_same_secret_is_accepted() -> None:
    token = CursorCodec("replica-secret").encode("search", {"o": 1})
    assert CursorCodec("replica-secret").decode("search", token) == {"o": 1}
    with pytest.raises(InvalidCursorError, match="MCP_CURSOR_SECRET"):
        CursorCodec("another").decode("search", token)


def test_expiry() -> None:
    clock = Clock()
    codec = CursorCodec("secret", ttl_s=60, clock=clock)
    token = codec.encode("search", {"o": 1})
    clock.now += 60
    assert codec.decode("search", token) == {"o": 1}
    clock.now += 2
    with pytest.raises(InvalidCursorError, match="expired"):
        codec.decode("search", token)


@pytest.mark.parametrize(
    "garbage", ["", "x", "!!!!", "====", "AAAA", "a" * 5000, "é", "AVsi" * 10, "\x00"]
)
def test_garbage_is_a_clear_error(garbage: str) -> None:
    with pytest.raises(InvalidCursorError, match="Invalid cursor"):
        CursorCodec("secret").decode("search", garbage)


def test_invalid_cursor_is_a_tool_error() -> None:
    assert issubclass(InvalidCursorError, ToolError)


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="empty"):
        CursorCodec("")
    with pytest.raises(ValueError, match="ttl_s"):
        CursorCodec("s", ttl_s=0)


# Size cuts -----------------------------------------------------------------------------

texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "é", "€", "😀", "𝄞", "\u2028"]),
    ),
    max_size=80,
)


@given(texts, st.integers(-2, 400))
def test_utf8_prefix_chars_is_the_longest_fitting_prefix(text: str, max_bytes: int) -> None:
    k = utf8_prefix_chars(text, max_bytes)
    assert 0 <= k <= len(text)
    assert len(text[:k].encode()) <= max(max_bytes, 0)
    if k < len(text):
        assert len(text[: k + 1].encode()) > max_bytes


def _escaped(chunk: str) -> int:
    return len(json.dumps(chunk)) - 2


@given(texts, st.integers(0, 60), st.integers(-5, 500))
def test_longest_prefix_matches_brute_force(text: str, start: int, budget: int) -> None:
    start = min(start, len(text))
    end = longest_prefix(text, start, budget, _escaped, max_char_cost=12)
    fitting = [e for e in range(start, len(text) + 1) if _escaped(text[start:e]) <= budget]
    assert end == (max(fitting) if fitting else start)


@given(texts)
def test_result_json_size_is_the_ascii_wire_form(text: str) -> None:
    result = ToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"t": text}
    )
    wire = CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"t": text}
    ).model_dump(by_alias=True, mode="json", exclude_none=True)
    assert wire.pop("resultType") == "complete"  # added by the protocol layer: the reserve
    ascii_form = json.dumps(wire, separators=(",", ":"))
    raw_form = json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()
    assert result_json_size(result) == len(ascii_form) >= len(raw_form)
