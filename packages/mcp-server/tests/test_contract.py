"""The mcp-testkit contract suite, run against our own ``mcp-server`` (serve + stdio).

Two targets, because auth is a property of a deployment: an open server (every check over
stdio and both HTTP eras, and the rate limit probe, which starts its own server with a tiny
limit), and a JWT-protected one (the 401 challenge, then paging, continuation and fuzzing
again with a valid token). The JWT target has no stdio (stdio has no bearer tokens; the open
target covers it) and no rate limit probe (the open target's covers the 429 answer), so the
suite deselects those checks for it. Each class shares one server for all its checks.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest

from mcp_testkit.contract import (
    ContinuationProbe,
    ContractSuite,
    PaginationProbe,
    RateLimitProbe,
    ServerTarget,
)

CURSOR_SECRET = "contract-test-cursor-secret"
JWT_SECRET = "contract-test-jwt-secret-of-at-least-32-bytes"
ISSUER = "https://issuer.contract.test"
AUDIENCE = "mcp-contract"
BIG_TEXT = "".join(f"Paragraph {i:04d}: sprockets, widgets and gears.\n" for i in range(300))
TOOLS = ("health", "metadata", "search", "fetch")
HTTP_ONLY = ("http-2025-11-25", "http-2026-07-28")

# Paging and the response size limit small enough for the probes to see several pages.
# The fuzzers send hundreds of calls; the rate limit has its own probe.
DOCS_ENV = {
    "MCP_CURSOR_SECRET": CURSOR_SECRET,
    "MCP_MAX_RESPONSE_BYTES": "4096",
    "MCP_PAGE_SIZE": "2",
    "MCP_RATE_LIMIT_ENABLED": "false",
    "MCP_LOG_LEVEL": "WARNING",
}
JWT_ENV = {
    "MCP_AUTH_MODE": "jwt",
    "MCP_AUTH_JWT_SECRET": JWT_SECRET,
    "MCP_AUTH_JWT_ALGORITHMS": "HS256",
    "MCP_AUTH_JWT_ISSUER": ISSUER,
    "MCP_AUTH_JWT_AUDIENCE": AUDIENCE,
    "MCP_AUTH_SERVERS": json.dumps([ISSUER]),
}
PAGINATION = (
    PaginationProbe("search", {"query": "widget"}, tamper_evident=True),
    # metadata pages the host app's REST routes at MCP_PAGE_SIZE; items have no id field
    PaginationProbe(
        "metadata",
        items_key="endpoints",
        id_key=None,
        page_arg=None,
        transports=HTTP_ONLY,  # stdio has no host app routes
    ),
)
CONTINUATION = (ContinuationProbe("fetch", {"id": "big"}, expected_text=BIG_TEXT),)


def write_docs(folder: Path) -> Path:
    """A corpus with a known answer: six widget notes and one document over the size limit."""
    for number in range(6):
        (folder / f"widget-{number}.md").write_text(
            f"# Widget note {number}\n\nThe widget number {number} needs oiling.\n"
        )
    (folder / "big.txt").write_text(BIG_TEXT)
    return folder


def make_token() -> str:
    now = int(time.time())
    claims = {"sub": "contract", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


class TestMcpServerContract(ContractSuite):
    target = ServerTarget(env=DOCS_ENV)
    expected_tools = TOOLS
    read_only_tools = TOOLS
    pagination = PAGINATION
    continuation = CONTINUATION
    rate_limit = RateLimitProbe(
        "health",
        env={"MCP_RATE_LIMIT_ENABLED": "true", "MCP_RATE_LIMIT_TOOLS": '{"health": "2/minute"}'},
    )

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_target(cls, tmp_path_factory: pytest.TempPathFactory) -> ServerTarget:
        docs = write_docs(tmp_path_factory.mktemp("contract-docs"))
        return cls.target.with_env(MCP_DOCS_DIR=str(docs))


class TestMcpServerContractWithAuth(ContractSuite):
    """JWT auth on: the challenge shape, and every HTTP check again with a valid token."""

    target = ServerTarget(stdio_command=None, env={**DOCS_ENV, **JWT_ENV}, auth_required=True)
    expected_tools = TOOLS
    read_only_tools = TOOLS
    pagination = PAGINATION
    continuation = CONTINUATION
    fuzz_examples = 25

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_target(cls, tmp_path_factory: pytest.TempPathFactory) -> ServerTarget:
        docs = write_docs(tmp_path_factory.mktemp("contract-auth-docs"))
        return replace(cls.target.with_env(MCP_DOCS_DIR=str(docs)), token=make_token())
