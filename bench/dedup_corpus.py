"""Labelled near-duplicate pairs from the real corpus, for the dedup evaluation and benches.

Must-merge categories:
  same_url   - the same URL captured in several edited versions (near-duplicates/same-url-versions)
  mirror     - an Epoch Times feed item and its gfw-breaker mirror page(s), and the same article's
               mirror pages in two channels (near-duplicates/epoch-feed-vs-gfwbreaker/pairs.csv)
  trad_simp  - a real item and its OpenCC s2t Traditional copy (built here, never stored)
Must-not-merge:
  different  - different articles (different canonical URLs) of the same outlet within the
               2020-10-12..16 window, and different mirror pages of the same channel; pairs that
               are known reposts (listed in a group above, or in the ranked cross-outlet list)
               are excluded.

Every pair goes to the "tune" or "held-out" split by a hash of its group (negatives: of the pair),
so thresholds are chosen on one half and reported on the other.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import spiders.outlets  # noqa: F401  (registers the outlets' URL rules and boilerplate)
from store.imports import read_item_file
from store.urls import canonical_url

CORPUS = Path(os.environ.get("FEEDWATCH_CORPUS", "/work/shared/corpus"))
WINDOW = "waimei-2020-10-12_to_16"
OUTLETS = ("rfi", "voa", "dw", "epochtimes")


# Same-outlet pairs of different URLs that a reviewer read and found to be the same article
# (so they are neither must-merge nor must-not-merge labels): the RFI article run in two sections,
# an RFI article retitled at a new URL, and the Epoch Times video version of an interview.
REVIEWED_REPOSTS = frozenset(
    frozenset(pair)
    for pair in (
        (
            "epochtimes/gfw-breaker-pages/banned-news2/nsc413/n12470527.md",
            "epochtimes/gfw-breaker-pages/banned-news2/nsc413/n12477848.md",
        ),
        (
            "rfi/items/waimei-2020-10-12_to_16/2020-10-16_28de35e1d72f9ec4_08706fd3.md",
            "rfi/items/waimei-2020-10-12_to_16/2020-10-16_49c36d3dcc7d75d4_d803539d.md",
        ),
        (
            "rfi/items/waimei-2020-10-12_to_16/2020-10-14_751db2f677c59525_734cf047.md",
            "rfi/items/waimei-2020-10-12_to_16/2020-10-14_fe6f49a080b09b63_8cf6c9d8.md",
        ),
    )
)


@dataclass(frozen=True)
class Doc:
    """One item as the evaluation sees it."""

    key: str  # corpus-relative path (or path + "#s2t" for a derived Traditional copy)
    outlet: str
    url: str
    title: str
    body: str
    ts: int


@dataclass(frozen=True)
class Pair:
    """A labelled pair of document keys."""

    a: str
    b: str
    category: str  # same_url | mirror | trad_simp | different
    split: str  # tune | heldout


def _split(label: str) -> str:
    """Deterministic half split by a label's hash."""
    return "tune" if hashlib.sha1(label.encode()).digest()[0] % 2 == 0 else "heldout"


def _load(rel: str, outlet: str) -> Doc | None:
    try:
        item = read_item_file(CORPUS / rel)
    except Exception as exc:  # noqa: BLE001 - a bad corpus file is reported and skipped
        print(f"skip {rel}: {exc}")
        return None
    return Doc(rel, outlet, item.url, item.title, item.body, item.ts)


