"""The curated tool registry: every exposed tool is declared here, explicitly.

Each :class:`ToolSpec` carries the tool's callable plus the policy the rest of the stack
reads: required scopes (auth), rate limit (limiter) and response-size limit (size guard).
Nothing is ever auto-generated from the host app's routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_types import ToolAnnotations

if TYPE_CHECKING:
    from mcp_fastapi_server.services import Services

__all__ = ["READ_ONLY", "ToolRegistry", "ToolSpec", "UnknownToolError", "registry"]

F = TypeVar("F", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class UnknownToolError(ValueError):
    """``MCP_TOOLS_ENABLED`` (or ``MCP_TOOL_SCOPES`` …) names a tool nobody registered."""


@dataclass(frozen=True)
class ToolSpec:
    """One curated tool and its policy.

    Either ``fn`` (a plain callable, for team tools that need nothing from the toolkit) or
    ``factory`` (called once per server with the :class:`~mcp_fastapi_server.services.Services`,
    returns the callable) must be given.
    """

    name: str
    description: str
    fn: Callable[..., Any] | None = None
    factory: Callable[[Services], Callable[..., Any]] | None = None
    annotations: ToolAnnotations = field(default_factory=lambda: READ_ONLY)
    scopes: tuple[str, ...] = ()
    rate_limit: str | None = None
    max_response_bytes: int | None = None
    title: str | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if (self.fn is None) == (self.factory is None):
            raise ValueError(f"tool {self.name!r}: give exactly one of fn= or factory=")
        if self.rate_limit is not None:
            from mcp_fastapi_server.settings import parse_rate_limit

            parse_rate_limit(self.rate_limit)

    def build(self, services: Services) -> Callable[..., Any]:
        """The callable FastMCP registers for this tool."""
        if self.fn is not None:
            return self.fn
        assert self.factory is not None
        return self.factory(services)


class ToolRegistry:
    """An ordered, name-unique collection of :class:`ToolSpec`."""

    def __init__(self, specs: Iterable[ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ToolSpec) -> ToolSpec:
        if spec.name in self._specs:
            raise ValueError(f"tool {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def tool(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        annotations: ToolAnnotations = READ_ONLY,
        scopes: Iterable[str] = (),
        rate_limit: str | None = None,
        max_response_bytes: int | None = None,
        title: str | None = None,
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add` for a team's own tools; returns the function as is."""

        def register(fn: F) -> F:
            self.add(
                ToolSpec(
                    name=name or fn.__name__,
                    description=description or (fn.__doc__ or "").strip(),
                    fn=fn,
                    annotations=annotations,
                    scopes=tuple(scopes),
                    rate_limit=rate_limit,
                    max_response_bytes=max_response_bytes,
                    title=title,
                )
            )
            return fn

        return register

    def get(self, name: str) -> ToolSpec:
        return self._specs[name]

    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def copy(self) -> ToolRegistry:
        return ToolRegistry(self._specs.values())

    def select(self, enabled: Iterable[str]) -> list[ToolSpec]:
        """The specs named by ``MCP_TOOLS_ENABLED`` (``*`` = all), in registry order."""
        wanted = list(enabled)
        if "*" in wanted:
            return list(self._specs.values())
        unknown = [n for n in wanted if n not in self._specs]
        if unknown:
            raise UnknownToolError(
                f"MCP_TOOLS_ENABLED: {', '.join(unknown)} not registered "
                f"(registered: {', '.join(self._specs) or 'none'})"
            )
        return [self._specs[n] for n in self._specs if n in wanted]


registry = ToolRegistry()
"""The process-wide registry; the built-in tools are added by :mod:`mcp_fastapi_server.tools`."""
