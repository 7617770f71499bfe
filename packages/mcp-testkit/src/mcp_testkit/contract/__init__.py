"""The MCP contract suite: inherit :class:`ContractSuite`, describe your server, run pytest.

See ``docs/testing.md`` ("Testing your MCP server") for a worked example.
"""

from __future__ import annotations

from mcp_testkit.contract.probes import ContinuationProbe, PaginationProbe, RateLimitProbe
from mcp_testkit.contract.suite import ContractSuite
from mcp_testkit.servers import ServerTarget

__all__ = [
    "ContinuationProbe",
    "ContractSuite",
    "PaginationProbe",
    "RateLimitProbe",
    "ServerTarget",
]
