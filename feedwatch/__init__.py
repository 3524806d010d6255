"""feedwatch: the app shell (CLI, config, Scrapy settings, pipeline wiring)."""

from __future__ import annotations

# Registers the outlets' URL rules and boilerplate with store and dedup, before any command
# computes an identity or a fingerprint (spiders/outlets/__init__.py).
import spiders.outlets  # noqa: F401

__version__ = "0.1.0"
