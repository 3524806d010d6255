"""What every config section shares: the one-line error, durations, strict models."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from conf.yamlfile import excerpt

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class ConfigError(ValueError):
    """A config problem, already phrased as one line for the user."""


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like '30m', '90s', '6h', '1d'."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 90s or 6h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(
                f"{excerpt(value)} is not a duration; use a number of seconds or 30s/30m/6h/1d"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
