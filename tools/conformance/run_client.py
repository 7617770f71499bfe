"""Run the official MCP conformance suite's CLIENT scenarios against ``UpstreamManager``.

    uv run nox -s conformance -- client             # the client suite only
    uv run python tools/conformance/run_client.py   # the same, with options (--help)
    python tools/conformance/run_client.py --suite all
    python tools/conformance/run_client.py --scenario sse-retry --scenario tools_call

The suite starts a scenario server per scenario and runs the client under test,
``python -m mcp_upstream_client.conformance_client <url>`` (an ``UpstreamManager`` with one
HTTP upstream), then judges what reached its server. Each scenario's verdict is the suite's
own exit status for ``client --scenario S`` (it fails on a FAILURE or WARNING check, a
timeout, or a client exit status the scenario does not allow); ``checks.json`` supplies the
details. The outcome is compared with ``expected-client-failures.yml``: exit 1 on an
unexpected failure and on a stale entry (listed, but the scenario passed, or the suite no
longer has it); 0 otherwise.

Why not the suite's ``--suite core``: it starts every scenario's client at once, and 18
Python interpreters importing the MCP stack on two cores miss the suite's per-scenario
timeout; here ``--jobs`` bounds the parallelism. The suite's list has no suite membership,
so :func:`suite_members` rebuilds the pinned 0.1.16 definition from the spec revisions.
The suite's scenario servers would listen on every interface; ``loopback.cjs`` (preloaded
into its Node) keeps them on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; the lock has none

HERE = Path(__file__).resolve().parent
# Run as a script (``python tools/conformance/run_client.py``): make ``tools.node`` importable.
sys.path.insert(0, str(HERE.parent.parent))

from tools.node import install as node_install  # noqa: E402

DEFAULT_EXPECTED = HERE / "expected-client-failures.yml"
LOOPBACK = HERE / "loopback.cjs"  # the suite's scenario servers would bind every interface
CONFORMANCE_VERSION = "0.1.16"  # keep in step with tools/node/package.json
_LISTING_RE = re.compile(r"^\s*-\s*(\S+)\s*\[([^\]]*)\]", re.MULTILINE)
# Revisions of the suite's `core` client suite (0.1.16: initialize, tools_call, the SEP-1034
# elicitation and SSE-retry scenarios and the 2025-11-25 auth scenarios: 18). `all` adds the
# 2025-03-26 back-compat, draft and extension scenarios.
_CORE_REVISIONS = frozenset({"2025-06-18", "2025-11-25"})
SUITES = ("core", "all", "auth")


@dataclass
class Result:
    """One scenario's outcome as the suite judged it."""

    scenario: str
    passed: bool
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    client_note: str = ""


