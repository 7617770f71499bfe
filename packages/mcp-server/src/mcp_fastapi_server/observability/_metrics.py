"""The spec's Prometheus metrics, with bounded labels and a dict-lookup hot path.

Label values never come straight from a request: a method outside the MCP method set
becomes ``other``, a tool outside the known tool set becomes ``other``, and no label ever
holds a subject, token or request id, so a hostile client cannot grow the time series.
``labels(...)`` costs a lock and a tuple build per call, so bound children are cached per
normalized label tuple and the hot path is one dict lookup plus ``inc``/``observe``.

prometheus_client refuses to register a metric name twice in one registry (tests and
apps that build several servers in one process would crash), so the metric families are
kept per registry and shared by every :class:`Metrics` built on it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = [
    "KNOWN_METHODS",
    "OUTCOMES",
    "REQUEST_BUCKETS",
    "UPSTREAM_BUCKETS",
    "Metrics",
    "UpstreamMetrics",
    "exposition_registry",
]

KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
        "tasks/get",
        "tasks/list",
        "tasks/cancel",
        "tasks/result",
        "none",  # no JSON-RPC method: GET/DELETE, a response post, an unparsable body
    }
)
OUTCOMES = frozenset(
    {
        "ok",
        "tool_error",
        "error",
        "denied",
        "invalid",
        "too_large",
        "rate_limited",
        "unavailable",
        "disconnected",
    }
)
# Tool calls range from ~100 µs (in-memory lookups) to tens of seconds (slow upstreams).
REQUEST_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Upstream names and their tools come from the operator's file, not from callers, but a
# cap still keeps a misconfiguration from producing unbounded series.
_MAX_UPSTREAM_SERIES = 1000
_MAX_SIMPLE_SERIES = 1000
_PREBOUND_METHODS = ("initialize", "server/discover", "tools/list", "none")


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True, slots=True)
class _Families:
    requests: Counter
    duration: Histogram
    rate_limited: Counter
    auth_failures: Counter
    truncated: Counter
    upstream_requests: Counter
    upstream_duration: Histogram
    circuit_state: Gauge
    upstream_up: Gauge
    pin_mismatch: Counter
    limiter_errors: Counter


_families: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = weakref.WeakKeyDictionary()
_families_lock = threading.Lock()


def _families_for(registry: CollectorRegistry) -> _Families:
    """The metric families on ``registry``, created and registered on first use only."""
    with _families_lock:
        found = _families.get(registry)
        if found is not None:
            return found
        reg = registry
        found = _Families(
            requests=Counter(
                "mcp_requests_total",
                "MCP requests answered, by JSON-RPC method, tool and outcome.",
                ("method", "tool", "outcome"),
                registry=reg,
            ),
            duration=Histogram(
                "mcp_request_duration_seconds",
                "Time from the first byte of an MCP request to the end of its answer.",
                ("method", "tool"),
                buckets=REQUEST_BUCKETS,
                registry=reg,
            ),
            rate_limited=Counter(
                "mcp_rate_limited_total", "Calls refused by the rate limiter.", ("tool",),
                registry=reg,
            ),
            auth_failures=Counter(
                "mcp_auth_failures_total", "Refused credentials, by reason.", ("reason",),
                registry=reg,
            ),
            truncated=Counter(
                "mcp_response_truncated_total",
                "Tool results cut at the response-size limit (continued by cursor).",
                ("tool",),
                registry=reg,
            ),
            upstream_requests=Counter(
                "mcp_upstream_requests_total",
                "Calls to upstream MCP servers, by upstream, tool and outcome.",
                ("upstream", "tool", "outcome"),
                registry=reg,
            ),
            upstream_duration=Histogram(
                "mcp_upstream_request_duration_seconds",
                "Duration of calls to upstream MCP servers.",
                ("upstream",),
                buckets=UPSTREAM_BUCKETS,
                registry=reg,
            ),
            circuit_state=Gauge(
                "mcp_upstream_circuit_state",
                "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
                ("upstream",),
                registry=reg,
                multiprocess_mode="livemax",
            ),
            upstream_up=Gauge(
                "mcp_upstream_up",
                "Whether a session to the upstream is live: 1 connected, 0 not.",
                ("upstream",),
                registry=reg,
                multiprocess_mode="livemin",
            ),
            pin_mismatch=Counter(
                "mcp_upstream_pin_mismatch_total",
                "Upstream tool definitions that no longer match their approved pin.",
                ("upstream",),
                registry=reg,
            ),
            limiter_errors=Counter(
                "mcp_rate_limit_store_errors_total",
                "Rate-limit store (Redis) failures by reason: an outage (connection, timeout, "
                "loading, failover) admits or refuses per the failure mode; a misconfiguration "
                "(auth, permission, wrong_node, not_a_cluster, scripts_disabled, tls, "
                "read_only, script_error) always refuses (503).",
                ("reason",),
                registry=reg,
            ),
        )  # fmt: skip
        _families[registry] = found
        return found


class UpstreamMetrics:
    """The observer the upstream manager calls (it needs no import of this package)."""

    def __init__(self, families: _Families) -> None:
        self._f = families
        self._requests: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[str, Any] = {}

    def _bounded(self, upstream: str) -> str:
        if upstream in self._durations or len(self._durations) < _MAX_UPSTREAM_SERIES:
            return upstream
        return "other"

    def on_request(self, upstream: str, tool: str, outcome: str, duration_s: float) -> None:
        """One finished upstream call (``outcome``: ok, error, timeout, circuit_open ...)."""
        key = (upstream, tool, outcome)
        counter = self._requests.get(key)
        if counter is None:
            if len(self._requests) >= _MAX_UPSTREAM_SERIES:
                key = ("other", "other", "other")
            counter = self._requests.get(key)
            if counter is None:
                counter = self._requests[key] = self._f.upstream_requests.labels(*key)
        counter.inc()
        hist = self._durations.get(upstream)
        if hist is None:
            label = self._bounded(upstream)
            hist = self._durations.get(label)
            if hist is None:
                hist = self._durations[label] = self._f.upstream_duration.labels(label)
        hist.observe(duration_s)

    def on_circuit_state(self, upstream: str, state: int) -> None:
        """The breaker state (announced at start-up, then on every change): 0 closed,
        1 half-open, 2 open."""
        self._f.circuit_state.labels(self._bounded(upstream)).set(state)

    def on_connection_state(self, upstream: str, connected: bool) -> None:
        """A session to ``upstream`` is live (1) or not (0); announced at start-up too."""
        self._f.upstream_up.labels(self._bounded(upstream)).set(1 if connected else 0)

    def on_pin_mismatch(self, upstream: str, tool: str) -> None:
        """A tool definition changed since it was pinned (``tool`` is for logs, not labels)."""
        self._f.pin_mismatch.labels(self._bounded(upstream)).inc()


class Metrics:
    """The toolkit's metrics on one registry; cheap to build, safe to build many times."""

    def __init__(
        self, registry: CollectorRegistry | None = None, known_tools: Iterable[str] = ()
    ) -> None:
        self.registry: CollectorRegistry = registry if registry is not None else REGISTRY
        self._f = _families_for(self.registry)
        self._tools: frozenset[str] = frozenset()
        self._requests: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._simple: dict[tuple[str, str], Any] = {}
        self.upstream = UpstreamMetrics(self._f)
        self.add_known_tools(known_tools)

    @property
    def known_tools(self) -> frozenset[str]:
        return self._tools

    def add_known_tools(self, names: Iterable[str]) -> None:
        """Allow more tool names as label values (e.g. upstream tools exposed later).

        Children for the new tools are bound now so their series start at zero (a
        ``rate()`` over a series that appears mid-window under-counts its first calls).
        """
        new = frozenset(names) - self._tools
        self._tools = self._tools | new
        for tool in new:
            self._bind_request("tools/call", tool, "ok")
            self._bind_request("tools/call", tool, "error")
            self._bind_simple("rate_limited", tool)
            self._bind_simple("truncated", tool)
        for method in _PREBOUND_METHODS:
            self._bind_request(method, "", "ok")

    def _tool_label(self, tool: str | None) -> str:
        if not tool:
            return ""
        return tool if tool in self._tools else "other"

    def _bind_request(self, method: str, tool: str, outcome: str) -> tuple[Any, Any]:
        key = (method, tool, outcome)
        pair = self._requests.get(key)
        if pair is None:
            pair = (self._f.requests.labels(*key), self._f.duration.labels(method, tool))
            self._requests[key] = pair
        return pair

    def _bind_simple(self, kind: str, value: str) -> Any:
        key = (kind, value)
        child = self._simple.get(key)
        if child is None:
            if len(self._simple) >= _MAX_SIMPLE_SERIES:
                key = (kind, "other")  # label values here come from code; this is a backstop
            family = {
                "rate_limited": self._f.rate_limited,
                "truncated": self._f.truncated,
                "auth": self._f.auth_failures,
                "store_error": self._f.limiter_errors,
            }[kind]
            child = self._simple[key] = family.labels(key[1])
        return child

    def observe_request(
        self, method: str | None, tool: str | None, outcome: str, duration_s: float
    ) -> None:
        """One answered MCP request (the access-log hook)."""
        m = method if method in KNOWN_METHODS else ("other" if method else "none")
        key = (m, self._tool_label(tool), outcome if outcome in OUTCOMES else "other")
        pair = self._requests.get(key)
        if pair is None:
            pair = self._bind_request(*key)
        pair[0].inc()
        pair[1].observe(duration_s)

    def rate_limited(self, tool: str | None) -> None:
        """The limiter refused a call."""
        self._bind_simple("rate_limited", self._tool_label(tool)).inc()

    def auth_failure(self, reason: str) -> None:
        """Credentials refused; ``reason`` is a short fixed code (``expired``, ``scope`` ...)."""
        self._bind_simple("auth", reason).inc()

    def limiter_error(self, reason: str) -> None:
        """The rate-limit store failed (``build_limiter(on_error=...)``), by reason label."""
        self._bind_simple("store_error", reason).inc()

    def response_truncated(self, tool: str | None) -> None:
        """A tool result was cut at the size limit."""
        self._bind_simple("truncated", self._tool_label(tool)).inc()


def exposition_registry(source: Metrics | CollectorRegistry | None) -> CollectorRegistry:
    """What to scrape: in multiprocess mode every worker's files, else the given registry."""
    path = _multiprocess_dir()
    if path:
        # prometheus_client's documented recipe: a registry holding only the collector,
        # which re-reads the *.db files of all workers on every scrape.
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=path)  # type: ignore[no-untyped-call]
        return combined
    if isinstance(source, Metrics):
        return source.registry
    return source if source is not None else REGISTRY
