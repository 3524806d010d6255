"""Dedup settings as read from config.yaml's `dedup:` section (owned by dedup/).

The defaults are the thresholds measured on the tune half of the real corpus
(`python bench/dedup_eval.py`, see docs/DEDUP.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DedupConfig(BaseModel):
    """Near-duplicate detection thresholds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    ngram: int = Field(
        4, ge=2, le=8, description="characters per shingle (fingerprint features and verification)"
    )
    simhash_k: int = Field(
        3, ge=0, le=15, description="Hamming distance for simhash candidates (k+1 index tables)"
    )
    anchor_rate: int = Field(
        96, ge=8, le=4096, description="one shingle in anchor_rate is an anchor (candidate route 2)"
    )
    min_shared_anchors: int = Field(
        2, ge=1, le=16, description="anchors a candidate must share with the new item"
    )
    max_anchor_items: int = Field(
        64,
        ge=1,
        description="an anchor already in more items than this is a stop-anchor (boilerplate):"
        " not used to find candidates",
    )
    min_anchor_share: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="an anchor-route candidate must share this share of the anchors it could"
        " share before it is verified",
    )
    max_verify: int = Field(
        64, ge=1, description="candidates verified per item at most (best evidence first)"
    )
    containment: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="min share of the smaller text's shingles found in the other",
    )
    min_shingles: int = Field(
        50, ge=1, description="below this many distinct shingles a text counts as short"
    )
    short_jaccard: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="short texts merge only at this Jaccard similarity or above",
    )
    richer_ratio: float = Field(
        1.3, ge=1.0, description="a repost is richer when its text is this many times longer"
    )

    @model_validator(mode="after")
    def _check(self) -> DedupConfig:
        if self.short_jaccard < self.containment - 0.5:
            raise ValueError(
                "dedup.short_jaccard is far below dedup.containment: short texts would merge more "
                "easily than long ones; raise short_jaccard"
            )
        return self
