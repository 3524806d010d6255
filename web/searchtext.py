"""Text as the search index sees it: one token per CJK character, both scripts folded to one.

SQLite FTS5's `trigram` tokenizer cannot match terms shorter than three characters, and most
Chinese words are one or two. Here every CJK character becomes its own token (spaces around it,
then FTS5's `unicode61` tokenizer), and a query term becomes a phrase of consecutive tokens:
"中国" is the phrase `"中 国"`, which matches those two characters side by side, and "中"
matches any text holding 中. Latin words and numbers stay whole words, as unicode61 makes them.
Indexed text and queries are folded the same way as dedup folds texts (NFKC, OpenCC
Traditional → Simplified, lower case), so a Traditional query finds the Simplified edition too.
"""

from __future__ import annotations

import re
import unicodedata

from dedup.text import to_simplified

# CJK ideographs (unified, extension A, compatibility, extensions B-F in plane 2), kana, hangul.
_CJK = re.compile(
    "([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff])"
)
_TOKEN = re.compile(r"\w+")


def fold(text: str) -> str:
    """NFKC, Simplified script, lower case: the form both index and queries are compared in."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def index_text(text: str) -> str:
    """The folded text with every CJK character set apart as its own token (single spaces)."""
    return " ".join(_CJK.sub(r" \1 ", fold(text)).split())


def query_terms(query: str) -> list[str]:
    """The terms of a user query, each as the list of tokens it must match in sequence."""
    terms = []
    for word in query.split():
        tokens = _TOKEN.findall(index_text(word))
        if tokens:
            terms.append(" ".join(tokens))
    return terms


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression: every term as a quoted phrase, all terms required (AND).

    Quoting each term keeps FTS5 operators typed by a user (AND, NEAR, *, column filters)
    literal, so no query can be a syntax error. None when the query has no searchable token.
    """
    terms = query_terms(query)
    if not terms:
        return None
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)
