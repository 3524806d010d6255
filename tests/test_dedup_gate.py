"""Quality gate: dedup recall/false-merge floors on a real fixture subset (baseline.json).

The fixtures are held-out pairs of the evaluation (bench/dedup_eval.py): same-URL versions and
feed item vs mirror page pairs, plus window items of each outlet whose OpenCC s2t copies are
built here. Every other pair of files must not merge. Lowering a floor needs a reason in the
commit message.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import opencc

from conf.dedup import DedupConfig
from dedup.compare import compare, features_of_html
from store.imports import read_item_file

GATE = Path(__file__).parent / "fixtures" / "dedup" / "gate"


def _merged(a, b, config: DedupConfig) -> bool:
    """Pair decision as the index + verification make it."""
    distance = (a.fingerprint ^ b.fingerprint).bit_count()
    need = max(1, min(config.min_shared_anchors, len(a.anchors), len(b.anchors)))
    shared = len(set(a.anchors.tolist()) & set(b.anchors.tolist()))
    if distance > config.simhash_k and shared < need:
        return False
    return compare(a, b, config)[0]


def test_dedup_quality_floors() -> None:
    config = DedupConfig()
    baseline = json.loads((GATE / "baseline.json").read_text())
    items = {p.name: read_item_file(p) for p in GATE.iterdir() if p.suffix == ".md"}
    feats = {name: features_of_html(it.body, it.title, config) for name, it in items.items()}
    with open(GATE / "pairs.csv", newline="") as fh:
        positives = [(r["a"], r["b"]) for r in csv.DictReader(fh)]
    linked = {frozenset(p) for p in positives}
    # same-URL groups: any two files of one group are linked
    for a, b in itertools.combinations(sorted(items), 2):
        if items[a].url == items[b].url:
            linked.add(frozenset((a, b)))

    hits = sum(_merged(feats[a], feats[b], config) for a, b in positives)
    s2t = opencc.OpenCC("s2t")
    window = [n for n in items if "waimei-2020-10-12_to_16" in n and "same-url" not in n]
    trad_hits = 0
    for name in window:
        it = items[name]
        trad = features_of_html(s2t.convert(it.body), s2t.convert(it.title), config)
        trad_hits += _merged(feats[name], trad, config)
    false_merges = [
        (a, b)
        for a, b in itertools.combinations(sorted(items), 2)
        if frozenset((a, b)) not in linked and _merged(feats[a], feats[b], config)
    ]
    negatives = len(list(itertools.combinations(items, 2))) - len(linked)
    assert negatives > 500
    assert hits / len(positives) >= baseline["must_merge_recall_min"], (hits, len(positives))
    assert trad_hits / len(window) >= baseline["trad_simp_recall_min"], (trad_hits, len(window))
    assert len(false_merges) <= baseline["false_merges_max"], false_merges
