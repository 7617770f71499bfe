"""ScopePolicy: which scopes a call needs."""

from __future__ import annotations

import secrets

from mcp_fastapi_server import ToolSpec
from mcp_fastapi_server._settings import Settings
from mcp_fastapi_server.auth import ScopePolicy

SPECS = [
    ToolSpec(name="search", description="", fn=lambda: None, scopes=("docs:read",)),
    ToolSpec(name="health", description="", fn=lambda: None),
    ToolSpec(name="admin", description="", fn=lambda: None, scopes=("a", "b")),
]


def policy(**kw: object) -> ScopePolicy:
    settings = Settings(
        auth_mode="jwt",
        auth_jwt_secret=secrets.token_urlsafe(48),
        auth_jwt_algorithms=["HS256"],
        **kw,  # type: ignore[arg-type]
    )
    return ScopePolicy.from_settings(settings, SPECS)


def test_required_scopes_apply_to_every_call() -> None:
    p = policy(auth_required_scopes=["mcp:use"])
    assert p.needed("tools/list", None) == {"mcp:use"}
    assert p.needed(None, None) == {"mcp:use"}  # GET/DELETE, notifications
    assert p.needed("tools/call", "search") == {"mcp:use", "docs:read"}
    assert p.missing(frozenset({"mcp:use"}), "tools/call", "search") == {"docs:read"}
    assert p.missing(frozenset({"mcp:use", "docs:read"}), "tools/call", "search") == set()


def test_tool_scopes_are_all_required_and_only_for_that_tool() -> None:
    p = policy()
    assert not p.may_call(frozenset({"a"}), "admin")
    assert p.may_call(frozenset({"a", "b"}), "admin")
    assert p.may_call(frozenset(), "health")
    assert p.may_call(frozenset(), "not-registered")  # FastMCP answers "unknown tool"
    assert p.needed("tools/list", "admin") == set()  # the tool name only matters on a call


def test_setting_replaces_spec_scopes() -> None:
    p = policy(tool_scopes={"search": ["s2"], "health": ["h"]})
    assert p.needed("tools/call", "search") == {"s2"}
    assert p.needed("tools/call", "health") == {"h"}


def test_scopes_supported_lists_everything_once() -> None:
    p = policy(auth_required_scopes=["mcp:use", "a"])
    assert p.scopes_supported() == ["a", "b", "docs:read", "mcp:use"]
