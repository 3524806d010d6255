"""Scrapy settings for feedwatch (also used by `scrapy crawl <outlet>` from the repo root).

Values that come from config.yaml (timeouts, size caps, paths) are applied per spider by
`crawler.spiderloader`, so this module holds only what never changes.
"""

from __future__ import annotations

import os

BOT_NAME = "feedwatch"
FEEDWATCH_CONFIG = os.environ.get("FEEDWATCH_CONFIG", "config.yaml")

SPIDER_LOADER_CLASS = "crawler.spiderloader.ConfigSpiderLoader"
SPIDER_MODULES = ["spiders"]

ROBOTSTXT_OBEY = False  # feeds are meant to be polled; article fetches are one per new story
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # no listening ports from a crawler
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Politeness: a few parallel requests per host, with AutoThrottle adapting to slow servers.
CONCURRENT_REQUESTS_PER_DOMAIN = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
# The spiders' errbacks log each failed request in one line with its reason: Scrapy's own
# "Gave up retrying" ERROR would be a second line (and an error counted) for the same failure.
RETRY_GIVE_UP_LOG_LEVEL = "DEBUG"
REDIRECT_MAX_TIMES = 5
# Scrapy's 2083 (an old browser limit) dropped long article URLs with an INFO line, losing the
# entry. Percent-encoded Chinese slugs run long; most servers refuse request lines over ~8 KB.
# Longer links are not requested: the spider stores the feed summary with a WARNING.
URLLENGTH_LIMIT = 8000
DOWNLOAD_WARNSIZE = 0

# Replay/record sit next to the downloader (after compression, redirects and the HTTP cache) so
# recorded bytes are the raw bytes the server sent; see crawler/replay.py.
DOWNLOADER_MIDDLEWARES: dict[str, int] = {
    "crawler.middlewares.SeenArticleMiddleware": 50,
    # Before everything that could fetch: also sees each redirect's new request (see guards.py).
    "crawler.guards.OutboundGuardMiddleware": 60,
    # Between Retry (550) and HttpCompression/Redirect (590/600): sees 429/503 before a retry,
    # hashes decompressed bodies. Conditional GET, unchanged-body skip, backoff (httpstate.py).
    "crawler.httpstate.ConditionalGetMiddleware": 570,
    # After Retry (550): a name GuardedResolver refused fails once, as RefusedRequest.
    "crawler.resolver.RefusedAddressMiddleware": 940,
    "crawler.replay.WarcReplayMiddleware": 950,
    "crawler.replay.WarcRecordMiddleware": 960,
}
FEEDWATCH_REPLAY = ""  # a .warc.gz path: serve every request from it (--replay)
FEEDWATCH_RECORD = ""  # a .warc.gz path: record every response into it (--record)
FEEDWATCH_GUARD_ENABLED = True  # refuse private addresses / off-domain article fetches
# Resolves host names for every connection and refuses private answers (see resolver.py).
TWISTED_DNS_RESOLVER = "crawler.resolver.GuardedResolver"
FEEDWATCH_MAX_ITEMS_PER_FEED = 200  # entries taken from one feed per crawl (0: all)
# Bodies are sanitized by the ingest consumer, on its own core (ingest/settle.py); True makes
# the normalize pipeline do it (`fetch --dry-run`, which prints items and has no consumer).
FEEDWATCH_SANITIZE_IN_CRAWL = False

# Items of one response that go through the pipelines at once. Scrapy's 100 starts 100 tasks
# per response (an article page yields one item): about 5 % of the crawl's CPU on the bench site.
# Our pipelines only wait for the worker pool, so a few more than its processes keep it busy.
CONCURRENT_ITEMS = 8

ITEM_PIPELINES = {
    "crawler.pipelines.NormalizePipeline": 100,
    "crawler.pipelines.StorePipeline": 300,
}

LOG_FORMATTER = "crawler.logformatter.FeedwatchLogFormatter"
LOG_LEVEL = "INFO"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOGSTATS_INTERVAL = 0