def load_dataset(
    max_negatives_per_split: int = 60_000, seed: int = 7
) -> tuple[dict[str, Doc], list[Pair]]:
    """All documents and labelled pairs (negatives sampled down to a bound per split)."""
    import opencc

    docs: dict[str, Doc] = {}
    pairs: list[Pair] = []
    merged_keys: set[frozenset[str]] = set()

    def add(rel: str, outlet: str) -> Doc | None:
        if rel not in docs:
            doc = _load(rel, outlet)
            if doc is None:
                return None
            docs[rel] = doc
        return docs[rel]

    def add_group(keys: list[str], category: str, label: str) -> None:
        split = _split(label)
        for a, b in itertools.combinations(sorted(keys), 2):
            pairs.append(Pair(a, b, category, split))
            merged_keys.add(frozenset((a, b)))

    # same_url: every pair of versions of one URL
    su = CORPUS / "near-duplicates" / "same-url-versions"
    for outlet_dir in sorted(su.iterdir()):
        for group in sorted(outlet_dir.iterdir()):
            keys = [str(p.relative_to(CORPUS)) for p in sorted(group.glob("*.md"))]
            keys = [k for k in keys if add(k, outlet_dir.name)]
            add_group(keys, "same_url", "su:" + group.name)

    # mirror: feed item(s) x mirror page(s) of one article id
    with open(
        CORPUS / "near-duplicates" / "epoch-feed-vs-gfwbreaker" / "pairs.csv", newline=""
    ) as fh:
        for row in csv.DictReader(fh):
            pages = row["gfwbreaker_page_paths"].split()
            feeds = row["feed_item_paths"].split()
            keys = [k for k in pages + feeds if add(k, "epochtimes")]
            split = _split("mi:" + row["epoch_article_id"])
            for a, b in itertools.combinations(sorted(keys), 2):
                if frozenset((a, b)) in merged_keys:
                    continue  # two feed versions of one URL: already a same_url pair
                pairs.append(Pair(a, b, "mirror", split))
                merged_keys.add(frozenset((a, b)))

    # window items: trad_simp copies and must-not-merge pairs
    window: dict[str, list[Doc]] = defaultdict(list)
    for outlet in OUTLETS:
        for path in sorted((CORPUS / outlet / "items" / WINDOW).glob("*.md")):
            doc = add(str(path.relative_to(CORPUS)), outlet)
            if doc:
                window[outlet].append(doc)
    s2t = opencc.OpenCC("s2t")
    for outlet in OUTLETS:
        for doc in window[outlet]:
            trad = Doc(
                doc.key + "#s2t",
                outlet,
                doc.url,
                s2t.convert(doc.title),
                s2t.convert(doc.body),
                doc.ts,
            )
            docs[trad.key] = trad
            pairs.append(Pair(doc.key, trad.key, "trad_simp", _split("ts:" + doc.key)))

    # known reposts inside the window (ranked list) are not negatives
    known: set[frozenset[str]] = set(merged_keys) | REVIEWED_REPOSTS
    with open(
        CORPUS / "near-duplicates" / "cross-outlet-candidates_waimei-window.csv", newline=""
    ) as fh:
        for row in csv.DictReader(fh):
            known.add(frozenset((row["path_a"], row["path_b"])))

    negatives: list[Pair] = []
    for outlet in OUTLETS:
        for doc_a, doc_b in itertools.combinations(window[outlet], 2):
            if canonical_url(doc_a.url) == canonical_url(doc_b.url) or (
                frozenset((doc_a.key, doc_b.key)) in known
            ):
                continue
            key = doc_a.key + "|" + doc_b.key
            negatives.append(Pair(doc_a.key, doc_b.key, "different", _split(key)))
    # different mirror pages of one channel (one article's pages in 2 channels are positives)
    by_channel: dict[str, list[str]] = defaultdict(list)
    root = CORPUS / "epochtimes" / "gfw-breaker-pages" / "banned-news2"
    for page in sorted(root.glob("*/n*.md")):
        by_channel[page.parent.name].append(str(page.relative_to(CORPUS)))
    for keys in by_channel.values():
        for a, b in itertools.combinations(keys, 2):
            if Path(a).name == Path(b).name or frozenset((a, b)) in known:
                continue
            negatives.append(Pair(a, b, "different", _split(a + "|" + b)))

    rng = random.Random(seed)
    for split in ("tune", "heldout"):
        part = [p for p in negatives if p.split == split]
        if len(part) > max_negatives_per_split:
            part = rng.sample(part, max_negatives_per_split)
        for p in part:
            for key in (p.a, p.b):
                if key not in docs:
                    add(key, "epochtimes")
            pairs.append(p)
    pairs = [p for p in pairs if p.a in docs and p.b in docs]
    return docs, pairs
