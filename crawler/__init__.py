"""The Scrapy crawl runtime: settings, spider loader, downloader middlewares, pipelines."""

# Registers the outlets' URL rules and boilerplate with store and dedup, before any command
# computes an identity or a fingerprint (spiders/outlets/__init__.py).
import spiders.outlets  # noqa: F401
