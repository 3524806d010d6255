"""The dedup engine: classify an incoming item as new story, repost, revision or duplicate.

Usage (one engine per state database connection):

    engine = DedupEngine(storage, config.dedup)  # or a bare SQLite connection
    decision = engine.classify(doc)      # read-only
    engine.commit(doc, decision)         # records it (and indexes it) in one transaction

State lives in the `dedup_*` tables behind the storage interface (store/dedup_tables.py,
`StateStorage.dedup`); the in-memory index is rebuilt from them at start-up. A stored item keeps no text, only a shingle
sketch for verification (dedup/sketch.py); rows written before sketches keep their text, and
their sketch is computed from it when needed.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from conf.dedup import DedupConfig
from dedup.compare import (
    Features,
    features_of_body,
    features_of_text,
    verification_features,
)
from dedup.index import Candidates, NearIndex
from dedup.sketch import Sketch, compare_sketch, sketch_of
from store.dedup_tables import NewDedupItem
from store.document import Body
from store.sqlite import SQLiteState
from store.storage import DedupStorage, StateStorage

__all__ = ["Decision", "DedupEngine", "Document"]

logger = logging.getLogger(__name__)

Kind = Literal["new", "repost", "revision", "duplicate"]
# Stored items whose sketches are kept in memory (~0.5 KB each).
_SKETCH_CACHE = 8192


@dataclass(frozen=True)
class _Stored:
    """What verification knows of a stored item."""

    sketch: Sketch
    anchors: np.ndarray | None  # its index anchors (None: not indexed, e.g. a duplicate)


@dataclass(frozen=True)
class Document:
    """An item as dedup sees it."""

    key: str  # caller's identifier (archive path, or feed guid)
    canonical_url: str  # store.urls.canonical_url of the item URL
    title: str
    body_html: str
    outlet: str
    seen_ms: int
    full_text: bool
    body: Body | None = field(default=None, repr=False, compare=False)  # body_html parsed
    # The key is the URL the items table keeps for this canonical URL (the ingest step's
    # stories): it is not stored a second time.
    key_in_items: bool = False

    def content(self) -> Body:
        """The body's one document (given by the caller, else made here)."""
        return self.body if self.body is not None else Body(self.body_html)


@dataclass
class Decision:
    """What an item is, relative to what was seen before, and why."""

    kind: Kind
    story_id: int | None
    matched_key: str | None
    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    richer_body: bool = False  # a repost/revision whose body is richer than the story's
    features: Features | None = field(default=None, repr=False, compare=False)
    matched_id: int | None = None  # the stored item it matched (its key is `matched_key`)

    def explain(self) -> str:
        """Human-readable account of the decision."""
        head = f"{self.kind}"
        if self.story_id is not None:
            head += f" (story {self.story_id}"
            head += f", matched {self.matched_key})" if self.matched_key else ")"
        lines = [head]
        if self.richer_body:
            lines.append("  richer body than the story: upgrade the story file")
        lines += [f"  {r}" for r in self.reasons]
        if self.scores:
            lines.append(
                "  scores: " + ", ".join(f"{k}={v:g}" for k, v in sorted(self.scores.items()))
            )
        return "\n".join(lines)


