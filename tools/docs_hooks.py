"""mkdocs hooks (``hooks:`` in mkdocs.yml): the packages' versions on the site.

The footer names each package with its version, and ``<!-- package-versions -->`` in a page
becomes a table of them; both read ``packages/*/pyproject.toml`` through ``tools.release``,
so the site shows the versions of the commit it was built from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.release import PACKAGES  # noqa: E402

MARKER = "<!-- package-versions -->"


def versions_line() -> str:
    return " · ".join(f"{p.distribution} {p.version()}" for p in PACKAGES)


def versions_table() -> str:
    rows = [
        f"| `{p.distribution}` | {p.version()} | `{p.import_name}` | "
        f"[changelog](changelog/{p.distribution}.md) |"
        for p in PACKAGES
    ]
    return "\n".join(["| package | version | import | |", "|---|---|---|---|", *rows])


def on_config(config: Any) -> Any:
    config["copyright"] = f"{versions_line()} · MIT License"
    return config


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, versions_table())
