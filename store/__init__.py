"""The item format (render/parse/import), the archive on disk and the SQLite state."""
