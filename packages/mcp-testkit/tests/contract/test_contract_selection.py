"""Checks that do not apply to a target are deselected at collection, never skipped.

The collection runs in-process with pytester on a throwaway test file whose targets point
at nothing: every selected check errors at setup (on the shape guard) before it could
reach a server, so the run is fast and starts no process.
"""

from __future__ import annotations

import textwrap

import pytest

from mcp_testkit.contract import ContinuationProbe, ContractSuite, PaginationProbe, RateLimitProbe
from mcp_testkit.servers import ServerTarget

pytest_plugins = ("pytester",)

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
SUITES = textwrap.dedent(
    """
    from dataclasses import replace

    import pytest

    from mcp_testkit.contract import (
        ContinuationProbe, ContractSuite, PaginationProbe, RateLimitProbe, ServerTarget,
    )

    NOWHERE = "http://127.0.0.1:9/mcp"


    class TestHttpOnly(ContractSuite):
        target = ServerTarget(url=NOWHERE, http_command=None, stdio_command=None)
        pagination = (PaginationProbe("search", transports=("http-2026-07-28",)),)

        def test_own(self, mcp_transport):
            assert mcp_transport != "stdio"

        @pytest.fixture(scope="class")
        @classmethod
        def mcp_target(cls):
            return replace(cls.target, auth_required=True)


    class TestEverything(ContractSuite):
        target = ServerTarget(
            url=NOWHERE, http_command=None, stdio_command=["false"], auth_required=True
        )
        pagination = (PaginationProbe("search"),)
        continuation = (ContinuationProbe("fetch"),)
        rate_limit = RateLimitProbe("health")

        @pytest.fixture(scope="class")
        @classmethod
        def mcp_target(cls):
            return replace(cls.target, stdio_command=None)
    """
)

HTTP_ONLY_KEPT = {
    "test_tools_listed[http-2025-11-25]",
    "test_tools_listed[http-2026-07-28]",
    "test_error_shapes[http-2025-11-25]",
    "test_error_shapes[http-2026-07-28]",
    "test_pagination[http-2026-07-28]",
    "test_http_fuzz[http-2025-11-25]",
    "test_http_fuzz[http-2026-07-28]",
    "test_own[http-2025-11-25]",
    "test_own[http-2026-07-28]",
}
EVERY_CHECK = 19  # 4 checks x 3 transports, auth and fuzz x 2 eras, rate limit, 2 stdio


def test_not_applicable_follows_the_target_and_the_probes() -> None:
    class Bare(ContractSuite):
        target = ServerTarget(stdio_command=None)

    class Full(ContractSuite):
        target = ServerTarget(auth_required=True)
        pagination = (PaginationProbe("search", transports=("stdio",)),)
        continuation = (ContinuationProbe("fetch"),)
        rate_limit = RateLimitProbe("health")

    assert Bare.not_applicable("test_tools_listed", "stdio") == (
        "the target offers no stdio transport"
    )
    assert Bare.not_applicable("test_tools_listed", "http-2026-07-28") is None
    assert Bare.not_applicable("test_stdio_garbage_lines") == "the target has no stdio_command"
    assert "no auth" in str(Bare.not_applicable("test_auth_challenge", "http-2025-11-25"))
    assert "no rate limit" in str(Bare.not_applicable("test_rate_limit_answer"))
    assert "no paginated tool" in str(Bare.not_applicable("test_pagination", "http-2026-07-28"))
    assert "no size-limited" in str(Bare.not_applicable("test_continuation", "http-2026-07-28"))
    # the same checks apply once the target has the feature
    assert Full.not_applicable("test_pagination", "stdio") is None
    assert Full.not_applicable("test_pagination", "http-2026-07-28") is not None
    for check in ("test_continuation", "test_auth_challenge", "test_error_shapes"):
        assert Full.not_applicable(check, "http-2025-11-25") is None
    for check in ("test_rate_limit_answer", "test_stdio_stdout_purity", "test_stdio_garbage_lines"):
        assert Full.not_applicable(check) is None
    http_less = ServerTarget(http_command=None, auth_required=True)
    Full.target = http_less
    assert Full.not_applicable("test_rate_limit_answer") == "the target serves no HTTP"
    assert Full.not_applicable("test_auth_challenge", "http-2025-11-25") is not None


def test_collection_deselects_what_does_not_apply(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_suites=SUITES)
    result = pytester.runpytest_inprocess("-v", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert "skipped" not in outcomes, result.stdout.str()
    assert "passed" not in outcomes, result.stdout.str()
    assert outcomes.get("deselected") == 13, result.stdout.str()
    errored = {
        line.split("::")[-1].split(" ")[0]
        for line in result.stdout.lines
        if line.startswith("test_suites.py::TestHttpOnly::") and " ERROR" in line
    }
    assert errored == HTTP_ONLY_KEPT
    assert outcomes.get("errors") == len(HTTP_ONLY_KEPT) + EVERY_CHECK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*mcp-testkit contract checks not applicable (deselected)*",
            "test_suites.py::TestHttpOnly::test_tools_listed[[]stdio[]]: "
            "the target offers no stdio transport",
            "test_suites.py::TestHttpOnly::test_auth_challenge[[]http-2025-11-25[]]: "
            "the target has no auth*",
            "test_suites.py::TestHttpOnly::test_rate_limit_answer: the target configures no rate*",
            "test_suites.py::TestHttpOnly::test_stdio_stdout_purity: the target has no stdio*",
        ]
    )
    # The shape guard: a fixture-built target must keep the shape the checks were chosen by.
    result.stdout.fnmatch_lines(
        [
            "*TestHttpOnly: the mcp_target fixture changes the target's shape "
            "(auth_required: False in `target`, True from mcp_target)*",
            "*TestEverything: the mcp_target fixture changes the target's shape "
            "(has stdio_command: True in `target`, False from mcp_target)*",
        ]
    )
    # every error is the guard's, so no check reached for the (absent) server
    guard_errors = result.stdout.str().count("the mcp_target fixture changes the target's shape")
    assert guard_errors >= outcomes["errors"], result.stdout.str()


def test_quiet_run_says_why_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_suites=SUITES)
    result = pytester.runpytest_inprocess("-q", "--collect-only", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "mcp-testkit contract: 13 checks deselected as not applicable to their target "
            "(-v lists them)",
        ]
    )
    assert "skipped" not in result.stdout.str()
