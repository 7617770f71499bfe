"""Real processes for the end-to-end tests: the installed ``mcp-server`` command.

Every server is started in a clean working directory (no stray ``.env``) with every
``MCP_*`` variable removed from its environment, so the tests see the embedded defaults the
README promises, and is stopped when its test or module ends. Every ``serve`` server is a
testkit target (:func:`serve_target`, started by a ``ServerFactory``), so its logs land in
failure reports like every testkit server's.

The Node tools (the MCP Inspector, the TypeScript SDK, server-everything and a Node >= 22.19)
come from the npm cache folder that ``.ci/run`` fills (``$MCP_TOOLKIT_NPM_PREFIX``). A missing
one fails the test that needs it, naming the step to run: CI must exercise real clients.
"""

from __future__ import annotations

import functools
import os
import platform
import re
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


# --- Node tools from the npm cache folder of .ci/run ---------------------------------------

NPM_PREFIX_ENV = "MCP_TOOLKIT_NPM_PREFIX"
NODE_MIN_VERSION = (22, 19)  # @modelcontextprotocol/inspector 2.x's engines floor
_NODE_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def npm_prefix() -> Path:
    """Where ``.ci/run`` installs ``NPM_PACKAGES`` (the same default as the script)."""
    return Path(os.environ.get(NPM_PREFIX_ENV) or Path.home() / ".cache/mcp-toolkit/npm")


@dataclass(frozen=True)
class NodeTools:
    """Paths into ``$MCP_TOOLKIT_NPM_PREFIX/node_modules``; a missing tool fails the test."""

    prefix: Path

    def require(self, relative: str) -> Path:
        found = self.prefix / "node_modules" / relative
        if not found.exists():
            pytest.fail(
                f"{found} is missing: the Node tools of the e2e tests are not installed. "
                f"Run the npm step of .ci/run (`bash .ci/run` installs its NPM_PACKAGES into "
                f"${NPM_PREFIX_ENV}, default ~/.cache/mcp-toolkit/npm).",
                pytrace=False,
            )
        return found

    @functools.cached_property
    def node(self) -> str:
        """Node >= 22.19 from the ``node-linux-<arch>`` package (the system node may be older)."""
        machine = platform.machine().lower()
        binary = self.require(f"node-linux-{_NODE_ARCH.get(machine, machine)}/bin/node")
        shown = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout.strip()
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", shown)
        if match is None or (int(match[1]), int(match[2])) < NODE_MIN_VERSION:
            pytest.fail(
                f"{binary} reports {shown!r}; the Inspector needs Node >= 22.19. "
                "Run the npm step of .ci/run to install the pinned node-linux package.",
                pytrace=False,
            )
        return str(binary)

    def inspector(self) -> list[str]:
        """argv prefix of the official MCP Inspector (add ``--cli ...``)."""
        launcher = "@modelcontextprotocol/inspector/clients/launcher/build/index.js"
        return [self.node, str(self.require(launcher))]

    def everything_stdio(self) -> list[str]:
        """argv of ``@modelcontextprotocol/server-everything`` over stdio.

        The same install location as ``packages/mcp-upstream-client/tests/
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


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """The npm cache folder; tests ask it for tools (a missing one fails that test)."""
    return NodeTools(npm_prefix())
