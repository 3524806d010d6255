"""Count HTML tree parses during `feedwatch demo` (the bundled snapshot, replayed offline).

Run as a script in a subprocess (a Twisted reactor cannot restart inside pytest):
`python tests/count_parses.py OUT_DIR`. Prints one JSON line: stored items, the entries that reached
the normalize pipeline (each is sanitized, then stored, merged or seen), every lxml.html parse (`document_fromstring`,
which each lxml.html parse function ends in: pages, bodies, trafilatura) and the parses of
story bodies (`store.document.parse_html`, when it exists).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
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

    from crawler.pipelines import NormalizePipeline

    counts["entries"] = 0
    normalize = NormalizePipeline.process_item

    async def counted_normalize(self: Any, item: Any) -> Any:
        counts["entries"] += 1
        return await normalize(self, item)

    NormalizePipeline.process_item = counted_normalize  # type: ignore[method-assign]
    from feedwatch.cli import main as cli_main

    out = Path(argv[0])
    code = cli_main(["demo", "--out", str(out)])
    items = len(list((out / "archive").rglob("*.txt")))
    print(json.dumps({"exit": code, "items": items, **counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
