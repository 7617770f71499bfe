"""Checks of the built archives and smoke tests of one installed wheel, for ``nox -s dist``.

    python tools/dist_smoke.py archives dist/ DIST...   # the wheels' and sdists' contents
    <venv>/bin/python tools/dist_smoke.py server        # mcp-fastapi-server (+ its sibling)
    <venv>/bin/python tools/dist_smoke.py client        # mcp-upstream-client alone
    <venv>/bin/python tools/dist_smoke.py testkit       # mcp-fastapi-testkit alone

``archives``: for each named distribution one wheel and one sdist, each with the license
file, the README as a Markdown long description, ``py.typed``, the MIT license expression,
``Requires-Python: >=3.11`` and a classifier per supported Python. The smoke tests check
that ``__version__`` is the installed distribution's version and that the
package ships ``py.typed``, then: the server answers ``tools/list`` over stdio (the
``mcp-server`` command of that venv); the client imports without the server and builds
an ``UpstreamManager``; the testkit's plugin loads under pytest in a project of its own
and one of its fixtures works. Standard library only; exits non-zero naming what failed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TIMEOUT_S = 300.0  # a bound against hanging, not a speed check
EXPECTED_TOOLS = {"health", "metadata", "search", "fetch"}
PYTHONS = ("3.11", "3.12", "3.13")
TESTKIT_PROJECT_TEST = textwrap.dedent(
    """
    def test_the_plugin_is_loaded(pytestconfig):
        assert pytestconfig.pluginmanager.has_plugin("mcp_testkit")


    def test_a_fixture_of_the_plugin(jwt_issuer):
        token = jwt_issuer.token(sub="dist-smoke")
        assert token.count(".") == 2
    """
)


class SmokeError(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeError(message)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    env["FASTMCP_CHECK_FOR_UPDATES"] = "off"
    return env


def check_package(distribution: str, import_name: str) -> str:
    """Import it; ``py.typed`` ships; ``__version__`` is the metadata's version."""
    module = importlib.import_module(import_name)
    installed = importlib.metadata.version(distribution)
    shown = getattr(module, "__version__", None)
    check(shown == installed, f"{import_name}.__version__ is {shown!r}, not {installed!r}")
    check(
        (Path(str(module.__file__)).parent / "py.typed").is_file(),
        f"{import_name} ships no py.typed",
    )
    print(f"dist-smoke: {distribution} {installed} imports as {import_name}, typed")
    return installed


