"""pytest11 entry point: the testkit's fixtures, one module per concern.

Each module listed in ``pytest_plugins`` defines its fixtures and hooks (for example the
report-header line saying which Redis provider ran, or the collection hook that deselects
contract checks a target has nothing for).
"""

pytest_plugins: list[str] = [
    "mcp_testkit.jwt",
    "mcp_testkit.fakes.fixtures",
    "mcp_testkit.redis.fixtures",
    "mcp_testkit.servers",
    "mcp_testkit.clients",
    "mcp_testkit.contract.selection",
]
