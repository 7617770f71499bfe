"""Hypothesis strategies for malformed MCP input: JSON-RPC-ish HTTP bodies and stdio lines.

Mostly *almost* valid messages (wrong types, missing fields, unknown methods, odd ids,
batches), because those reach deeper into a server than random bytes, which the first
parser rejects; a share of raw garbage is mixed in all the same.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["METHODS", "http_bodies", "json_values", "rpc_messages", "stdio_lines"]

METHODS = (
    "initialize",
    "notifications/initialized",
    "server/discover",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

_ids = (
    st.none()
    | st.integers()
    | st.text(max_size=10)
    | st.floats(allow_nan=False)
    | st.lists(st.integers(), max_size=2)
)
_methods = st.sampled_from(METHODS) | st.text(max_size=20) | json_scalars
_tool_params = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=20) | json_scalars,
        "arguments": json_values,
        "cursor": st.text(max_size=30) | json_scalars,
        "_meta": json_values,
    },
)


@st.composite
def rpc_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON-RPC-shaped object with any field missing, mistyped or unexpected."""
    message: dict[str, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        message["jsonrpc"] = draw(st.sampled_from(["2.0", "1.0", "", None, 2]))
    if draw(st.booleans()):
        message["id"] = draw(_ids)
    if draw(st.integers(0, 9)) > 0:
        message["method"] = draw(_methods)
    if draw(st.booleans()):
        message["params"] = draw(_tool_params | json_values)
    if draw(st.integers(0, 9)) == 0:
        message[draw(st.sampled_from(["result", "error", "extra"]))] = draw(json_values)
    return message


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def http_bodies() -> st.SearchStrategy[bytes]:
    """Request bodies: near-valid messages, batches, other JSON, broken JSON, raw bytes."""
    return st.one_of(
        rpc_messages().map(_encode),
        st.lists(rpc_messages(), max_size=3).map(_encode),
        json_values.map(_encode),
        rpc_messages().map(lambda m: _encode(m)[: max(1, len(_encode(m)) // 2)]),
        st.binary(max_size=200),
    )


def stdio_lines() -> st.SearchStrategy[bytes]:
    """One line each (no newline inside): near-valid messages, other JSON, raw garbage."""
    return st.one_of(
        rpc_messages().map(_encode),
        json_values.map(_encode),
        st.text(max_size=200).map(lambda text: text.encode("utf-8", "replace")),
        st.binary(max_size=200),
    ).map(lambda line: line.replace(b"\n", b" ").replace(b"\r", b" "))
