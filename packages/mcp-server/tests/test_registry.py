"""The curated registry: explicit entries, unique names, MCP_TOOLS_ENABLED selection."""

from __future__ import annotations

import pytest

from mcp_fastapi_server import ToolRegistry, ToolSpec, UnknownToolError


async def _noop() -> str:
    return "ok"


def _spec(name: str, **kw: object) -> ToolSpec:
    return ToolSpec(name=name, description=f"{name} tool", fn=_noop, **kw)  # type: ignore[arg-type]


def test_select_star_keeps_registry_order() -> None:
    reg = ToolRegistry([_spec("b"), _spec("a")])
    assert [s.name for s in reg.select(["*"])] == ["b", "a"]


def test_select_subset_and_unknown_name() -> None:
    reg = ToolRegistry([_spec("health"), _spec("search")])
    assert [s.name for s in reg.select(["search"])] == ["search"]
    with pytest.raises(UnknownToolError, match="MCP_TOOLS_ENABLED: nope not registered"):
        reg.select(["search", "nope"])


def test_duplicate_name_is_refused() -> None:
    reg = ToolRegistry([_spec("a")])
    with pytest.raises(ValueError, match="already registered"):
        reg.add(_spec("a"))


def test_spec_needs_exactly_one_callable_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ToolSpec(name="x", description="x")
    with pytest.raises(ValueError, match="rate"):
        _spec("x", rate_limit="fast")


def test_decorator_keeps_function_and_policy() -> None:
    reg = ToolRegistry()

    @reg.tool(scopes=["orders:read"], rate_limit="5/second", max_response_bytes=2048)
    async def order_status(order_id: str) -> str:
        """Status of one order."""
        return order_id

    spec = reg.get("order_status")
    assert spec.description == "Status of one order."
    assert spec.scopes == ("orders:read",)
    assert spec.rate_limit == "5/second"
    assert spec.max_response_bytes == 2048
    assert spec.annotations.read_only_hint is True
    assert order_status.__name__ == "order_status"


def test_builtin_tools_are_registered_read_only() -> None:
    from mcp_fastapi_server.tools import default_registry

    specs = {s.name: s for s in default_registry()}
    assert {"health", "metadata", "search", "fetch"} <= set(specs)
    for name in ("health", "metadata", "search", "fetch"):
        assert specs[name].annotations.read_only_hint is True
