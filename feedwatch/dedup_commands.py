"""Back ends of `feedwatch dedup explain A B` and `feedwatch dedup cluster PATH... --json`.

Pure functions over item files (all three real shapes, via store.imports); the lead's CLI
prints their results.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from conf.dedup import DedupConfig
from dedup.clusters import UnionFind
from dedup.compare import Features, compare, features_of_html
from dedup.index import NearIndex
from store.format import ItemFormatError
from store.imports import iter_item_paths, read_item_file
from store.urls import canonical_url

__all__ = ["cluster_files", "explain_files"]

logger = logging.getLogger(__name__)


def _features(path: Path, config: DedupConfig) -> tuple[Features, str]:
    item = read_item_file(path)  # raises ItemFormatError naming the file
    return features_of_html(item.body, item.title, config), canonical_url(item.url)


def explain_files(a: Path, b: Path, config: DedupConfig) -> str:
    """Say whether two item files are the same article, and why (distances, scores, thresholds)."""
    fa, url_a = _features(Path(a), config)
    fb, url_b = _features(Path(b), config)
    match, scores, reasons = compare(fa, fb, config)
    lines = [f"A: {a}", f"B: {b}"]
    if url_a == url_b:
        same = fa.text_hash == fb.text_hash and fa.title == fb.title
        lines.append(f"same canonical URL {url_a}: " + ("duplicate" if same else "revision"))
    else:
        lines.append("content: " + ("same article (repost)" if match else "different articles"))
    lines += [f"  {r}" for r in reasons]
    lines.append("  scores: " + ", ".join(f"{k}={v:g}" for k, v in sorted(scores.items())))
    return "\n".join(lines)


def _inputs(paths: list[Path | str]) -> list[tuple[str, bool]]:
    """(path as the user wrote it, given explicitly?) for files and the files inside folders."""
    out: list[tuple[str, bool]] = []
    for raw in paths:
        if Path(raw).is_dir():
            root = str(raw)
            for found in iter_item_paths([raw]):
                out.append((os.path.join(root, str(found.relative_to(raw))), False))
        else:
            out.append((str(raw), True))
    return out


def cluster_files(
    paths: list[Path | str], content_only: bool, config: DedupConfig
) -> list[list[str]]:
    """Cluster item files (files or folders); every file in exactly one cluster, paths as given.

    A file named explicitly that is not an item raises ItemFormatError; non-item files found
    inside a folder (a README, an index) are skipped with a warning.
    """
    files: list[str] = []
    feats: list[Features] = []
    urls: list[str] = []
    for name, explicit in _inputs(paths):
        try:
            f, url = _features(Path(name), config)
        except ItemFormatError as exc:
            if explicit:
                raise
            logger.warning("skipped %s", exc)
            continue
        files.append(name)
        feats.append(f)
        urls.append(url)
    uf = UnionFind(len(files))
    if not content_only:
        first_by_url: dict[str, int] = {}
        for i, url in enumerate(urls):
            uf.union(first_by_url.setdefault(url, i), i)
    index = NearIndex(config.simhash_k, config.min_shared_anchors)
    for i, f in enumerate(feats):
        for j in sorted(index.query(f.fingerprint, f.anchors)):
            if uf.find(i) != uf.find(j) and compare(f, feats[j], config)[0]:
                uf.union(i, j)
        index.add(i, f.fingerprint, f.anchors)
    return [[files[i] for i in group] for group in uf.groups()]
