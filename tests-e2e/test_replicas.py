"""Two ``mcp-server serve`` replicas behind one (imaginary) load balancer, sharing one real
Redis: a per-subject tool limit holds exactly across both, and a cursor minted by one replica
is honoured by the other (shared ``MCP_CURSOR_SECRET``)."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from mcp_testkit.clients import LiveTarget, start_target
from mcp_testkit.jwt import JwtIssuer
from mcp_testkit.redis import RedisServer
from mcp_testkit.servers import ServerFactory
from mcp_testkit.wire import McpHttp, RpcAnswer

if TYPE_CHECKING:  # pytest imports conftest itself (importlib mode); types only here
    from conftest import ServeTargetMaker

LIMIT = 10
CALLS = 30
QUERY = "webhooks"  # two hits in the bundled corpus: a second page with limit=1


@dataclass(frozen=True)
class Replicas:
    a: LiveTarget
    b: LiveTarget
    issuer: JwtIssuer


@pytest.fixture(scope="module")
def replicas(
    redis_server: RedisServer,
    make_serve_target: ServeTargetMaker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    """Two replicas: same Redis, key prefix, cursor secret, limits and token issuer."""
    if not redis_server.running:
        redis_server.start()
    with JwtIssuer("HS256") as issuer:
        env = {
            **issuer.env(),
            "MCP_REDIS_URL": redis_server.url,
            # A key space of this module's own, so the shared session Redis needs no flush.
            "MCP_REDIS_KEY_PREFIX": f"e2e-{secrets.token_hex(6)}:",
            "MCP_CURSOR_SECRET": secrets.token_urlsafe(32),
            "MCP_RATE_LIMIT_TOOLS": f'{{"search": "{LIMIT}/minute"}}',
            # Exactness is the point here, not latency: a loaded CI box must not trip the
            # 50 ms Redis timeout, and a Redis failure must show (503) instead of admitting.
            "MCP_REDIS_TIMEOUT_MS": "5000",
            "MCP_RATE_LIMIT_FAILURE_MODE": "closed",
        }
        workdir = tmp_path_factory.mktemp("replicas-cwd")
        with ServerFactory(tmp_path_factory.mktemp("replicas-logs")) as servers:
            a = start_target(make_serve_target(workdir, env), servers)
            b = start_target(make_serve_target(workdir, env), servers)
            yield Replicas(a=a, b=b, issuer=issuer)


def test_a_tool_limit_is_exact_across_replicas(replicas: Replicas) -> None:
    token = replicas.issuer.token(sub="burst-user")
    with (
        replicas.a.raw_http("2026-07-28", token=token) as on_a,
        replicas.b.raw_http("2026-07-28", token=token) as on_b,
    ):
        targets = [on_a if i % 2 == 0 else on_b for i in range(CALLS)]

        def search(http: McpHttp) -> RpcAnswer:
            return http.call_tool("search", {"query": QUERY})

        with ThreadPoolExecutor(max_workers=CALLS) as pool:
            answers = list(pool.map(search, targets))

    statuses = Counter(answer.status for answer in answers)
    assert statuses == {200: LIMIT, 429: CALLS - LIMIT}, answers
    for answer in answers:
        if answer.status == 200:
            assert answer.is_tool_error is False, answer
            assert answer.structured is not None
            assert answer.structured["results"], answer
        else:
            retry_after = answer.headers.get("retry-after", "")
            assert retry_after.isdigit(), answer.headers
            assert int(retry_after) >= 1
            assert answer.error is not None, answer  # a JSON-RPC error body


def test_a_cursor_from_one_replica_is_accepted_by_the_other(replicas: Replicas) -> None:
    token = replicas.issuer.token(sub="cursor-user")  # its own bucket, apart from the burst
    with (
        replicas.a.raw_http("2026-07-28", token=token) as on_a,
        replicas.b.raw_http("2026-07-28", token=token) as on_b,
    ):
        first = on_a.call_tool("search", {"query": QUERY, "limit": 1})
        assert first.status == 200, first
        assert first.structured is not None, first
        cursor = first.structured["next_cursor"]
        assert isinstance(cursor, str), first.structured

        second = on_b.call_tool("search", {"query": QUERY, "limit": 1, "cursor": cursor})
        assert second.status == 200, second
        assert second.is_tool_error is False, second
        assert second.structured is not None
        page_one = [hit["id"] for hit in first.structured["results"]]
        page_two = [hit["id"] for hit in second.structured["results"]]
        assert page_two, second.structured
        assert not set(page_one) & set(page_two)  # the next page, not the first one again

        # The shared secret is what makes it work: an altered cursor is still refused.
        forged = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
        refused = on_b.call_tool("search", {"query": QUERY, "limit": 1, "cursor": forged})
        assert refused.status == 200, refused
        assert refused.is_tool_error, refused
