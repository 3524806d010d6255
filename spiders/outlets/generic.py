"""The generic outlet: any RSS/Atom/RDF feed added in config.yaml, with no code.

Entries come from feedparser like every outlet's; when an entry is only a summary (by the
feed's `full_text`, or by length when "auto"), the article page body is extracted with
trafilatura (`spiders.fallback`: offline, converted to the seeds' shape). It has no default
feeds or domains: config.yaml gives them.
"""

from __future__ import annotations

from spiders.spec import OutletSpec

SPEC = OutletSpec(kind="generic")
