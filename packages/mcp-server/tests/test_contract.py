"""The mcp-testkit contract suite, run against our own ``mcp-server`` (serve + stdio).

Three targets, because auth and rate limits are properties of a deployment: an open
server (every check), a JWT-protected one (the 401 challenge), and the rate limit probe
(a separate server with a tiny limit, started by the suite itself).
"""

from __future__ import annotations

import json
import time
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


def write_docs(folder: Path) -> Path:
    """A corpus with a known answer: six widget notes and one document over the size limit."""
    for number in range(6):
        (folder / f"widget-{number}.md").write_text(
            f"# Widget note {number}\n\nThe widget number {number} needs oiling.\n"
        )
    (folder / "big.txt").write_text(BIG_TEXT)
    return folder


class TestMcpServerContract(ContractSuite):
    expected_tools = TOOLS
    read_only_tools = TOOLS
    pagination = (
        PaginationProbe("search", {"query": "widget"}, tamper_evident=True),
        # metadata pages the host app's REST routes at MCP_PAGE_SIZE; items have no id field
        PaginationProbe(
            "metadata",
            items_key="endpoints",
            id_key=None,
            page_arg=None,
            transports=("http-2025-11-25", "http-2026-07-28"),  # stdio has no host app routes
        ),
    )
    continuation = (ContinuationProbe("fetch", {"id": "big"}, expected_text=BIG_TEXT),)
    rate_limit = RateLimitProbe(
        "health",
        env={"MCP_RATE_LIMIT_ENABLED": "true", "MCP_RATE_LIMIT_TOOLS": '{"health": "2/minute"}'},
    )

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_target(cls, tmp_path_factory: pytest.TempPathFactory) -> ServerTarget:
        docs = write_docs(tmp_path_factory.mktemp("contract-docs"))
        return ServerTarget(
            env={
                "MCP_DOCS_DIR": str(docs),
                "MCP_CURSOR_SECRET": CURSOR_SECRET,
                "MCP_MAX_RESPONSE_BYTES": "4096",
                "MCP_PAGE_SIZE": "2",
                # The fuzzers send hundreds of calls; the limit has its own probe above.
                "MCP_RATE_LIMIT_ENABLED": "false",
                "MCP_LOG_LEVEL": "WARNING",
            }
        )


def make_token() -> str:
    now = int(time.time())
    claims = {"sub": "contract", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


class TestMcpServerContractWithAuth(ContractSuite):
    """JWT auth on: the challenge shape, and every HTTP check again with a valid token."""

    expected_tools = TOOLS
    read_only_tools = TOOLS
    fuzz_examples = 25

    @pytest.fixture(scope="class")
    @classmethod
    def mcp_target(cls) -> ServerTarget:
        return ServerTarget(
            stdio_command=None,  # stdio has no bearer tokens; the open target covers it
            env={
                "MCP_AUTH_MODE": "jwt",
                "MCP_AUTH_JWT_SECRET": JWT_SECRET,
                "MCP_AUTH_JWT_ALGORITHMS": "HS256",
                "MCP_AUTH_JWT_ISSUER": ISSUER,
                "MCP_AUTH_JWT_AUDIENCE": AUDIENCE,
                "MCP_AUTH_SERVERS": json.dumps([ISSUER]),
                "MCP_RATE_LIMIT_ENABLED": "false",
                "MCP_LOG_LEVEL": "WARNING",
            },
            auth_required=True,
            token=make_token(),
        )
