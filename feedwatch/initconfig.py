"""`feedwatch init [DIR]`: write the commented default config.yaml to start from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from conf.schema import DEFAULT_CONFIG, ConfigError

# The repo's config.yaml, shipped as package data (a test keeps the two identical).
TEMPLATE = "config.yaml"


def template_text() -> str:
    """The commented config shipped with the package."""
    return (resources.files("feedwatch") / "data" / TEMPLATE).read_text(encoding="utf-8")


def write_config(folder: Path, *, force: bool = False) -> Path:
    """Write DIR/config.yaml; an existing one is kept unless `force` (ConfigError says so)."""
    target = folder / DEFAULT_CONFIG
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; keep it, or overwrite it with --force")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(template_text(), encoding="utf-8")
    return target
