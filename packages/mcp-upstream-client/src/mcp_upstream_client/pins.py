"""Tool-definition pins: approve what a tool *is*, not only its name.

An upstream can change a tool's description or schema under the same name (a "rug
pull": new instructions to the model, a new argument). A pin is a SHA-256 over the
parts a model or a caller relies on, so any such change withdraws the tool until a
person approves the new definition (``mcp-server pin`` prints the current pins).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types

__all__ = ["PinVerdict", "canonical_tool_json", "check_pins", "format_pins", "tool_pin"]


def canonical_tool_json(tool: mcp_types.Tool) -> bytes:
    """Canonical JSON (sorted keys, no whitespace, UTF-8) of the pinned parts, wire names."""
    annotations = (
        tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
        if tool.annotations is not None
        else None
    )
    document: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "annotations": annotations,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def tool_pin(tool: mcp_types.Tool) -> str:
    """``"sha256:<hex>"`` of :func:`canonical_tool_json`."""
    return "sha256:" + hashlib.sha256(canonical_tool_json(tool)).hexdigest()


@dataclass(frozen=True, slots=True)
class PinVerdict:
    """Which allowed tools may be used, and why the others are withdrawn."""

    approved: dict[str, mcp_types.Tool]
    withdrawn: dict[str, str]  # tool -> reason


def check_pins(
    allowed: Mapping[str, mcp_types.Tool], allow_tools: list[str], pins: Mapping[str, str]
) -> PinVerdict:
    """Split the allowed listing into approved and withdrawn tools.

    Without pins every allowed tool is approved. With pins, approval is explicit: a tool
    is usable only when its current pin equals the configured one; a pinned tool that
    is missing, and an allowed tool with no pin, are withdrawn (fail closed).
    """
    if not pins:
        return PinVerdict(dict(allowed), {})
    approved: dict[str, mcp_types.Tool] = {}
    withdrawn: dict[str, str] = {}
    for name in allow_tools:
        tool = allowed.get(name)
        expected = pins.get(name)
        if tool is None:
            if expected is not None:
                withdrawn[name] = "pinned tool disappeared from the upstream"
            continue
        if expected is None:
            withdrawn[name] = "no pin configured (pins are on for this upstream)"
        elif tool_pin(tool) != expected:
            withdrawn[name] = f"definition changed: pin {tool_pin(tool)} != approved {expected}"
        else:
            approved[name] = tool
    return PinVerdict(approved, withdrawn)


def format_pins(pins: Mapping[str, Mapping[str, str]]) -> str:
    """TOML lines to paste into the upstream file, one ``pins = {…}`` per upstream."""
    lines = []
    for upstream, tools in pins.items():
        body = ", ".join(f"{json.dumps(t)} = {json.dumps(p)}" for t, p in sorted(tools.items()))
        lines.append(f"# [[upstreams]] name = {json.dumps(upstream)}\npins = {{ {body} }}")
    return "\n".join(lines) + ("\n" if lines else "")
