"""Dedup settings as read from config.yaml's `dedup:` section (owned by dedup/)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DedupConfig(BaseModel):
    """Placeholder until the near-duplicate issue defines its thresholds."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
