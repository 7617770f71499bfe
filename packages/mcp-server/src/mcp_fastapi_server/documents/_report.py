"""What ``mcp-server index`` (and start-up with ``MCP_INDEX_PATH``) found and did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IndexReport", "merge_reports"]


@dataclass(frozen=True)
class IndexReport:
    """What :func:`sync_index` found and did; ``paths`` are relative to the docs folder."""

    path: Path
    docs_dir: Path
    built: str | None = None  # why the index was built from scratch, else None
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()  # new size or mtime, same content: not re-indexed
    unchanged: int = 0
    documents: int = 0
    read_only: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether any document was added, modified or removed (or all were, by a build)."""
        return bool(self.built or self.added or self.modified or self.deleted)

    def summary(self) -> str:
        """One line: what happened, the counts and the time taken."""
        if self.built:
            how = f"built ({self.built})"
        elif self.changed or (self.touched and not self.read_only):
            how = "updated"
        else:
            how = "up to date"
        counts = (
            f"{len(self.added)} added, {len(self.modified)} modified, "
            f"{len(self.deleted)} deleted, {len(self.touched)} touched (content unchanged, "
            f"not re-indexed), {self.unchanged} unchanged"
        )
        ro = ", read-only" if self.read_only else ""
        return (
            f"search index {self.path} for {self.docs_dir}: {how}: {counts}; "
            f"{self.documents} documents ({self.seconds:.2f} s{ro})"
        )

    def lines(self) -> Iterator[str]:
        """The summary, then one line per changed path (a fresh build lists no paths)."""
        yield self.summary()
        if self.built:
            return
        for label, paths in (
            ("added", self.added),
            ("modified", self.modified),
            ("deleted", self.deleted),
            ("touched", self.touched),
        ):
            for path in paths:
                yield f"  {label:<9} {path}"


def merge_reports(first: IndexReport, second: IndexReport) -> IndexReport:
    """The settle pass's findings added to the first pass's report."""

    def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(a) | set(b)))

    return IndexReport(
        path=first.path,
        docs_dir=first.docs_dir,
        built=first.built,
        added=union(first.added, second.added),
        modified=union(first.modified, second.modified),
        deleted=union(first.deleted, second.deleted),
        touched=tuple(sorted(set(first.touched) - set(second.modified))),
        unchanged=first.unchanged if first.built else second.unchanged,
        documents=second.documents,
        read_only=first.read_only,
        seconds=second.seconds,
    )
