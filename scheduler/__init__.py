"""The background daemon: APScheduler jobs per outlet."""
