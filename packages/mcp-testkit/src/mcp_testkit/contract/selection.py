"""Collection hook: contract checks that do not apply to their target are deselected.

A target without stdio, auth or a paginated tool is a fact about the server, not a problem
with the machine, so those checks are neither run nor reported as skipped (a wall of
"skipped" would hide the one skip that matters). Each item of a :class:`ContractSuite`
subclass is asked :meth:`ContractSuite.not_applicable`; what does not apply goes through
pytest's own ``pytest_deselected`` hook (so it counts in "N deselected"), and the terminal
summary says why (one line, or every item with ``-v``).
"""

from __future__ import annotations

import pytest

from mcp_testkit.contract.suite import TRANSPORT_PARAMS, ContractSuite

__all__ = ["not_applicable_reason", "pytest_collection_modifyitems", "pytest_terminal_summary"]

_DESELECTED = pytest.StashKey[list[tuple[str, str]]]()


def not_applicable_reason(item: pytest.Item) -> str | None:
    """Why a collected contract check does not apply to its class's target, else None."""
    cls = getattr(item, "cls", None)
    if not (isinstance(cls, type) and issubclass(cls, ContractSuite)):
        return None
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    transport = next((str(params[name]) for name in TRANSPORT_PARAMS if name in params), None)
    return cls.not_applicable(getattr(item, "originalname", item.name), transport)


# trylast: after -k/-m, so the summary counts only checks the user had selected.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    reasons: list[tuple[str, str]] = []
    for item in items:
        reason = not_applicable_reason(item)
        if reason is None:
            kept.append(item)
        else:
            dropped.append(item)
            reasons.append((item.nodeid, reason))
    config.stash[_DESELECTED] = reasons
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    reasons = config.stash.get(_DESELECTED, [])
    if not reasons:
        return
    if config.get_verbosity() > 0:
        terminalreporter.section("mcp-testkit contract checks not applicable (deselected)")
        for nodeid, reason in reasons:
            terminalreporter.write_line(f"{nodeid}: {reason}")
    else:
        terminalreporter.write_line(
            f"mcp-testkit contract: {len(reasons)} checks deselected as not applicable to "
            "their target (-v lists them)"
        )
