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

from mcp_fastapi_server._settings import UnknownToolError, parse_rate_limit

if TYPE_CHECKING:  # a type only: importing the services would load FastMCP
    from mcp_fastapi_server._services import Services

__all__ = [
    "READ_ONLY",
    "ToolRegistry",
    "ToolSpec",
    "UnknownToolError",
    "register_tool",
    "registry",
    "tool",
]

F = TypeVar("F", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class ToolSpec:
    """One curated tool and its policy.

    Either ``fn`` (a plain callable, for team tools that need nothing from the toolkit) or
    ``factory`` (called once per server with the :class:`~mcp_fastapi_server._services.Services`,
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
"""The process-wide registry of a team's own tools (:func:`tool`, :func:`register_tool`);
the built-in tools join them in :func:`mcp_fastapi_server.tools.default_registry`."""


def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    annotations: ToolAnnotations = READ_ONLY,
    scopes: Iterable[str] = (),
    rate_limit: str | None = None,
    max_response_bytes: int | None = None,
    title: str | None = None,
) -> Callable[[F], F]:
    """Register a team's own tool in the process-wide registry; returns the function as is.

    ``scopes`` are the OAuth scopes a caller's token needs for this tool (replaced per tool
    by ``MCP_TOOL_SCOPES``), ``rate_limit`` its own limit such as ``"10/second"`` (replaced
    by ``MCP_RATE_LIMIT_TOOLS``), ``max_response_bytes`` its own result-size limit.
    """
    return registry.tool(
        name,
        description=description,
        annotations=annotations,
        scopes=scopes,
        rate_limit=rate_limit,
        max_response_bytes=max_response_bytes,
        title=title,
    )


def register_tool(spec: ToolSpec) -> ToolSpec:
    """Register a :class:`ToolSpec` in the process-wide registry (the explicit form of
    :func:`tool`, e.g. for a ``factory`` that needs the :class:`Services`)."""
    return registry.add(spec)
