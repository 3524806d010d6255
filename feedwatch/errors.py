"""Errors that the command line turns into one line and an exit code (see feedwatch/cli.py)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def one_line(text: str, limit: int = 400) -> str:
    """`text` as one printable line of at most `limit` characters.

    Error messages can carry bytes from the outside (a WARC's first line, a value from a
    config): control characters are escaped, so none can move the cursor or recolour a terminal.
    """
    flat = " ".join(text.split())
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in flat)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
