"""Allow `python -m feedwatch ...`."""

from feedwatch.cli import main

# Guarded: extraction workers are spawned processes, and they import the parent's __main__.
if __name__ == "__main__":
    raise SystemExit(main())
