"""What the policy decisions need to know about a tool: its name and declared policy."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ToolPolicy"]


class ToolPolicy(Protocol):
    """A tool's declared policy (:class:`mcp_fastapi_server.ToolSpec` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def scopes(self) -> tuple[str, ...]: ...

    @property
    def rate_limit(self) -> str | None: ...
