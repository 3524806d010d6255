"""Allow `python -m feedwatch ...`."""

import signal
import sys


class _StoppedEarly(BaseException):
    """SIGTERM while Python is still importing feedwatch (main() installs the real handlers)."""


def _stopped_early(signum: int, frame: object) -> None:
    raise _StoppedEarly(signum)


# Guarded: extraction workers are spawned processes, and they import the parent's __main__.
if __name__ == "__main__":
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stopped_early)
    try:
        from feedwatch.cli import main
    except (KeyboardInterrupt, _StoppedEarly) as exc:
        # A signal during the imports (half a second): one line, not an import traceback.
        signum = exc.args[0] if isinstance(exc, _StoppedEarly) else signal.SIGINT
        print(f"feedwatch: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        raise SystemExit(128 + signum) from None
    raise SystemExit(main())
