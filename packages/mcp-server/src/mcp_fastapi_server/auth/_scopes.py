"""Which scopes a call needs: the authorization decision, as plain data.

Every call needs ``MCP_AUTH_REQUIRED_SCOPES``; ``tools/call`` of a tool also needs that
tool's scopes (``ToolSpec.scopes``, replaced per tool by ``MCP_TOOL_SCOPES``). The HTTP
adapter asks :meth:`ScopePolicy.missing` once per request and answers a shortfall with 403
``insufficient_scope``; its ``tools/list`` filter asks :meth:`ScopePolicy.may_call`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mcp_fastapi_server._settings import Settings, SettingsError, UnknownToolError
from mcp_fastapi_server.core import ToolPolicy

__all__ = ["ScopePolicy"]

# RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'. Checked at start-up
# so a scope can be quoted into WWW-Authenticate without escaping.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def _checked(scopes: Iterable[str], variable: str) -> frozenset[str]:
    out = frozenset(scopes)
    bad = sorted(s for s in out if not _SCOPE_TOKEN.match(s))
    if bad:
        raise SettingsError(f"{variable}: {bad[0]!r} is not a valid OAuth scope token")
    return out


@dataclass(frozen=True)
class ScopePolicy:
    """The scopes each call needs; pure data, cheap to query per request."""

    required: frozenset[str] = frozenset()
    tools: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_settings(
        cls, settings: Settings, specs: Iterable[ToolPolicy], *, other_tools: Iterable[str] = ()
    ) -> ScopePolicy:
        """Merge each tool's declared scopes with ``MCP_TOOL_SCOPES`` (which wins per tool).

        ``specs`` are the registered tools (served or disabled), ``other_tools`` names tools
        served from elsewhere (re-exposed upstream tools, no scopes of their own).
        ``MCP_TOOL_SCOPES`` naming any other tool is an :class:`UnknownToolError`.
        """
        tools = {spec.name: _checked(spec.scopes, f"tool {spec.name!r} scopes") for spec in specs}
        known = set(tools) | set(other_tools)
        unknown = sorted(set(settings.tool_scopes) - known)
        if unknown:
            raise UnknownToolError(
                f"MCP_TOOL_SCOPES: {', '.join(unknown)} not registered "
                f"(registered: {', '.join(sorted(known)) or 'none'})"
            )
        for name, scopes in settings.tool_scopes.items():
            tools[name] = _checked(scopes, "MCP_TOOL_SCOPES")
        required = _checked(settings.auth_required_scopes, "MCP_AUTH_REQUIRED_SCOPES")
        return cls(required=required, tools={k: v for k, v in tools.items() if v})

    def needed(self, method: str | None, tool: str | None) -> frozenset[str]:
        """Every scope this call needs (what a 403 names in ``scope=``)."""
        if method == "tools/call" and tool is not None:
            return self.required | self.tools.get(tool, frozenset())
        return self.required

    def missing(
        self, granted: frozenset[str], method: str | None, tool: str | None
    ) -> frozenset[str]:
        return self.needed(method, tool) - granted

    def may_call(self, granted: frozenset[str], tool: str) -> bool:
        return not self.missing(granted, "tools/call", tool)

    def scopes_supported(self) -> list[str]:
        """Required scopes plus every tool scope, for RFC 9728 ``scopes_supported``."""
        out = set(self.required)
        for scopes in self.tools.values():
            out |= scopes
        return sorted(out)
