"""Benchmark: normalize + fingerprint documents/second vs the plain `simhash` package, same run.

    python bench/bench_fingerprint.py

Both sides start from the same plain text (HTML already converted, which either side needs):
feedwatch runs normalize_text (unicodedata NFKC, OpenCC t2s, line filters) + fingerprint
(numpy); the baseline runs simhash.Simhash(text) with default features. Best of 3 rounds per
side, interleaved. Not timed: every fingerprint is checked against the pure-Python
fingerprint_reference of the same normalized text.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simhash  # noqa: E402

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from bench.dedup_corpus import CORPUS  # noqa: E402
from bench.dedup_eval import machine  # noqa: E402
from dedup.simhash import fingerprint, fingerprint_reference  # noqa: E402
from dedup.text import html_to_text, normalize_text  # noqa: E402
from store.imports import iter_item_paths, read_item_file  # noqa: E402


def load_texts() -> list[str]:
    """Plain text of every real item and mirror page of the corpus."""
    roots = [CORPUS / o / "items" for o in ("rfi", "voa", "dw", "epochtimes")]
    roots.append(CORPUS / "epochtimes" / "gfw-breaker-pages")
    texts = []
    for path in iter_item_paths(roots):
        try:
            texts.append(html_to_text(read_item_file(path).body))
        except Exception:  # noqa: BLE001 - meta files of the mirror are not items
            continue
    return texts


def main() -> int:
    """Run and print a markdown table."""
    texts = load_texts()
    normalize_text("預熱")  # build the OpenCC converter outside the timing
    ours_best = pkg_best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fps = [fingerprint(normalize_text(t)) for t in texts]
        ours_best = min(ours_best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for t in texts:
            simhash.Simhash(t)
        pkg_best = min(pkg_best, time.perf_counter() - t0)
    fp_mismatches = sum(
        fp != fingerprint_reference(normalize_text(t)) for fp, t in zip(fps, texts, strict=True)
    )
    n = len(texts)
    chars = sum(map(len, texts)) / n
    print(
        f"Run {time.strftime('%Y-%m-%d')} on {machine()}; {n} real documents, mean {chars:.0f} chars."
    )
    print("Command: `python bench/bench_fingerprint.py`\n")
    print("| method | docs/s | µs/doc | ratio |")
    print("|---|---|---|---|")
    print(
        f"| feedwatch normalize_text + fingerprint | {n / ours_best:,.0f} "
        f"| {ours_best / n * 1e6:.0f} | {pkg_best / ours_best:.1f}x |"
    )
    print(
        "| simhash.Simhash(text) (package, default features) "
        f"| {n / pkg_best:,.0f} | {pkg_best / n * 1e6:.0f} | 1.0x |"
    )
    print(f"\nFingerprints equal to the pure-Python reference: {n - fp_mismatches}/{n}.")
    return 1 if fp_mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
