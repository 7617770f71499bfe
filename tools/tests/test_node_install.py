"""tools/node/install.py: Node from the Python registry, the pinned npm tools in a cache."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tools.node import install

LOCK = install.HERE / "package-lock.json"


def test_node_and_every_pinned_tool_are_there() -> None:
    tools = install.ensure(log=False)
    shown = subprocess.run(
        [tools.node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    major, minor = (int(part) for part in shown.lstrip("v").split(".")[:2])
    assert (major, minor) >= install.NODE_FLOOR, shown
    pinned = json.loads((install.HERE / "package.json").read_text(encoding="utf-8"))
    for name, version in pinned["dependencies"].items():
        manifest = tools.module(f"{name}/package.json")
        assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == version, name
    # The tools run on that Node: the TypeScript SDK loads from the cache folder.
    script = "console.log(require.resolve('@modelcontextprotocol/sdk/package.json'))"
    done = subprocess.run(
        [tools.node, "-e", script],
        cwd=tools.prefix,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(tools.prefix)


def test_the_cache_key_follows_the_lockfile_and_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in install.MANIFESTS:
        shutil.copy2(install.HERE / name, tmp_path / name)
    monkeypatch.setattr(install, "HERE", tmp_path)
    key = install.cache_key("v24.19.0")
    assert key == install.cache_key("v24.19.0")
    assert key != install.cache_key("v24.20.0")
    (tmp_path / "package-lock.json").write_text(LOCK.read_text() + "\n", encoding="utf-8")
    assert install.cache_key("v24.19.0") != key


def test_a_complete_folder_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(install.CACHE_ENV, str(tmp_path))
    key = install.cache_key(install.node_version(install.node_binary()))
    (tmp_path / key).mkdir()
    (tmp_path / key / install.STAMP).write_text("{}", encoding="utf-8")
    tools = install.ensure(log=False)
    assert tools.prefix == str(tmp_path / key)
    assert sorted(p.name for p in tmp_path.iterdir()) == [key]  # no lock taken, no npm run


def test_the_script_prints_where_the_tools_are(tmp_path: Path) -> None:
    out = tmp_path / "found.json"
    done = subprocess.run(
        [sys.executable, str(install.HERE / "install.py"), "--output", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text(encoding="utf-8"))
    assert found == {"node": str(install.node_binary()), "prefix": install.ensure().prefix}
