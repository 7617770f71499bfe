"""The version is single-sourced: ``pyproject.toml`` → the installed metadata → the code."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import mcp_testkit
from mcp_testkit.wire import CLIENT_INFO

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_comes_from_the_package_metadata() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert version("mcp-fastapi-testkit") == declared
    assert mcp_testkit.__version__ == declared
    assert "__version__" in mcp_testkit.__all__


def test_raw_wire_clients_introduce_themselves_with_that_version() -> None:
    assert {"name": "mcp-testkit", "version": mcp_testkit.__version__} == CLIENT_INFO
