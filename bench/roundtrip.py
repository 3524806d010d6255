"""Check every item file under the given folders: shape, byte-exact round trip, importability.

Usage: python bench/roundtrip.py DIR_OR_FILE...

For item-shape files it checks render_item(parse_item(x)) == x; for Jekyll and mirror files it
checks that import works and that the imported item round-trips. Prints per-shape counts and
every failure with its one-line reason; exits 1 if any file failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import spiders.outlets  # noqa: E402, F401  (registers the outlets' URL rules and boilerplate)
from store.format import ItemFormatError, parse_item, render_item  # noqa: E402
from store.imports import detect_shape, iter_item_paths, parse_any  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the round-trip check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to walk")
    parser.add_argument("--quiet", action="store_true", help="only print the totals")
    return parser.parse_args(argv)


def check(path: Path, counts: Counter[str], failures: list[str]) -> None:
    """Check one file and update the counters."""
    data = path.read_bytes()
    counts["files checked"] += 1
    try:
        shape = detect_shape(data)
    except ItemFormatError as exc:
        counts["not an item (unknown shape)"] += 1
        failures.append(f"{path}: {exc}")
        return
    counts[f"shape {shape}"] += 1
    try:
        if shape == "item":
            item = parse_item(data)
            if render_item(item) == data:
                counts["item: identical after render(parse(x))"] += 1
            else:
                counts["item: DIFFERENT after render(parse(x))"] += 1
                failures.append(f"{path}: render(parse(x)) differs")
            return
        item = parse_any(data, str(path))
        if parse_item(render_item(item)) != item:
            failures.append(f"{path}: imported item does not round-trip")
            counts[f"{shape}: import not stable"] += 1
            return
        counts[f"{shape}: imported"] += 1
    except ItemFormatError as exc:
        counts[f"{shape}: failed"] += 1
        failures.append(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the report."""
    args = parse_args(argv)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    start = time.perf_counter()
    try:
        for path in iter_item_paths(args.paths):
            check(path, counts, failures)
    except ItemFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    for key in sorted(counts):
        print(f"{counts[key]:6d}  {key}")
    print(f"{len(failures):6d}  failures")
    if not args.quiet:
        for line in failures:
            print(f"  FAIL {line}")
    print(f"{elapsed:.2f}s for {counts['files checked']} files")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
