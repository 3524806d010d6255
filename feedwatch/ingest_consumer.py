"""`python -m feedwatch.ingest_consumer`: the ingest consumer beside a one-off command.

Started through the app shell, so that the outlets are registered (feedwatch/__init__.py)
before the consumer loads the config and computes identities (ingest/consumer.py).
"""

import sys

from ingest.consumer import main

if __name__ == "__main__":
    sys.exit(main())
