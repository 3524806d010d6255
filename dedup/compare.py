"""One document's comparison features, and the pairwise decision shared by the engine and the CLI."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from conf.dedup import DedupConfig
from dedup.arrays import sorted_unique
from dedup.index import anchors_of
from dedup.simhash import (
    codepoint_shingle_hashes,
    fingerprint_hashes,
    word_chars,
    word_codepoints,
)
from dedup.text import normalize_text
from dedup.verify import Overlap, common_count, is_match, overlap
from store.document import Body

__all__ = [
    "Features",
    "compare",
    "features_of_body",
    "features_of_html",
    "features_of_text",
    "verification_features",
]


@dataclass(frozen=True)
class Features:
    """What dedup compares: normalized text, its fingerprint, shingles and anchors."""

    text: str
    title: str  # normalized title
    fingerprint: int
    shingles: np.ndarray = field(repr=False)  # sorted unique shingle hashes
    anchors: np.ndarray = field(repr=False)
    text_hash: str = ""
    word_count: int = -1  # len(word_chars(text)), when known
    body_length: int = -1  # Body.text_length of the body, when made from one

    @property
    def length(self) -> int:
        """Word characters in the text (the measure of how rich a body is)."""
        return self.word_count if self.word_count >= 0 else len(word_chars(self.text))

    @property
    def richness(self) -> int:
        """How rich the body is: `Body.text_length`, the measure every other reader uses."""
        return self.body_length if self.body_length >= 0 else self.length


def features_of_text(text: str, title: str, config: DedupConfig) -> Features:
    """Features of already-normalized text."""
    cps = word_codepoints(text)
    hashes = codepoint_shingle_hashes(cps, config.ngram)
    unique = sorted_unique(hashes)
    return Features(
        text=text,
        title=word_chars(normalize_text(title)),
        fingerprint=fingerprint_hashes(hashes),
        shingles=unique,
        anchors=anchors_of(unique, config.anchor_rate),
        text_hash=hashlib.sha1(cps.tobytes().decode("utf-32-le").encode("utf-8")).hexdigest(),
        word_count=int(cps.size),
    )


def verification_features(text: str, fingerprint: int, config: DedupConfig) -> Features:
    """What `compare` needs of a stored item: its shingles and anchors (no text, no hash).

    The fingerprint comes from the index instead of being recomputed: the engine re-derives
    these for candidates that are not in its cache, so it skips whatever compare ignores.
    """
    cps = word_codepoints(text)
    unique = sorted_unique(codepoint_shingle_hashes(cps, config.ngram))
    return Features(
        text="",
        title="",
        fingerprint=fingerprint,
        shingles=unique,
        anchors=anchors_of(unique, config.anchor_rate),
        word_count=int(cps.size),
    )


# Text compared per body, in characters: 5x the longest real article in the corpus (19,348).
# Features cost ~30 bytes per character (shingle hashes, their sort, the text hash): without a
# bound one 9.5 MB description took 300 MB; the richness measure still counts the whole body.
MAX_TEXT_CHARS = 100_000


def features_of_body(body: Body, title: str, config: DedupConfig) -> Features:
    """Features of an item body (its one document, the first MAX_TEXT_CHARS of text) and title."""
    text = body.text
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
    feats = features_of_text(normalize_text(text), title, config)
    return replace(feats, body_length=body.text_length)


def features_of_html(body_html: str, title: str, config: DedupConfig) -> Features:
    """Features of an item body (HTML) and its title."""
    return features_of_body(Body(body_html), title, config)


def compare(
    a: Features, b: Features, config: DedupConfig
) -> tuple[bool, dict[str, float], list[str]]:
    """Same article by content? Returns (match, scores, reasons)."""
    ov: Overlap = overlap(a.shingles, b.shingles)
    distance = (a.fingerprint ^ b.fingerprint).bit_count()
    scores = {
        "hamming": float(distance),
        "containment": round(ov.containment, 4),
        "jaccard": round(ov.jaccard, 4),
        "shingles_a": float(ov.size_a),
        "shingles_b": float(ov.size_b),
        "shared_anchors": float(common_count(a.anchors, b.anchors)),
    }
    ok, why = is_match(
        ov,
        containment=config.containment,
        min_shingles=config.min_shingles,
        short_jaccard=config.short_jaccard,
    )
    reasons = [
        f"simhash distance {distance} (index route: <= {config.simhash_k})",
        f"shared anchors {int(scores['shared_anchors'])} (index route: >= {config.min_shared_anchors})",
        why,
    ]
    return ok, scores, reasons
