"""Client under test for the official MCP conformance suite's *client* scenarios.

    python -m mcp_upstream_client.conformance_client http://localhost:PORT/mcp

The suite (``conformance client --command CMD --scenario S``) starts a scenario server,
runs ``CMD <server-url>`` with ``MCP_CONFORMANCE_SCENARIO=S`` and judges what reached its
server. This adapter exists so that the suite judges :class:`UpstreamManager` itself, with
its production code path: one HTTP upstream at that URL, deny-by-default ``allow_tools``
opened only for the tool the scenario calls, connect (initialize + tools/list), list,
call, clean shutdown. Nothing here speaks MCP or OAuth by hand.

What a scenario adds to that configuration is what an operator would write in the
upstream file: ``auth/*`` servers get an ``[upstreams.oauth]`` table (authorization code,
or client credentials for ``auth/client-credentials-*``) filled from the suite's
``MCP_CONFORMANCE_CONTEXT`` (pre-registered client id, secret or signing key) and with a
CIMD URL the suite recognises; the SEP-1034 scenario gets an elicitation handler that
accepts the form as the manager pre-fills it (:func:`accept_defaults`).

Exit status: 0 when the scenario's steps got their answers, 1 when the manager raised an
:class:`UpstreamError` (e.g. ``auth/scope-retry-limit``'s server never grants the scope it
asks for), 2 on bad usage. The suite's checks, not this status, are the
verdict; ``tools/conformance/run_client.py`` runs the scenarios and compares the outcome
with ``tools/conformance/expected-client-failures.yml``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mcp_types

from mcp_upstream_client.config import OAuthConfig, UpstreamConfig
from mcp_upstream_client.elicitation import accept_defaults
from mcp_upstream_client.errors import UpstreamError
from mcp_upstream_client.manager import UpstreamManager

__all__ = [
    "CIMD_URL",
    "CONTEXT_ENV",
    "SCENARIO_ENV",
    "UPSTREAM_NAME",
    "Step",
    "build_config",
    "main",
    "oauth_for",
    "run",
    "step_for",
]

#: Set by the suite for every client it starts.
SCENARIO_ENV = "MCP_CONFORMANCE_SCENARIO"
#: JSON the suite passes to some auth scenarios (pre-registered credentials, keys).
CONTEXT_ENV = "MCP_CONFORMANCE_CONTEXT"
#: The Client ID Metadata Document URL the suite's authorization servers expect.
CIMD_URL = "https://conformance-test.local/client-metadata.json"
UPSTREAM_NAME = "conformance"

log = logging.getLogger("mcp_upstream_client.conformance")


@dataclass(frozen=True)
class Step:
    """The one tool a scenario wants called (``tool=None``: initialize and list only)."""

    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)


# What each scenario of @modelcontextprotocol/conformance 0.1.16 asks of a client (its
# scenario servers define these tools). Unknown scenarios get initialize + tools/list.
_STEPS: dict[str, Step] = {
    "initialize": Step(),
    "tools_call": Step("add_numbers", {"a": 5, "b": 3}),
    "elicitation-sep1034-client-defaults": Step("test_client_elicitation_defaults"),
    "sse-retry": Step("test_reconnection"),
}
_AUTH_STEP = Step("test-tool")  # every auth/* scenario protects a server with this tool


def step_for(scenario: str) -> Step:
    """The step for ``scenario`` (``auth/*`` → call ``test-tool``; unknown → list only)."""
    if scenario.startswith("auth/"):
        return _AUTH_STEP
    return _STEPS.get(scenario, Step())


def oauth_for(scenario: str, context: Mapping[str, Any]) -> OAuthConfig | None:
    """The ``[upstreams.oauth]`` an operator would write for ``scenario`` (None: no OAuth)."""
    if not scenario.startswith("auth/"):
        return None
    client_id = context.get("client_id")
    if scenario.startswith("auth/client-credentials"):
        if "private_key_pem" in context:
            return OAuthConfig(
                grant="client_credentials",
                client_id=client_id,
                private_key=context["private_key_pem"],
                signing_algorithm=context.get("signing_algorithm", "RS256"),
            )
        return OAuthConfig(
            grant="client_credentials",
            client_id=client_id,
            client_secret=context.get("client_secret"),
        )
    return OAuthConfig(
        client_id=client_id,
        client_secret=context.get("client_secret"),
        client_metadata_url=None if client_id else CIMD_URL,
    )


def build_config(url: str, step: Step, oauth: OAuthConfig | None = None) -> UpstreamConfig:
    """One required HTTP upstream whose allowlist holds exactly the scenario's tool.

    Everything else is the production default (timeouts, breaker, reconnects): ``required``
    makes a failed first connect an error at once instead of a background recovery, and
    ``health_interval_s=0`` leaves no periodic health check running in a one-shot process.
    """
    return UpstreamConfig(
        name=UPSTREAM_NAME,
        transport="http",
        url=url,
        allow_tools=[step.tool] if step.tool else [],
        required=True,
        health_interval_s=0,
        oauth=oauth,
    )


async def run(url: str, scenario: str, context: Mapping[str, Any] | None = None) -> int:
    """Run ``scenario``'s steps through an :class:`UpstreamManager`; return the exit status."""
    step = step_for(scenario)
    config = build_config(url, step, oauth_for(scenario, context or {}))
    try:
        async with UpstreamManager(
            [config], shutdown_grace_s=1.0, elicitation_handler=accept_defaults
        ) as manager:
            tools = await manager.list_tools(UPSTREAM_NAME)
            log.info("allowed tools: %s", [tool.name for tool in tools])
            if step.tool is None:
                return 0
            if step.tool not in {tool.name for tool in tools}:
                log.error("the server does not offer %r", step.tool)
                return 1
            result = await manager.call_tool(UPSTREAM_NAME, step.tool, dict(step.arguments))
    except UpstreamError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    log.info("%s -> is_error=%s: %s", step.tool, result.is_error, _text(result))
    return 1 if result.is_error else 0


def _text(result: mcp_types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, mcp_types.TextContent))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``URL`` is the last argument, the scenario comes from the env."""
    parser = argparse.ArgumentParser(
        prog="python -m mcp_upstream_client.conformance_client",
        description="Client under test for the MCP conformance suite (client scenarios).",
    )
    parser.add_argument("url", help="the scenario server's URL (the suite appends it)")
    parser.add_argument(
        "--scenario",
        default=os.environ.get(SCENARIO_ENV, ""),
        help=f"scenario name (default: ${SCENARIO_ENV})",
    )
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"url must start with http:// or https://, got {args.url!r}")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        context = json.loads(os.environ.get(CONTEXT_ENV) or "{}")
    except ValueError:
        context = None
    if not isinstance(context, dict):
        parser.error(f"${CONTEXT_ENV} is not a JSON object")
    log.info("scenario %r against %s", args.scenario, args.url)
    return asyncio.run(run(args.url, args.scenario, context))


if __name__ == "__main__":
    sys.exit(main())
