"""Count HTML tree parses during `feedwatch demo` (the bundled snapshot, replayed offline).

Run as a script in a subprocess (a Twisted reactor cannot restart inside pytest):
`python tests/count_parses.py OUT_DIR`. Prints one JSON line: stored items, the entries that reached
the normalize pipeline (each is sanitized, then stored, merged or seen), every lxml.html parse (`document_fromstring`,
which each lxml.html parse function ends in: pages, bodies, trafilatura) and the parses of
story bodies (`store.document.parse_html`, when it exists). The ingest consumer process the
crawl starts beside it (which sanitizes the bodies) is counted too: a `sitecustomize` on its
PYTHONPATH installs the same counters there and writes them to a file when it exits.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD_DIR = "COUNT_PARSES_DIR"  # set for the child processes: where they write their counts
SITECUSTOMIZE = f"""\
import os, sys
if os.environ.get({CHILD_DIR!r}):
    sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
    import count_parses
    count_parses.count_in_child(os.environ[{CHILD_DIR!r}])
"""


def install_counters() -> dict[str, int]:
    """Count lxml.html document parses and story body parses in this process from now on."""
    import lxml.html

    counts = {"html_parses": 0, "body_parses": 0}
    parse_document = lxml.html.document_fromstring

    def counted_document(*args: Any, **kwargs: Any) -> Any:
        counts["html_parses"] += 1
        return parse_document(*args, **kwargs)

    lxml.html.document_fromstring = counted_document  # type: ignore[assignment]
    try:
        import store.document as document
    except ImportError:  # a version without the document module: only the total is known
        pass
    else:
        parse_body = document.parse_html

        def counted_body(markup: str) -> Any:
            counts["body_parses"] += 1
            return parse_body(markup)

        document.parse_html = counted_body  # type: ignore[assignment]
    return counts


def count_in_child(out_dir: str) -> None:
    """In a child process (through sitecustomize): count, and write the counts at exit."""
    counts = install_counters()

    def dump() -> None:
        path = Path(out_dir) / f"{os.getpid()}.json"
        path.write_text(json.dumps(counts))

    atexit.register(dump)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    out = Path(argv[0])
    children = out.parent / f"{out.name}-children"
    children.mkdir(parents=True, exist_ok=True)
    (children / "sitecustomize.py").write_text(SITECUSTOMIZE)
    os.environ[CHILD_DIR] = str(children)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(children), os.environ.get("PYTHONPATH", "")) if p
    )
    counts = install_counters()

    from crawler.pipelines import NormalizePipeline

    counts["entries"] = 0
    normalize = NormalizePipeline.process_item

    async def counted_normalize(self: Any, item: Any) -> Any:
        counts["entries"] += 1
        return await normalize(self, item)

    NormalizePipeline.process_item = counted_normalize  # type: ignore[method-assign]
    from feedwatch.cli import main as cli_main

    code = cli_main(["demo", "--out", str(out)])
    items = len(list((out / "archive").rglob("*.txt")))
    for child in children.glob("*.json"):  # the ingest consumer's parses
        for key, value in json.loads(child.read_text()).items():
            counts[key] += value
    print(json.dumps({"exit": code, "items": items, **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
