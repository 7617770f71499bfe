"""The three packages: folders, published names, versions, and release tags.

    python tools/release.py versions                      # one line per package
    python tools/release.py tag mcp-fastapi-server-v0.2.0  # check a release tag (CI)

A release is tagged ``<distribution>-v<version>``. ``tag`` checks the tag against the
package's ``pyproject.toml`` (same version) and ``CHANGELOG.md`` (a ``## [<version>]``
section), then prints ``key=value`` lines for ``$GITHUB_OUTPUT`` (``distribution``,
``folder``, ``version``); on a mismatch it names the file to fix and exits 1.
Standard library only: the noxfile, the docs build and the release workflow import it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Package:
    folder: str  # under packages/
    distribution: str  # the name on the package registry
    import_name: str
    root: Path = ROOT  # the repository

    @property
    def path(self) -> Path:
        return self.root / "packages" / self.folder

    def version(self) -> str:
        data = tomllib.loads((self.path / "pyproject.toml").read_text(encoding="utf-8"))
        project = data["project"]
        if project.get("name") != self.distribution:
            raise ReleaseError(
                f"{self.path / 'pyproject.toml'}: name is {project.get('name')!r}, "
                f"expected {self.distribution!r}"
            )
        return str(project["version"])


PACKAGES = (
    Package("mcp-upstream-client", "mcp-upstream-client", "mcp_upstream_client"),
    Package("mcp-server", "mcp-fastapi-server", "mcp_fastapi_server"),
    Package("mcp-testkit", "mcp-fastapi-testkit", "mcp_testkit"),
)
_TAG_RE = re.compile(r"(?P<distribution>[a-z][a-z0-9-]*)-v(?P<version>\d[0-9A-Za-z.+-]*)")


class ReleaseError(ValueError):
    """A tag or a package file that does not fit the release rules; the message says which."""


def by_distribution(name: str, packages: tuple[Package, ...] = PACKAGES) -> Package:
    for package in packages:
        if package.distribution == name:
            return package
    known = ", ".join(p.distribution for p in packages)
    raise ReleaseError(f"no package is published as {name!r} (known: {known})")


def check_tag(tag: str, packages: tuple[Package, ...] = PACKAGES) -> tuple[Package, str]:
    """The package and version a release tag names, after checking the package's files."""
    match = _TAG_RE.fullmatch(tag)
    if match is None:
        raise ReleaseError(f"tag {tag!r} is not <distribution>-v<version>")
    package = by_distribution(match["distribution"], packages)
    version = match["version"]
    declared = package.version()
    if declared != version:
        raise ReleaseError(
            f"tag {tag!r} says {version}, but {package.path / 'pyproject.toml'} says {declared}"
        )
    changelog = package.path / "CHANGELOG.md"
    heading = re.compile(rf"^## \[{re.escape(version)}\]", re.MULTILINE)
    if not heading.search(changelog.read_text(encoding="utf-8")):
        raise ReleaseError(f"{changelog} has no '## [{version}]' section")
    return package, version


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["versions"]:
            for package in PACKAGES:
                print(f"{package.distribution} {package.version()}")
            return 0
        if len(args) == 2 and args[0] == "tag":
            package, version = check_tag(args[1])
            print(f"distribution={package.distribution}")
            print(f"folder=packages/{package.folder}")
            print(f"version={version}")
            return 0
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
