"""Article-body extraction as one module-level function, so that it can run in a worker process.

An outlet's selectors (`OutletSpider.page_extractor`, a function of the page HTML) come first;
when they find nothing, or the outlet has none, trafilatura reads the page. Both are pure
functions of their arguments: the spider decides where they run (`spiders.workers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spiders.fallback import extract_with_trafilatura
from spiders.items import FeedEntry

PageExtractor = Callable[[str], str | None]


@dataclass(frozen=True)
class Extraction:
    """The body found on a page, and whether the outlet's selectors missed it."""

    body: str | None
    selectors_missed: bool = False  # selectors exist but found nothing (a changed layout?)


def extract_page(
    selectors: PageExtractor | None,
    fallback: bool,
    page_html: str,
    url: str,
    entry: FeedEntry | None,
) -> Extraction:
    """The article body of `page_html` in the seeds' shape: selectors, then trafilatura."""
    body = selectors(page_html) if selectors is not None else None
    if body or not fallback:
        return Extraction(body)
    return Extraction(
        extract_with_trafilatura(page_html, url, entry), selectors_missed=selectors is not None
    )
