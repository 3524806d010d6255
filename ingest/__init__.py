"""The ingest step: classify a story, write its archive file and state, queue its alerts."""
