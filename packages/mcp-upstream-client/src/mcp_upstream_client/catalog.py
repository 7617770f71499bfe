"""One upstream's tool catalog: what it offers, what is allowed, and what is approved.

Fed by every ``tools/list`` (connect, health check, probe); read before every call so a
tool that is not allowed, not offered or whose definition drifted from its pin fails
before any I/O.
"""

from __future__ import annotations

import logging

import mcp_types

from mcp_upstream_client.config import UpstreamConfig
from mcp_upstream_client.errors import ToolNotAllowedError, ToolWithdrawnError
from mcp_upstream_client.observer import UpstreamObserver, notify
from mcp_upstream_client.pins import PinVerdict, check_pins

__all__ = ["Catalog"]

log = logging.getLogger("mcp_upstream_client")


class Catalog:
    """The allowed tools of one upstream and the pin verdict on them."""

    def __init__(self, config: UpstreamConfig, observer: UpstreamObserver) -> None:
        self._config = config
        self._observer = observer
        self._allowed: dict[str, mcp_types.Tool] = {}
        self.verdict = PinVerdict({}, {})
        self.listed = False

    def apply(self, tools: list[mcp_types.Tool]) -> None:
        """Take a new listing: keep the allowed tools, check pins, report withdrawals."""
        name = self._config.name
        allow = set(self._config.allow_tools)
        self._allowed = {t.name: t for t in tools if t.name in allow}
        verdict = check_pins(self._allowed, self._config.allow_tools, self._config.pins)
        for tool, reason in verdict.withdrawn.items():
            if self.verdict.withdrawn.get(tool) != reason:
                log.warning(
                    "upstream %s: tool %s withdrawn: %s",
                    name,
                    tool,
                    reason,
                    extra={"upstream": name, "tool": tool},
                )
                notify(self._observer, "on_pin_mismatch", name, tool)
        self.verdict = verdict
        self.listed = True

    def check_approved(self, tool: str) -> None:
        """Raise unless ``tool`` is offered and approved (call before any I/O)."""
        name = self._config.name
        reason = self.verdict.withdrawn.get(tool)
        if reason is not None:
            raise ToolWithdrawnError(
                f"upstream {name!r}: tool {tool!r} is withdrawn until re-approved ({reason})",
                upstream=name,
                tool=tool,
            )
        if tool not in self.verdict.approved:
            raise ToolNotAllowedError(
                f"upstream {name!r} does not offer allowed tool {tool!r}",
                upstream=name,
                tool=tool,
            )

    def approved_tools(self) -> list[mcp_types.Tool]:
        """Allowed tools whose pins match (in allow_tools order)."""
        approved = self.verdict.approved
        return [approved[n] for n in self._config.allow_tools if n in approved]

    def allowed_listing(self) -> dict[str, mcp_types.Tool]:
        """Allowed tools as the upstream currently defines them, pins not applied."""
        return dict(self._allowed)

    def read_only(self, tool: str) -> bool:
        """Whether the approved definition of ``tool`` says ``readOnlyHint: true``."""
        definition = self.verdict.approved.get(tool)
        annotations = definition.annotations if definition is not None else None
        return bool(annotations is not None and annotations.read_only_hint)
