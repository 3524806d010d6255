"""The dedup engine: classify an incoming item as new story, repost, revision or duplicate.

Usage (one engine per state database connection):

    engine = DedupEngine(conn, config.dedup)
    decision = engine.classify(doc)      # read-only
    engine.commit(doc, decision)         # records it (and indexes it) in one transaction

State lives in SQLite tables prefixed `dedup_` (see dedup/clusters.py and dedup/index.py); the
in-memory index is rebuilt from them at start-up. A stored item keeps no text, only a shingle
sketch for verification (dedup/sketch.py); rows written before sketches keep their text, and
their sketch is computed from it when needed.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from conf.dedup import DedupConfig
from dedup.clusters import create_tables
from dedup.compare import (
    Features,
    features_of_body,
    features_of_text,
    verification_features,
)
from dedup.index import Candidates, NearIndex
from dedup.sketch import Sketch, compare_sketch, sketch_of
from store.document import Body
from store.state import write_transaction as transaction

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
    """Classifies and records items against the stories in the state database."""

    def __init__(self, conn: sqlite3.Connection, config: DedupConfig) -> None:
        self.conn = conn
        self.config = config
        create_tables(conn)
        self._check_signature()
        self.index = NearIndex.load(
            conn, config.simhash_k, config.min_shared_anchors, config.max_anchor_items
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
        row = self.conn.execute("SELECT value FROM dedup_meta WHERE name = 'features'").fetchone()
        if row and row[0] == self._signature():
            return
        count = self.conn.execute("SELECT COUNT(*) FROM dedup_items").fetchone()[0]
        with transaction(self.conn):
            if count:
                logger.info("dedup feature settings changed: re-fingerprinting %d items", count)
                rows = self.conn.execute(
                    "SELECT id, text FROM dedup_items WHERE kind != 'duplicate'"
                ).fetchall()
                kept = 0
                for item_id, blob in rows:
                    if not blob:  # a sketch only: its features cannot be recomputed
                        kept += 1
                        continue
                    f = features_of_text(zlib.decompress(blob).decode("utf-8"), "", self.config)
                    NearIndex.save(self.conn, item_id, f.fingerprint, f.anchors)
                if kept:
                    logger.warning(
                        "dedup feature settings changed: %d stored items keep only a sketch made"
                        " with the old settings and will rarely match new items; rebuild the"
                        " state from the archive to re-index them",
                        kept,
                    )
            self.conn.execute(
                "INSERT OR REPLACE INTO dedup_meta (name, value) VALUES ('features', ?)",
                (self._signature(),),
            )

    def classify(self, doc: Document) -> Decision:
        """Decide what `doc` is; does not change any state."""
        # Another process (the daemon, a manual fetch) may have indexed items since we loaded.
        self.index.catch_up(self.conn)
        feats = features_of_body(doc.content(), doc.title, self.config)
        by_url = self._classify_by_url(doc, feats)
        if by_url is not None:
            return by_url
        return self._classify_by_content(doc, feats)

    def _classify_by_url(self, doc: Document, feats: Features) -> Decision | None:
        row = self.conn.execute(
            "SELECT id, key, story_id, title, text_hash, text_len FROM dedup_items"
            " WHERE canonical_url = ? ORDER BY id DESC LIMIT 1",
            (doc.canonical_url,),
        ).fetchone()
        if row is None:
            return None
        item_id, key, story_id, title, text_hash, old_length = row
        same_text = text_hash == feats.text_hash
        same_title = title == feats.title
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
            scores=scores,
            reasons=[f"same canonical URL {doc.canonical_url}: {what}", *reasons],
            richer_body=kind == "revision" and self._is_richer(story_id, doc, feats),
            features=feats,
        )

    def _classify_by_content(self, doc: Document, feats: Features) -> Decision:
        cands = self.index.candidates(feats.fingerprint, feats.anchors)
        order = self._rank(cands, len(feats.anchors))
        best: tuple[float, int, str, dict[str, float], list[str]] | None = None
        for at in order.tolist():
            item_id = int(cands.ids[at])
            row = self.conn.execute(
                "SELECT key, story_id FROM dedup_items WHERE id = ?", (item_id,)
            ).fetchone()
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
                )
        if best is None:
            why = f"{len(cands)} candidates, {order.size} verified, none matched"
            if cands.stopped:
                why += f" ({cands.stopped} stop-anchors skipped)"
            return Decision(
                kind="new", story_id=None, matched_key=None, reasons=[why], features=feats
            )
        _, story_id, key, scores, reasons = best
        return Decision(
            kind="repost",
            story_id=story_id,
            matched_key=key,
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
        shingles, blob, text, anchors = self.conn.execute(
            "SELECT i.shingles, i.sketch, i.text, f.anchors FROM dedup_items i"
            " LEFT JOIN dedup_fingerprints f ON f.item_id = i.id WHERE i.id = ?",
            (item_id,),
        ).fetchone()
        if blob is not None:
            sketch = Sketch.from_bytes(int(shingles), blob)
        else:  # a row from before sketches: its text is there
            old = zlib.decompress(text).decode("utf-8")
            sketch = sketch_of(verification_features(old, 0, self.config).shingles)
        found = _Stored(
            sketch, None if anchors is None else np.frombuffer(anchors, "<u8").astype(np.uint64)
        )
        self._stored_cache[item_id] = found
        if len(self._stored_cache) > _SKETCH_CACHE:
            self._stored_cache.popitem(last=False)
        return found

    def _fingerprint(self, item_id: int) -> int | None:
        """A stored item's simhash (None when it is not indexed: a duplicate)."""
        row = self.conn.execute(
            "SELECT simhash FROM dedup_fingerprints WHERE item_id = ?", (item_id,)
        ).fetchone()
        return None if row is None else int(row[0]) & ((1 << 64) - 1)

    def _is_richer(self, story_id: int, doc: Document, feats: Features) -> bool:
        row = self.conn.execute(
            "SELECT best_len, best_full_text FROM dedup_stories WHERE id = ?", (story_id,)
        ).fetchone()
        if row is None:
            return False
        best_len, best_full = row
        if doc.full_text and not best_full and feats.richness > best_len:
            return True
        return feats.richness >= self.config.richer_ratio * max(best_len, 1)

    def commit(self, doc: Document, decision: Decision) -> int:
        """Record `doc` with its decision; returns its story id."""
        feats = decision.features or features_of_body(doc.content(), doc.title, self.config)
        sketch = sketch_of(feats.shingles)
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO dedup_items (key, canonical_url, story_id, kind, outlet, seen_ms, title,"
                " text_hash, text_len, full_text, matched_key, scores, text, shingles, sketch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.key,
                    doc.canonical_url,
                    decision.story_id,
                    decision.kind,
                    doc.outlet,
                    doc.seen_ms,
                    feats.title,
                    feats.text_hash,
                    feats.length,
                    int(doc.full_text),
                    decision.matched_key,
                    json.dumps(decision.scores, sort_keys=True),
                    b"",  # no second copy of the text: the sketch is what verification needs
                    sketch.shingles,
                    sketch.to_bytes(),
                ),
            )
            item_id = int(cur.lastrowid or 0)
            story_id = decision.story_id
            if decision.kind == "new" or story_id is None:
                self.conn.execute(
                    "INSERT INTO dedup_stories (id, item_id, key, best_len, best_full_text, created_ms)"
                    " VALUES (?, ?, '', ?, ?, ?)",  # the key is the item's (dedup_items.key)
                    (item_id, item_id, feats.richness, int(doc.full_text), doc.seen_ms),
                )
                story_id = item_id
                self.conn.execute(
                    "UPDATE dedup_items SET story_id = ? WHERE id = ?", (story_id, item_id)
                )
            elif decision.richer_body:
                self.conn.execute(
                    "UPDATE dedup_stories SET best_len = MAX(best_len, ?),"
                    " best_full_text = MAX(best_full_text, ?) WHERE id = ?",
                    (feats.richness, int(doc.full_text), story_id),
                )
            if decision.kind != "duplicate":
                NearIndex.save(self.conn, item_id, feats.fingerprint, feats.anchors)
        if decision.kind != "duplicate":
            self.index.add(item_id, feats.fingerprint, feats.anchors)
        return story_id

    def process(self, doc: Document) -> Decision:
        """classify + commit; the decision's story_id is filled in for a new story."""
        decision = self.classify(doc)
        decision.story_id = self.commit(doc, decision)
        return decision
