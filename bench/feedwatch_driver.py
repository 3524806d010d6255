"""`python -m feedwatch` for the benchmarks, with the conditional-GET middleware switched on.

    python bench/feedwatch_driver.py crawl --config CONFIG.yaml

The benchmark measures with `crawler.httpstate.ConditionalGetMiddleware` on: it is listed in
crawler/settings.py DOWNLOADER_MIDDLEWARES, and this adds it at its documented order in case
a checkout predates that (adding it twice is a no-op).
The environment variable FEEDWATCH_BENCH_SETTINGS (a JSON object) overrides more settings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler import settings  # noqa: E402
from crawler.httpstate import MIDDLEWARE_ORDER, MIDDLEWARE_PATH  # noqa: E402

settings.DOWNLOADER_MIDDLEWARES = {
    **settings.DOWNLOADER_MIDDLEWARES,
    MIDDLEWARE_PATH: MIDDLEWARE_ORDER,
}
for _key, _value in json.loads(os.environ.get("FEEDWATCH_BENCH_SETTINGS") or "{}").items():
    setattr(settings, _key, _value)

from feedwatch.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