def smoke_server() -> None:
    # The server's version is also checked where users see it: serverInfo in `initialize`.
    installed = check_package("mcp-fastapi-server", "mcp_fastapi_server")
    check_package("mcp-upstream-client", "mcp_upstream_client")  # its sibling, from dist/
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "dist-smoke", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    answers: dict[object, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as workdir, open(Path(workdir, "stderr.log"), "w+") as err:
        # Like a client: stdin stays open until the answers are in, then closes (exit 0).
        proc = subprocess.Popen(
            [str(BIN / "mcp-server"), "stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=workdir,  # no stray .env
            env=clean_env(),
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        timer = threading.Timer(TIMEOUT_S, proc.kill)  # a bound against hanging
        timer.start()
        try:
            proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
            proc.stdin.flush()
            while 2 not in answers and (line := proc.stdout.readline()):
                message = json.loads(line)  # stdout carries protocol bytes only
                answers[message.get("id")] = message
            proc.stdin.close()
            proc.stdout.read()
            status = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
        err.seek(0)
        stderr = err.read()
    check(status == 0, f"mcp-server stdio exited {status} at end of input:\n{stderr[-3000:]}")
    check(2 in answers, f"no answer to tools/list:\n{answers}\n{stderr[-3000:]}")
    server_info = answers[1]["result"]["serverInfo"]
    check(server_info["version"] == installed, f"initialize gave serverInfo {server_info}")
    names = {tool["name"] for tool in answers[2]["result"]["tools"]}
    check(names == EXPECTED_TOOLS, f"tools/list gave {sorted(names)}")
    print(f"dist-smoke: mcp-server stdio answers tools/list: {', '.join(sorted(names))}")


def smoke_client() -> None:
    check_package("mcp-upstream-client", "mcp_upstream_client")
    check(
        importlib.util.find_spec("mcp_fastapi_server") is None,
        "mcp_fastapi_server is installed next to the client: the check would prove nothing",
    )
    from mcp_upstream_client import UpstreamConfig, UpstreamManager

    config = UpstreamConfig(
        name="docs", transport="http", url="http://127.0.0.1:9/mcp", allow_tools=["search"]
    )
    manager = UpstreamManager([config])
    check(manager.names == ["docs"], f"manager names: {manager.names}")
    print("dist-smoke: mcp_upstream_client builds an UpstreamManager without the server")


def smoke_testkit() -> None:
    check_package("mcp-fastapi-testkit", "mcp_testkit")
    with tempfile.TemporaryDirectory() as project:
        Path(project, "test_smoke.py").write_text(TESTKIT_PROJECT_TEST, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", project],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=project,
            env=clean_env(),
            check=False,
        )
    check(done.returncode == 0, f"pytest with the plugin failed:\n{done.stdout}\n{done.stderr}")
    print("dist-smoke: the mcp_testkit plugin loads under pytest; jwt_issuer works")


SMOKES = {"server": smoke_server, "client": smoke_client, "testkit": smoke_testkit}


def _requirement_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    return re.sub(r"[-_.]+", "-", name[0]).lower() if name else ""


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def wheel_requires(wheel: str | Path) -> set[str]:
    """The normalized names of a wheel's unconditional dependencies."""
    requires = wheel_metadata(Path(wheel)).get_all("Requires-Dist") or []
    return {_requirement_name(r) for r in requires if ";" not in r}


def check_metadata(metadata: Message, where: str) -> None:
    check(metadata["License-Expression"] == "MIT", f"{where}: License-Expression is not MIT")
    check(metadata["Requires-Python"] == ">=3.11", f"{where}: Requires-Python is not >=3.11")
    check(
        metadata["Description-Content-Type"] == "text/markdown"
        and len(str(metadata.get_payload())) > 200,
        f"{where}: no Markdown README as the long description",
    )
    classifiers = set(metadata.get_all("Classifier") or [])
    for python in PYTHONS:
        wanted = f"Programming Language :: Python :: {python}"
        check(wanted in classifiers, f"{where}: no classifier {wanted!r}")
    check("Typing :: Typed" in classifiers, f"{where}: no classifier 'Typing :: Typed'")


def check_archives(out: Path, distributions: list[str]) -> None:
    for distribution in distributions:
        stem = distribution.replace("-", "_")
        wheels = sorted(out.glob(f"{stem}-*.whl"))
        sdists = sorted(out.glob(f"{stem}-*.tar.gz"))
        check(len(wheels) == 1 and len(sdists) == 1, f"{distribution}: {wheels} {sdists}")
        wheel, sdist = wheels[0], sdists[0]
        metadata = wheel_metadata(wheel)
        check(metadata["Name"] == distribution, f"{wheel.name}: Name is {metadata['Name']}")
        check_metadata(metadata, wheel.name)
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        check(len(packages) == 1, f"{wheel.name}: top-level entries {sorted(packages)}")
        package = packages.pop()
        check(f"{package}/py.typed" in names, f"{wheel.name}: no {package}/py.typed")
        check(
            any(n.endswith(".dist-info/licenses/LICENSE") for n in names),
            f"{wheel.name}: no LICENSE in .dist-info/licenses/",
        )
        root = sdist.name.removesuffix(".tar.gz")
        with tarfile.open(sdist) as archive:
            members = set(archive.getnames())
        for needed in ("LICENSE", "README.md", "CHANGELOG.md", f"src/{package}/py.typed"):
            check(f"{root}/{needed}" in members, f"{sdist.name}: no {needed}")
        print(f"dist-smoke: {wheel.name} and {sdist.name}: license, README, py.typed, metadata")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    valid = (len(args) == 1 and args[0] in SMOKES) or (len(args) >= 3 and args[0] == "archives")
    if not valid:
        print(
            f"usage: dist_smoke.py {{{','.join(SMOKES)}}} | archives DIR DIST...", file=sys.stderr
        )
        return 2
    try:
        if args[0] == "archives":
            check_archives(Path(args[1]), args[2:])
        else:
            SMOKES[args[0]]()
    except (SmokeError, subprocess.TimeoutExpired, ImportError, ValueError, KeyError) as exc:
        print(f"dist-smoke {args[0]}: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
