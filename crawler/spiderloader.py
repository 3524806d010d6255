"""A Scrapy spider loader that builds one spider class per outlet in config.yaml.

With it, `scrapy crawl rfi` and `feedwatch crawl rfi` run the same spider, and an outlet added to
the config with `spider: generic` is crawlable with no code.
"""

from __future__ import annotations

import builtins
from typing import Any

from scrapy import Spider
from scrapy.settings import BaseSettings

from conf.schema import Config, load_config
from spiders.registry import spider_class_for


def scrapy_settings_for(config: Config) -> dict[str, Any]:
    """The Scrapy settings that come from config.yaml."""
    return {
        "DOWNLOAD_TIMEOUT": config.http.timeout,
        "DOWNLOAD_MAXSIZE": config.http.max_body_bytes,
        "CONCURRENT_REQUESTS": config.http.concurrent_requests,
        "USER_AGENT": config.http.user_agent,
        "AUTOTHROTTLE_ENABLED": config.http.autothrottle,
        "FEEDWATCH_WORKERS": config.http.extract_workers,
        "FEEDWATCH_STATE_DB": str(config.state_target),
        "FEEDWATCH_ARCHIVE_DIR": str(config.archive_dir),
    }


class ConfigSpiderLoader:  # implements scrapy.spiderloader.SpiderLoaderProtocol
    """Spiders named after the outlets of the config file in the FEEDWATCH_CONFIG setting."""

    def __init__(self, settings: BaseSettings) -> None:
        self.config = load_config(settings.get("FEEDWATCH_CONFIG", "config.yaml"))

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ConfigSpiderLoader:
        return cls(settings)

    def load(self, spider_name: str) -> type[Spider]:
        outlet = self.config.outlets.get(spider_name)
        if outlet is None:
            known = ", ".join(sorted(self.config.outlets)) or "none"
            raise KeyError(f"no outlet named {spider_name!r} in the config (known: {known})")
        spider_cls = spider_class_for(spider_name, outlet)
        spider_cls.custom_settings = {
            **(spider_cls.custom_settings or {}),
            **scrapy_settings_for(self.config),
        }
        return spider_cls

    def list(self) -> list[str]:
        return sorted(self.config.outlets)

    def find_by_request(self, request: Any) -> builtins.list[str]:
        return []
