"""Errors that the command line turns into one line and an exit code (see feedwatch/cli.py)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""