class DedupEngine:
    """Classifies and records items against the stories in the state store."""

    def __init__(self, state: StateStorage | sqlite3.Connection, config: DedupConfig) -> None:
        # A bare SQLite connection (tools, tests) is taken as the embedded store on it.
        self.storage: StateStorage = (
            SQLiteState.on(state) if isinstance(state, sqlite3.Connection) else state
        )
        self.tables: DedupStorage = self.storage.dedup
        self.config = config
        self._check_signature()
        self.index = NearIndex.load(
            self.tables, config.simhash_k, config.min_shared_anchors, config.max_anchor_items
        )
        self._stored_cache: OrderedDict[int, _Stored] = OrderedDict()

    def _signature(self) -> str:
        c = self.config
        return f"ngram={c.ngram};anchor_rate={c.anchor_rate};v=1"

    def _check_signature(self) -> None:
        """Fingerprints made with other feature settings are recomputed from the stored texts.

        Only rows from before sketches have a text. A sketch-only row keeps its index row and
        sketch as they are (nothing stored is dropped: with the old settings back they match
        again); it is said once in the log, with the way to re-index it: a rebuild of the state
        from the archive (`feedwatch import ARCHIVE --no-alerts` into a fresh state).
        """
        if self.tables.signature() == self._signature():
            return
        count = self.tables.item_count()
        with self.storage.transaction():
            if count:
                logger.info("dedup feature settings changed: re-fingerprinting %d items", count)
                kept = 0
                for item_id, blob in self.tables.refingerprint_sources():
                    if not blob:  # a sketch only: its features cannot be recomputed
                        kept += 1
                        continue
                    f = features_of_text(zlib.decompress(blob).decode("utf-8"), "", self.config)
                    self.tables.save_fingerprint(item_id, f.fingerprint, f.anchors)
                if kept:
                    logger.warning(
                        "dedup feature settings changed: %d stored items keep only a sketch made"
                        " with the old settings and will rarely match new items; rebuild the"
                        " state from the archive to re-index them",
                        kept,
                    )
            self.tables.set_signature(self._signature())

    def classify(self, doc: Document) -> Decision:
        """Decide what `doc` is; does not change any state."""
        # Another process (the daemon, a manual fetch) may have indexed items since we loaded.
        self.index.catch_up(self.tables)
        feats = features_of_body(doc.content(), doc.title, self.config)
        by_url = self._classify_by_url(doc, feats)
        if by_url is not None:
            return by_url
        return self._classify_by_content(doc, feats)

    def _classify_by_url(self, doc: Document, feats: Features) -> Decision | None:
        found = self.tables.latest_by_url(doc.canonical_url, feats.title, feats.text_hash)
        if found is None:
            return None
        item_id, key, story_id = found.id, found.key, found.story_id
        same_text, same_title, old_length = found.same_text, found.same_title, found.text_len
        old = self._stored(item_id)
        fingerprint = self._fingerprint(item_id)
        _, scores, reasons = compare_sketch(
            feats, old.sketch, fingerprint, old.anchors, self.config
        )
        # A feed summary of a story already stored in full is the same version, not an edit.
        summary_of_stored = (
            not same_text
            and not doc.full_text
            and feats.length < old_length
            and scores["containment"] >= self.config.containment
        )
        kind: Kind = "duplicate" if (same_text and same_title) or summary_of_stored else "revision"
        if summary_of_stored:
            what = "a summary of the stored text"
        elif kind == "duplicate":
            what = "same text and title"
        else:
            what = "changed " + " and ".join(
                x for x, same in (("text", same_text), ("title", same_title)) if not same
            )
        return Decision(
            kind=kind,
            story_id=story_id,
            matched_key=key,
            matched_id=item_id,
            scores=scores,
            reasons=[f"same canonical URL {doc.canonical_url}: {what}", *reasons],
            richer_body=kind == "revision" and self._is_richer(story_id, doc, feats),
            features=feats,
        )

    def _classify_by_content(self, doc: Document, feats: Features) -> Decision:
        cands = self.index.candidates(feats.fingerprint, feats.anchors)
        order = self._rank(cands, len(feats.anchors))
        best: tuple[float, int, str, dict[str, float], list[str], int] | None = None
        for at in order.tolist():
            item_id = int(cands.ids[at])
            row = self.tables.item_ref(item_id)
            if row is None:
                continue
            other = self._stored(item_id)
            ok, scores, reasons = compare_sketch(
                feats, other.sketch, int(cands.fingerprints[at]), other.anchors, self.config
            )
            if ok and (best is None or scores["containment"] > best[0]):
                route = "simhash" if cands.distance[at] <= self.config.simhash_k else "anchors"
                best = (
                    scores["containment"],
                    row[1],
                    row[0],
                    scores,
                    [f"candidate via {route}", *reasons],
                    item_id,
                )
        if best is None:
            why = f"{len(cands)} candidates, {order.size} verified, none matched"
            if cands.stopped:
                why += f" ({cands.stopped} stop-anchors skipped)"
            return Decision(
                kind="new", story_id=None, matched_key=None, reasons=[why], features=feats
            )
        _, story_id, key, scores, reasons, matched_id = best
        return Decision(
            kind="repost",
            story_id=story_id,
            matched_key=key,
            matched_id=matched_id,
            scores=scores,
            reasons=reasons,
            richer_body=self._is_richer(story_id, doc, feats),
            features=feats,
        )

    def _rank(self, cands: Candidates, query_anchors: int) -> np.ndarray:
        """Positions in `cands` worth verifying, best evidence first, at most `max_verify`.

        Simhash candidates come first (nearest first). An anchor-only candidate must share at
        least `min_anchor_share` of the anchors it could share (the smaller item's): anchors are
        a fixed content sample, so a copy whose shingles are 80% contained shares about 80% of
        them, while an item that only shares a dateline or a name shares a few of many.
        Verification is the expensive step; this keeps the number of verified candidates from
        growing with the archive (measured: bench/bench_archive.py, docs/DEDUP.md).
        """
        c = self.config
        near = cands.distance <= c.simhash_k
        # Stop-anchors are not counted on either side (the candidate's are unknown: its count
        # is only an upper bound, which makes the share a conservative estimate).
        usable = max(query_anchors - cands.stopped, 1)
        share = cands.shared / np.maximum(np.minimum(cands.anchors, usable), 1)
        keep = near | (share >= c.min_anchor_share)
        at = np.flatnonzero(keep)
        # lexsort: the last key is the primary one.
        order = np.lexsort((cands.distance[at], -share[at], ~near[at]))
        return at[order][: c.max_verify]

    def _stored(self, item_id: int) -> _Stored:
        """A stored item's sketch and anchors, cached: the same candidates come up again.

        A stored item never changes, so the cache cannot go stale; it is bounded (LRU).
        """
        found = self._stored_cache.get(item_id)
        if found is not None:
            self._stored_cache.move_to_end(item_id)
            return found
        record = self.tables.stored(item_id)
        if record is None:
            raise KeyError(f"dedup item {item_id} is not stored")
        anchors = record.anchors
        if record.sketch is not None and record.shingles is not None:
            sketch = Sketch.from_stored(record.shingles, record.sketch, record.sketch_dropped)
        elif record.legacy_text is not None:  # a row from before sketches: its text is there
            old = zlib.decompress(record.legacy_text).decode("utf-8")
            sketch = sketch_of(verification_features(old, 0, self.config).shingles)
        else:
            sketch = Sketch(0, np.zeros(0, dtype=np.uint32))
        found = _Stored(
            sketch, None if anchors is None else np.frombuffer(anchors, "<u8").astype(np.uint64)
        )
        self._stored_cache[item_id] = found
        if len(self._stored_cache) > _SKETCH_CACHE:
            self._stored_cache.popitem(last=False)
        return found

    def _fingerprint(self, item_id: int) -> int | None:
        """A stored item's simhash (None when it is not indexed: a duplicate)."""
        return self.tables.fingerprint(item_id)

    def _is_richer(self, story_id: int, doc: Document, feats: Features) -> bool:
        best = self.tables.story_best(story_id)
        if best is None:
            return False
        best_len, best_full = best
        if doc.full_text and not best_full and feats.richness > best_len:
            return True
        return feats.richness >= self.config.richer_ratio * max(best_len, 1)

    def commit(self, doc: Document, decision: Decision) -> int:
        """Record `doc` with its decision; returns its story id."""
        feats = decision.features or features_of_body(doc.content(), doc.title, self.config)
        sketch = sketch_of(feats.shingles)
        kept, dropped = sketch.to_stored()
        with self.storage.transaction():
            item_id = self.tables.add_item(
                NewDedupItem(
                    key=None if doc.key_in_items else doc.key,
                    canonical_url=doc.canonical_url,
                    story_id=decision.story_id,
                    kind=decision.kind,
                    outlet=doc.outlet,
                    seen_ms=doc.seen_ms,
                    title=feats.title,
                    text_hash=feats.text_hash,
                    text_len=feats.length,
                    full_text=doc.full_text,
                    matched_id=decision.matched_id,
                    scores=decision.scores,
                    shingles=sketch.shingles,
                    sketch=kept,  # no second copy of the text: verification needs this
                    sketch_dropped=dropped,
                )
            )
            story_id = decision.story_id
            if decision.kind == "new" or story_id is None:
                self.tables.add_story(item_id, feats.richness, doc.full_text, doc.seen_ms)
                story_id = item_id
            elif decision.richer_body:
                self.tables.raise_best(story_id, feats.richness, doc.full_text)
            if decision.kind != "duplicate":
                self.tables.save_fingerprint(item_id, feats.fingerprint, feats.anchors)
        if decision.kind != "duplicate":
            self.index.add(item_id, feats.fingerprint, feats.anchors)
        return story_id

    def process(self, doc: Document) -> Decision:
        """classify + commit; the decision's story_id is filled in for a new story."""
        decision = self.classify(doc)
        decision.story_id = self.commit(doc, decision)
        return decision
