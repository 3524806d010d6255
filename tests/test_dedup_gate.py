"""Quality gate: dedup recall/false-merge floors on a real fixture subset (baseline.json).

The fixtures are held-out pairs of the evaluation (bench/dedup_eval.py): same-URL versions and
feed item vs mirror page pairs, plus window items of each outlet whose OpenCC s2t copies are
built here. Every other pair of files must not merge. Lowering a floor needs a reason in the
commit message.

Each pair is decided by the real engine (dedup.engine.DedupEngine): the first file is stored in
an empty state database, the second classified against it. Every document gets its own
canonical URL, so the decision is the content route's (index candidates, then verification).
"""

from __future__ import annotations

import csv
import itertools
import json
import sqlite3
from pathlib import Path

import opencc

from conf.dedup import DedupConfig
from dedup.engine import DedupEngine, Document
from store.imports import read_item_file

GATE = Path(__file__).parent / "fixtures" / "dedup" / "gate"


def _doc(key: str, title: str, body: str) -> Document:
    return Document(
        key=key,
        canonical_url=f"https://gate.invalid/{key}",  # no URL match: content decides
        title=title,
        body_html=body,
        outlet="gate",
        seen_ms=1,
        full_text=True,
    )


class _Pairs:
    """One engine per stored document (built once), classifying incoming ones against it."""

    def __init__(self, docs: dict[str, Document], config: DedupConfig) -> None:
        self.docs = docs
        self.config = config
        self.engines: dict[str, DedupEngine] = {}

    def merged(self, stored: str, incoming: Document) -> bool:
        engine = self.engines.get(stored)
        if engine is None:
            engine = DedupEngine(sqlite3.connect(":memory:"), self.config)
            assert engine.process(self.docs[stored]).kind == "new"
            self.engines[stored] = engine
        decision = engine.classify(incoming)
        assert decision.kind in ("new", "repost"), decision.explain()
        return decision.kind == "repost"


def test_dedup_quality_floors() -> None:
    config = DedupConfig()
    baseline = json.loads((GATE / "baseline.json").read_text())
    items = {p.name: read_item_file(p) for p in GATE.iterdir() if p.suffix == ".md"}
    docs = {name: _doc(name, it.title, it.body) for name, it in items.items()}
    pairs = _Pairs(docs, config)
    with open(GATE / "pairs.csv", newline="") as fh:
        positives = [(r["a"], r["b"]) for r in csv.DictReader(fh)]
    linked = {frozenset(p) for p in positives}
    # same-URL groups: any two files of one group are linked
    for a, b in itertools.combinations(sorted(items), 2):
        if items[a].url == items[b].url:
            linked.add(frozenset((a, b)))

    hits = sum(pairs.merged(a, docs[b]) for a, b in positives)
    s2t = opencc.OpenCC("s2t")
    window = [n for n in items if "waimei-2020-10-12_to_16" in n and "same-url" not in n]
    trad_hits = 0
    for name in window:
        it = items[name]
        trad = _doc(f"s2t-{name}", s2t.convert(it.title), s2t.convert(it.body))
        trad_hits += pairs.merged(name, trad)
    false_merges = [
        (a, b)
        for a, b in itertools.combinations(sorted(items), 2)
        if frozenset((a, b)) not in linked and pairs.merged(a, docs[b])
    ]
    negatives = len(list(itertools.combinations(items, 2))) - len(linked)
    assert negatives > 500
    assert hits / len(positives) >= baseline["must_merge_recall_min"], (hits, len(positives))
    assert trad_hits / len(window) >= baseline["trad_simp_recall_min"], (trad_hits, len(window))
    assert len(false_merges) <= baseline["false_merges_max"], false_merges
