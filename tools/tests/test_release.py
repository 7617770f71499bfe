"""Release tags (``<distribution>-v<version>``) are checked against the package's files."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tools.release import PACKAGES, ROOT, Package, ReleaseError, by_distribution, check_tag

SCRIPT = ROOT / "tools" / "release.py"


def fake_repo(tmp_path: Path, version: str, changelog: str) -> tuple[Package, ...]:
    """A repository holding one package, ``demo-dist`` in ``packages/demo``."""
    folder = tmp_path / "packages" / "demo"
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "demo-dist"\nversion = "{version}"\n', encoding="utf-8"
    )
    (folder / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return (Package("demo", "demo-dist", "demo", root=tmp_path),)


def test_the_published_names_are_ours() -> None:
    assert [p.distribution for p in PACKAGES] == [
        "mcp-upstream-client",
        "mcp-fastapi-server",
        "mcp-fastapi-testkit",
    ]
    for package in PACKAGES:  # each pyproject.toml names its distribution (checked inside)
        assert package.version()


def test_a_tag_names_the_package_and_version(tmp_path: Path) -> None:
    packages = fake_repo(tmp_path, "1.2.0", "# Changelog\n\n## [1.2.0] - 2026-12-01\n")
    package, version = check_tag("demo-dist-v1.2.0", packages)
    assert (package.distribution, package.folder, version) == ("demo-dist", "demo", "1.2.0")


def test_a_tag_must_match_the_pyproject_version(tmp_path: Path) -> None:
    packages = fake_repo(tmp_path, "1.2.0", "## [1.2.1]\n")
    with pytest.raises(ReleaseError, match=r"says 1\.2\.1, but .*pyproject\.toml says 1\.2\.0"):
        check_tag("demo-dist-v1.2.1", packages)


def test_a_release_needs_its_changelog_section(tmp_path: Path) -> None:
    packages = fake_repo(tmp_path, "1.2.0", "## [Unreleased]\n\n## [1.1.0]\n")
    with pytest.raises(ReleaseError, match=r"CHANGELOG\.md has no '## \[1\.2\.0\]' section"):
        check_tag("demo-dist-v1.2.0", packages)


@pytest.mark.parametrize("tag", ["v0.1.0", "demo-dist-0.1.0", "demo-dist-v", "Demo-dist-v1"])
def test_a_malformed_tag_is_refused(tag: str, tmp_path: Path) -> None:
    packages = fake_repo(tmp_path, "0.1.0", "## [0.1.0]\n")
    with pytest.raises(ReleaseError, match=r"not <distribution>-v<version>|no package"):
        check_tag(tag, packages)


def test_the_folder_name_is_not_a_distribution() -> None:
    with pytest.raises(ReleaseError, match="no package is published as 'mcp-server'"):
        by_distribution("mcp-server")


def test_a_pyproject_with_another_name_is_refused(tmp_path: Path) -> None:
    (package,) = fake_repo(tmp_path, "0.1.0", "## [0.1.0]\n")
    with pytest.raises(ReleaseError, match="name is 'demo-dist', expected 'other'"):
        replace(package, distribution="other").version()


def test_the_script_prints_github_outputs_or_fails_with_the_reason() -> None:
    server = by_distribution("mcp-fastapi-server")
    tag = f"mcp-fastapi-server-v{server.version()}"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "tag", tag], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "distribution=mcp-fastapi-server",
        "folder=packages/mcp-server",
        f"version={server.version()}",
    ]
    wrong = subprocess.run(
        [sys.executable, str(SCRIPT), "tag", "mcp-fastapi-server-v99.0.0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 1
    assert "pyproject.toml says" in wrong.stderr