@dataclass
class Tools:
    node: str
    conformance: str

    def suite(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run the suite's CLI (its scenario servers kept on loopback); the caller judges."""
        return subprocess.run(
            [self.node, "--require", str(LOOPBACK), self.conformance, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )


def install_tools() -> Tools:
    """Node and the suite from ``tools/node`` (installed into the cache on first use)."""
    try:
        found = node_install.ensure()
    except node_install.NodeToolsError as exc:
        sys.exit(f"conformance-client: could not install the suite: {exc}")
    package = found.module("@modelcontextprotocol/conformance")
    version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    if version != CONFORMANCE_VERSION:
        sys.exit(
            f"conformance-client: tools/node pins conformance {version}, this runner knows "
            f"{CONFORMANCE_VERSION} (its suite definition): update both together"
        )
    return Tools(node=found.node, conformance=str(package / "dist" / "index.js"))


def client_scenarios(tools: Tools) -> dict[str, list[str]]:
    """``{scenario: [revision, ...]}`` from ``list --client``, in the suite's order."""
    listing = tools.suite("list", "--client", timeout=60)
    scenarios = {
        name: [v.strip() for v in versions.split(",") if v.strip()]
        for name, versions in _LISTING_RE.findall(listing.stdout.split("Server scenarios")[0])
    }
    if listing.returncode != 0 or not scenarios:
        sys.exit(f"conformance-client: `list --client` gave nothing:\n{listing.stderr}")
    return scenarios


def suite_members(suite: str, scenarios: dict[str, list[str]]) -> list[str]:
    """The scenarios of ``suite`` (``core``, ``all``, ``auth`` = the auth part of core)."""
    if suite == "all":
        return list(scenarios)
    core = [name for name, revs in scenarios.items() if _CORE_REVISIONS.intersection(revs)]
    return [n for n in core if n.startswith("auth/")] if suite == "auth" else core


def load_expected(path: Path) -> dict[str, str]:
    """``{scenario: reason}`` from the ``client:`` mapping of the expected-failures file."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    client = data.get("client") or {}
    if not isinstance(client, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in client.items()
    ):
        sys.exit(f"conformance-client: {path}: `client:` must map each scenario to a reason")
    return client


def run_scenario(tools: Tools, command: str, scenario: str, out: Path, timeout_ms: int) -> Result:
    """``client --command CMD --scenario S -o DIR``; keep the suite's log next to checks.json."""
    out.mkdir(parents=True, exist_ok=True)
    args = ("client", "--command", command, "--scenario", scenario, "--timeout", str(timeout_ms))
    try:
        proc = tools.suite(*args, "-o", str(out), timeout=timeout_ms / 1000 + 60)
    except subprocess.TimeoutExpired:
        return Result(scenario, passed=False, client_note="the suite itself did not finish")
    (out / "suite.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    result = Result(scenario, passed=proc.returncode == 0)
    for checks_file in out.rglob("checks.json"):
        for check in json.loads(checks_file.read_text(encoding="utf-8")):
            status = check.get("status")
            result.checks += status in ("SUCCESS", "FAILURE")
            note = f"{check.get('id')}: {check.get('errorMessage') or check.get('description')}"
            if status == "FAILURE":
                result.failures.append(note)
            elif status == "WARNING":
                result.warnings.append(note)
    for line in proc.stderr.splitlines():
        if line.startswith(("Client exited with code", "Client timed out")):
            result.client_note = line.strip()
    return result


def judge(results: dict[str, Result], expected: dict[str, str], known: Iterable[str]) -> list[str]:
    """Problems: unexpected failures; entries that passed, or that the suite no longer has."""
    problems = [
        f"{name}: unexpected failure: {_why(result)}"
        for name, result in results.items()
        if not result.passed and name not in expected
    ]
    known = set(known)
    for name in sorted(expected):
        if name in results and results[name].passed:
            problems.append(f"{name}: passes now; remove it from the expected failures (stale)")
        elif name not in known:
            problems.append(
                f"{name}: listed as expected failure, but the suite has no such scenario"
            )
    return problems


def _why(result: Result) -> str:
    return (result.failures or result.warnings or [result.client_note or "suite exit status"])[0]


def report(results: dict[str, Result], expected: dict[str, str]) -> None:
    for name, result in results.items():
        if result.passed:
            print(f"  pass  {name} ({result.checks} check{'' if result.checks == 1 else 's'})")
        else:
            tag = "xfail" if name in expected else "FAIL "
            print(f"  {tag} {name}: {_why(result)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=SUITES, default="core")
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable)")
    parser.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--timeout", type=int, default=60_000, help="ms per scenario (suite)")
    parser.add_argument(
        "--command",
        default=shlex.join([sys.executable, "-m", "mcp_upstream_client.conformance_client"]),
        help="client under test; the suite appends the server URL",
    )
    parser.add_argument("--expected-failures", type=Path, default=DEFAULT_EXPECTED)
    parser.add_argument("--output", type=Path, help="keep results here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    tools = install_tools()
    scenarios = client_scenarios(tools)
    chosen = args.scenario or suite_members(args.suite, scenarios)
    unknown = sorted(set(chosen) - set(scenarios))
    if unknown:
        print(f"conformance-client: the suite has no client scenario {', '.join(unknown)}")
        return 1
    expected = load_expected(args.expected_failures)
    out = args.output or Path(tempfile.mkdtemp(prefix="mcp-conformance-client-"))
    print(f"conformance-client: {len(chosen)} scenario(s), {args.jobs} at a time: {args.command}")

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            name: pool.submit(
                run_scenario, tools, args.command, name, out / name.replace("/", "_"), args.timeout
            )
            for name in chosen
        }
        results = {name: future.result() for name, future in futures.items()}

    report(results, expected)
    problems = judge(results, expected, scenarios)
    for problem in problems:
        print(f"FAIL {problem}")
    if args.json:
        args.json.write_text(
            json.dumps({n: asdict(r) for n, r in results.items()}, indent=2), encoding="utf-8"
        )
    passed = sum(r.passed for r in results.values())
    failed = len(results) - passed
    listed = sum(not r.passed and n in expected for n, r in results.items())
    print(
        f"conformance-client ({args.suite if not args.scenario else 'selected'}): {passed} passed,"
        f" {failed} failed ({listed} expected); results in {out};"
        f" {'OK' if not problems else f'{len(problems)} problem(s)'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
