"""Tool pins: canonical, sensitive to every pinned part, and fail-closed verdicts."""

from __future__ import annotations

import hashlib

import mcp_types

from mcp_upstream_client import canonical_tool_json, tool_pin
from mcp_upstream_client.pins import check_pins


def make_tool(description: str = "Echo the text.", **extra: object) -> mcp_types.Tool:
    return mcp_types.Tool(
        name="echo",
        description=description,
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
        annotations=mcp_types.ToolAnnotations(read_only_hint=True),
        **extra,
    )


def test_pin_is_sha256_of_canonical_json() -> None:
    tool = make_tool()
    raw = canonical_tool_json(tool)
    assert b" " not in raw.replace(b"Echo the text.", b"")
    assert raw.startswith(b'{"annotations":{"readOnlyHint":true},"description"')
    assert tool_pin(tool) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_schema_key_order_does_not_change_the_pin() -> None:
    a = make_tool()
    b = a.model_copy(
        update={"input_schema": {"properties": {"text": {"type": "string"}}, "type": "object"}}
    )
    assert tool_pin(a) == tool_pin(b)


def test_every_pinned_part_changes_the_pin() -> None:
    base = make_tool()
    variants = [
        base.model_copy(update={"description": "Echo the text!"}),
        base.model_copy(update={"input_schema": {"type": "object"}}),
        base.model_copy(update={"output_schema": {"type": "object"}}),
        base.model_copy(update={"annotations": mcp_types.ToolAnnotations(read_only_hint=False)}),
        base.model_copy(update={"name": "echo2"}),
    ]
    pins = {tool_pin(v) for v in variants}
    assert len(pins) == len(variants)
    assert tool_pin(base) not in pins


def test_verdicts() -> None:
    echo = make_tool()
    good = tool_pin(echo)
    allowed = {"echo": echo}
    assert check_pins(allowed, ["echo"], {}).approved == allowed  # no pins: allowlist only
    assert check_pins(allowed, ["echo"], {"echo": good}).approved == allowed
    drifted = check_pins(allowed, ["echo"], {"echo": "sha256:" + "0" * 64})
    assert drifted.approved == {}
    assert "definition changed" in drifted.withdrawn["echo"]
    gone = check_pins({}, ["echo"], {"echo": good})
    assert "disappeared" in gone.withdrawn["echo"]
    other = make_tool().model_copy(update={"name": "other"})
    unpinned = check_pins({"echo": echo, "other": other}, ["echo", "other"], {"echo": good})
    assert set(unpinned.approved) == {"echo"}
    assert "no pin" in unpinned.withdrawn["other"]
