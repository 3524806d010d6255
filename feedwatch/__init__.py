"""feedwatch: the app shell (CLI, config, Scrapy settings, pipeline wiring)."""

from __future__ import annotations

__version__ = "0.1.0"
