"""The version is single-sourced: ``pyproject.toml`` → the installed metadata → the code."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import mcp_upstream_client
from mcp_upstream_client.transports import CLIENT_INFO

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_comes_from_the_package_metadata() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert version("mcp-upstream-client") == declared
    assert mcp_upstream_client.__version__ == declared
    assert "__version__" in mcp_upstream_client.__all__


def test_the_client_introduces_itself_with_that_version() -> None:
    assert CLIENT_INFO.name == "mcp-upstream-client"
    assert CLIENT_INFO.version == mcp_upstream_client.__version__
