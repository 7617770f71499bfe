"""The official conformance suite's client scenarios, judging UpstreamManager.

Runs the non-OAuth scenarios of the suite's ``core`` through ``tools/conformance/run_client.py``
(the real suite, Node 22 and ``python -m mcp_upstream_client.conformance_client``) and checks
its verdict. The OAuth scenarios (expected failures: the manager uses static headers) run in
``nox -s conformance``, which keeps this test short. It never skips: without the suite in
the cache it fails and says how to install it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_testkit.asgi import free_port
from mcp_upstream_client.conformance_client import main, run

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "tools" / "conformance" / "run_client.py"
NOT_INSTALLED = 3  # run_client.py's status for "suite not in the cache"
# The scenarios of `core` that are not OAuth: the manager must pass them (elicitation is an
# explained expected failure, see tools/conformance/expected-client-failures.yml).
MUST_PASS = {"initialize", "tools_call", "sse-retry"}
NON_AUTH_CORE = MUST_PASS | {"elicitation-sep1034-client-defaults"}


def test_core_client_suite_passes(tmp_path: Path) -> None:
    report = tmp_path / "results.json"
    output = ["--output", str(tmp_path / "out"), "--json", str(report)]
    scenarios = [arg for name in sorted(NON_AUTH_CORE) for arg in ("--scenario", name)]
    proc = subprocess.run(
        [sys.executable, str(RUNNER), *scenarios, "--no-install", *output],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode == NOT_INSTALLED:
        pytest.fail(f"conformance suite missing, nothing was tested:\n{proc.stdout}")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    results = json.loads(report.read_text(encoding="utf-8"))
    assert set(results) == NON_AUTH_CORE, sorted(results)
    assert not results["elicitation-sep1034-client-defaults"]["passed"]  # listed, explained
    passed = {name for name, result in results.items() if result["passed"]}
    assert passed >= MUST_PASS, proc.stdout
    for name in MUST_PASS:
        assert results[name]["checks"] > 0, results[name]
        assert not results[name]["failures"], results[name]


async def test_adapter_reports_an_unreachable_upstream() -> None:
    # Nothing listens on a fresh free port: the manager's connect error is exit status 1.
    assert await run(f"http://127.0.0.1:{free_port()}/mcp", "tools_call") == 1


def test_adapter_rejects_a_url_that_is_not_http() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["localhost:1234/mcp", "--scenario", "initialize"])
    assert exc.value.code == 2
