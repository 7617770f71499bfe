"""Free text → safe FTS5 expressions, and FTS5 snippets → the ``**bold**`` the tools show."""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MAX_QUERY_TERMS",
    "MAX_TERM_CHARS",
    "build_fts_query",
    "clean_snippet",
    "fold",
    "match_expr",
    "query_terms",
]

MAX_QUERY_TERMS = 16
MAX_TERM_CHARS = 64

# unicode61 treats letters and digits as token characters; \w (plus NFKC folding first)
# picks the same runs, and a quoted term the tokenizer splits further (e.g. on "_")
# becomes a phrase, which is still a sensible match.
_TERM_RE = re.compile(r"\w+")
# snippet() marks hits with private-use characters; the text's own Markdown emphasis is
# dropped before they become ** so highlights never merge with the document's bold.
_EMPHASIS_RE = re.compile(r"\*\*|__")


def query_terms(query: str) -> list[str]:
    """The distinct searchable words of free text (NFKC-folded, capped in count and length)."""
    terms: list[str] = []
    for term in _TERM_RE.findall(unicodedata.normalize("NFKC", query)):
        term = term[:MAX_TERM_CHARS]
        if term not in terms:
            terms.append(term)
            if len(terms) == MAX_QUERY_TERMS:
                break
    return terms


def build_fts_query(query: str, *, any_term: bool = False) -> str | None:
    """A safe FTS5 MATCH expression for free text, or ``None`` when nothing is searchable.

    Every term is a quoted string, so FTS5 syntax in user input (``AND``, ``NEAR(``, ``*``,
    ``"``, ``col:``) is just words; terms are ANDed (or ORed with ``any_term``). Term count
    and length are capped so one request can't build a huge query.
    """
    terms = query_terms(query)
    return match_expr(terms, any_term=any_term) if terms else None


def match_expr(terms: list[str], *, any_term: bool = False) -> str:
    # \w+ terms never contain a double quote, so quoting needs no escaping.
    return (" OR " if any_term else " ").join(f'"{t}"' for t in terms)


def fold(term: str) -> str:
    """Approximately what unicode61 (remove_diacritics 2) indexes ``term`` as.

    Only used to spot very common terms; a miss just means the term is kept.
    """
    decomposed = unicodedata.normalize("NFD", term.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def clean_snippet(raw: str) -> str:
    text = " ".join(_EMPHASIS_RE.sub("", raw).split())
    return text.replace("\ue000", "**").replace("\ue001", "**")
