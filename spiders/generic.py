"""The generic spider: any RSS/Atom/RDF feed added in config.yaml, with no code.

Entries come from feedparser like every outlet's; when an entry is only a summary (by the
feed's `full_text`, or by length when "auto"), the article page body is extracted with
trafilatura (`spiders.fallback`: offline, converted to the seeds' shape).
"""

from __future__ import annotations

from spiders.base import OutletSpider
from spiders.fallback import extract_with_trafilatura, trafilatura_xml_to_html

__all__ = ["GenericSpider", "extract_with_trafilatura", "trafilatura_xml_to_html"]


class GenericSpider(OutletSpider):
    """Any feed; article bodies via trafilatura."""

    kind = "generic"
