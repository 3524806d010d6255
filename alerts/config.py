"""Alert settings as read from config.yaml's `alerts:` section (owned by alerts/)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertsConfig(BaseModel):
    """Placeholder until the alerts issue defines rules and channels."""

    model_config = ConfigDict(extra="forbid")

    rules: list[dict[str, object]] = []
