"""Allow `python -m feedwatch ...`."""

from feedwatch.cli import main

raise SystemExit(main())
