"""The configuration schema of every layer, and loading it from YAML (the lowest layer)."""
