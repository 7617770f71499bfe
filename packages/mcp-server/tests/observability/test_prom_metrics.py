"""The spec metrics: names, bounded labels, shared registries, exposition over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from mcp_fastapi_server.http import metrics_endpoint, metrics_route
from mcp_fastapi_server.observability import Metrics
from mcp_testkit.asgi import running_asgi

SPEC_FAMILIES = {
    "mcp_requests",
    "mcp_request_duration_seconds",
    "mcp_rate_limited",
    "mcp_auth_failures",
    "mcp_response_truncated",
    "mcp_upstream_requests",
    "mcp_upstream_request_duration_seconds",
    "mcp_upstream_circuit_state",
    "mcp_upstream_up",
    "mcp_upstream_pin_mismatch",
}
# Ours beyond the spec's list (the spec allows additions).
EXTRA_FAMILIES = {"mcp_rate_limit_store_errors"}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_exact_spec_families_and_no_per_user_labels() -> None:
    reg = CollectorRegistry()
    Metrics(reg, known_tools={"search"})
    names = {m.name for m in reg.collect()}
    assert names == SPEC_FAMILIES | EXTRA_FAMILIES
    labels = {label for m in reg.collect() for s in m.samples for label in s.labels}
    assert labels <= {"method", "tool", "outcome", "reason", "upstream", "le"}


def test_unknown_tool_and_method_collapse_to_other() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, known_tools={"search", "fetch"})
    m.observe_request("tools/call", "search", "ok", 0.002)
    for i in range(50):  # a client inventing tool names must not create series
        m.observe_request("tools/call", f"evil_{i}", "ok", 0.001)
        m.observe_request(f"x/{i}", None, "ok", 0.001)
        m.observe_request("tools/call", "search", f"weird{i}", 0.001)
    m.observe_request(None, None, "invalid", 0.001)
    assert _value(reg, "mcp_requests_total", method="tools/call", tool="search", outcome="ok") == 1
    assert _value(reg, "mcp_requests_total", method="tools/call", tool="other", outcome="ok") == 50
    assert _value(reg, "mcp_requests_total", method="other", tool="", outcome="ok") == 50
    assert (
        _value(reg, "mcp_requests_total", method="tools/call", tool="search", outcome="other") == 50
    )
    assert _value(reg, "mcp_requests_total", method="none", tool="", outcome="invalid") == 1
    assert (
        _value(reg, "mcp_request_duration_seconds_count", method="tools/call", tool="other") == 50
    )
    tools = {s.labels.get("tool") for fam in reg.collect() for s in fam.samples}
    assert tools <= {None, "", "search", "fetch", "other"}


def test_known_tools_are_prebound_at_zero() -> None:
    reg = CollectorRegistry()
    Metrics(reg, known_tools={"search"})
    assert _value(reg, "mcp_requests_total", method="tools/call", tool="search", outcome="ok") == 0
    assert _value(reg, "mcp_rate_limited_total", tool="search") == 0
    assert _value(reg, "mcp_response_truncated_total", tool="search") == 0


def test_policy_and_upstream_hooks() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, known_tools={"search"})
    m.rate_limited("search")
    m.rate_limited("made_up")
    m.auth_failure("expired")
    m.auth_failure("expired")
    m.response_truncated("search")
    m.upstream.on_request("docs", "search_docs", "ok", 0.05)
    m.upstream.on_request("docs", "search_docs", "timeout", 10.0)
    m.upstream.on_circuit_state("docs", 2)
    m.upstream.on_circuit_state("docs", 1)
    m.upstream.on_connection_state("docs", True)
    m.upstream.on_connection_state("docs", False)
    m.upstream.on_pin_mismatch("docs", "read_page")
    assert _value(reg, "mcp_rate_limited_total", tool="search") == 1
    assert _value(reg, "mcp_rate_limited_total", tool="other") == 1
    assert _value(reg, "mcp_auth_failures_total", reason="expired") == 2
    assert _value(reg, "mcp_response_truncated_total", tool="search") == 1
    assert (
        _value(
            reg, "mcp_upstream_requests_total", upstream="docs", tool="search_docs", outcome="ok"
        )
        == 1
    )
    assert _value(reg, "mcp_upstream_request_duration_seconds_count", upstream="docs") == 2
    assert _value(reg, "mcp_upstream_circuit_state", upstream="docs") == 1
    assert _value(reg, "mcp_upstream_up", upstream="docs") == 0
    assert _value(reg, "mcp_upstream_pin_mismatch_total", upstream="docs") == 1


def test_many_metrics_on_one_registry_share_families() -> None:
    reg = CollectorRegistry()
    a = Metrics(reg, known_tools={"search"})
    b = Metrics(reg, known_tools={"fetch"})  # would be "Duplicated timeseries" without the cache
    a.observe_request("tools/call", "search", "ok", 0.01)
    b.observe_request("tools/call", "search", "ok", 0.01)  # "search" is not known to b
    assert _value(reg, "mcp_requests_total", method="tools/call", tool="search", outcome="ok") == 1
    assert _value(reg, "mcp_requests_total", method="tools/call", tool="other", outcome="ok") == 1
    Metrics()  # the default REGISTRY, twice in one process
    Metrics()


def test_host_metrics_live_on_the_same_registry() -> None:
    reg = CollectorRegistry()
    Metrics(reg)
    team = Counter("team_orders_total", "Orders placed.", registry=reg)
    team.inc()
    assert _value(reg, "team_orders_total") == 1


async def test_scraped_over_real_http() -> None:
    reg = CollectorRegistry()
    m = Metrics(reg, known_tools={"search"})
    m.observe_request("tools/call", "search", "ok", 0.0042)
    m.observe_request("tools/call", "nope", "tool_error", 0.1)
    app = Starlette(routes=[metrics_route("/metrics", m)])
    with running_asgi(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            resp = await client.get("/metrics")
            wrong = await client.post("/metrics")
            om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=")
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert wrong.status_code == 405
    samples = _samples(resp.text)
    ok = frozenset({("method", "tools/call"), ("tool", "search"), ("outcome", "ok")})
    assert samples[("mcp_requests_total", ok)] == 1
    err = frozenset({("method", "tools/call"), ("tool", "other"), ("outcome", "tool_error")})
    assert samples[("mcp_requests_total", err)] == 1
    bucket = frozenset({("method", "tools/call"), ("tool", "search"), ("le", "0.005")})
    assert samples[("mcp_request_duration_seconds_bucket", bucket)] == 1


WORKER = textwrap.dedent(
    """
    import sys
    from mcp_fastapi_server.observability import Metrics
    m = Metrics(known_tools={"search"})
    m.observe_request("tools/call", "search", "ok", 0.01)
    m.upstream.on_circuit_state("docs", int(sys.argv[1]))
    """
)


def test_multiprocess_mode_sums_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two worker processes write mmap files; one scrape reports both (gauge: max)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for state in ("0", "2"):
        subprocess.run([sys.executable, "-c", WORKER, state], env=env, check=True, timeout=60)
    assert list(tmp_path.glob("*.db"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    app = Starlette(routes=[metrics_route("/metrics")])
    with running_asgi(app) as server, httpx.Client(base_url=server.url) as client:
        resp = client.get("/metrics")
    samples = _samples(resp.text)
    ok = frozenset({("method", "tools/call"), ("tool", "search"), ("outcome", "ok")})
    assert samples[("mcp_requests_total", ok)] == 2
    assert samples[("mcp_upstream_circuit_state", frozenset({("upstream", "docs")}))] == 2


def test_endpoint_accepts_a_plain_registry() -> None:
    assert callable(metrics_endpoint(CollectorRegistry()))
