"""Every check the project runs, locally and in CI: ``uv run nox``.

Default sessions (``uv run nox``): lint, typecheck, docs, tests, e2e. On demand:
``uv run nox -s bench`` and ``uv run nox -s conformance``. Arguments after ``--`` are
passed to the underlying tool, e.g. ``uv run nox -s tests -- -k ratelimit -x``.

Each session gets its own uv-made virtualenv holding exactly the locked workspace
(``uv sync --frozen``), so a session never sees a package that ``uv.lock`` does not pin.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"  # `uv sync` below still makes a reused venv match the lock
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests", "e2e"]

ROOT = Path(__file__).parent
PACKAGES = ("mcp-server", "mcp-upstream-client", "mcp-testkit")
# `uv run` exports UV (its own binary); fall back to PATH for a bare `nox`.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


def _sync(session: nox.Session) -> None:
    """Install the locked workspace (all three packages + the dev group) into the session."""
    session.run_install(
        UV,
        "sync",
        "--frozen",
        "--all-packages",
        "--group",
        "dev",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
        silent=True,
    )


def _existing(*paths: str) -> list[str]:
    return [p for p in paths if (ROOT / p).exists()]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: formatting (check only) and lint rules, on the whole repository."""
    _sync(session)
    targets = session.posargs or ["."]
    session.run("ruff", "format", "--check", *targets)
    session.run("ruff", "check", *targets)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the three packages' sources, the e2e tests and the tools."""
    _sync(session)
    targets = session.posargs or _existing(
        *(f"packages/{name}/src" for name in PACKAGES), "tests-e2e", "tools"
    )
    session.run("mypy", "--strict", *targets)


@nox.session
def docs(session: nox.Session) -> None:
    """mkdocs build --strict: any warning (dead link, page missing from the nav) fails."""
    _sync(session)
    site = Path(session.create_tmp()) / "site"
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(site),
        *session.posargs,
        env={"NO_MKDOCS_2_WARNING": "1"},  # a banner, not a finding about our docs
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests of the three packages (real Redis, real transports).

    pytest's exit code 5 ("no tests collected") fails the session like any other.
    """
    _sync(session)
    paths = [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("packages/*/tests"))]
    session.run("pytest", *paths, *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """End-to-end tests: the real `mcp-server` command as subprocesses, real clients."""
    _sync(session)
    session.run("pytest", "tests-e2e", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (prints numbers, asserts no timings): tools/bench/run.py [ARGS]."""
    script = ROOT / "tools" / "bench" / "run.py"
    if not script.exists():
        session.error(f"{script.relative_to(ROOT)} does not exist")
    _sync(session)
    session.run("python", str(script), *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """The official MCP conformance suite: server suite, then client suite.

    Server: tools/conformance/run.py against a live `mcp-server serve`. Client:
    tools/conformance/run_client.py --suite all against the upstream client manager.
    ``-- server ARGS`` or ``-- client ARGS`` runs one of them with its own options; any
    other arguments go to the server runner alone, as before.
    """
    runners = {
        "server": ROOT / "tools" / "conformance" / "run.py",
        "client": ROOT / "tools" / "conformance" / "run_client.py",
    }
    args = list(session.posargs)
    if args and args[0] in runners:
        plan = [(args[0], args[1:])]
    elif args:
        plan = [("server", args)]
    else:
        plan = [("server", []), ("client", ["--suite", "all"])]
    for name, _ in plan:
        if not runners[name].exists():
            session.error(f"{runners[name].relative_to(ROOT)} does not exist")
    _sync(session)
    for name, runner_args in plan:
        session.log(f"conformance: {name} suite")
        session.run("python", str(runners[name]), *runner_args)
