"""Each contract check fails on a server with the bug it exists to catch.

The suite's methods are called directly on a subclass instance (not collected: it is
defined inside the tests), against the demo server with its bug switches turned on.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastmcp import Client

from mcp_testkit.clients import LiveTarget, start_target
from mcp_testkit.contract import ContractSuite, PaginationProbe, RateLimitProbe
from mcp_testkit.servers import ServerFactory, ServerTarget
from mcp_testkit.wire import MODERN_VERSION

DEMO = str(Path(__file__).resolve().parents[1] / "demo_server.py")


class Broken(ContractSuite):
    expected_tools: ClassVar[Collection[str]] = ("health", "search", "no-such-tool")
    read_only_tools = ("shout",)
    pagination: ClassVar[Sequence[PaginationProbe]] = (
        PaginationProbe("search", {"query": "apples"}),
    )
    rate_limit = RateLimitProbe("health", max_calls=5)
    # About 1 run in 8 draws no body with the crash trigger in 50 examples; in 400 it is
    # vanishingly rare (the check stops at the first 500, so the run stays short).
    fuzz_examples = 400


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTarget]:
    """The demo with paging overlap, a 500 on some bodies, impure stdout, and no auth."""
    target = ServerTarget(
        http_command=[sys.executable, DEMO, "serve", "--port", "{port}"],
        stdio_command=[sys.executable, DEMO, "stdio"],
        env={"DEMO_PAGE_OVERLAP": "1", "DEMO_CRASH_ON": '"1.0"', "DEMO_BROKEN_STDOUT": "1"},
        auth_required=True,  # claimed, but the server does not check tokens
    )
    with ServerFactory(tmp_path_factory.mktemp("broken-logs")) as servers:
        yield start_target(target, servers)


@pytest.fixture
async def client(broken: LiveTarget) -> Any:
    async with broken.client("http-2026-07-28") as connected:
        yield connected


async def test_missing_tool_and_read_only_hint_are_caught(client: Client[Any]) -> None:
    with pytest.raises(AssertionError, match="no-such-tool"):
        await Broken().test_tools_listed(client)

    class OnlyHints(Broken):
        expected_tools = ()

    with pytest.raises(AssertionError, match="shout: readOnlyHint must be true"):
        await OnlyHints().test_tools_listed(client)


async def test_page_overlap_is_caught(client: Client[Any]) -> None:
    with pytest.raises(AssertionError, match="more than one page"):
        await Broken().test_pagination(client, "http-2026-07-28")


def test_5xx_under_fuzzing_is_caught(broken: LiveTarget) -> None:
    with broken.raw_http(MODERN_VERSION) as http, pytest.raises(AssertionError, match="500"):
        Broken().test_http_fuzz(http)


def test_missing_auth_is_caught(broken: LiveTarget) -> None:
    with broken.raw_http(MODERN_VERSION) as http, pytest.raises(AssertionError, match="401"):
        Broken().test_auth_challenge(broken, http)


def test_missing_rate_limit_is_caught(
    broken: LiveTarget, tmp_path_factory: pytest.TempPathFactory
) -> None:
    live = LiveTarget(target=ServerTarget(url=broken.mcp_url), http=broken.http)
    with pytest.raises(AssertionError, match="no 429 after 5 calls"):
        Broken().test_rate_limit_answer(live, tmp_path_factory)


def test_impure_stdout_is_caught(broken: LiveTarget) -> None:
    with broken.raw_stdio() as raw:
        raw.initialize()
        with pytest.raises(AssertionError, match="stdout line 1 is not JSON"):
            Broken().test_stdio_stdout_purity(raw)


async def test_a_check_on_a_target_it_does_not_apply_to_fails(
    broken: LiveTarget, client: Client[Any]
) -> None:
    """Called by hand where it has nothing to check, a check fails instead of passing empty."""
    open_target = LiveTarget(target=ServerTarget(url=broken.mcp_url), http=broken.http)
    with (
        broken.raw_http(MODERN_VERSION) as http,
        pytest.raises(pytest.fail.Exception, match="does not apply: the target has no auth"),
    ):
        Broken().test_auth_challenge(open_target, http)

    class Bare(Broken):
        pagination = ()

    with pytest.raises(pytest.fail.Exception, match=r"does not apply: .* no paginated tool"):
        await Bare().test_pagination(client, "http-2026-07-28")
