"""Find which configured outlet a URL belongs to, by its host and the outlets' domains."""

from __future__ import annotations

from urllib.parse import urlsplit

from conf.schema import Config, OutletConfig
from spiders.outlets import SPECS


def host_in_domains(url: str, domains: list[str]) -> bool:
    """Whether the URL's host is one of `domains` or a subdomain of one."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in (d.lower().strip(".") for d in domains))


def outlet_domains(outlet: OutletConfig) -> list[str]:
    """The outlet's article hosts: config.yaml's `domains` and its spec's."""
    spec = SPECS.get(outlet.spider)
    return [*outlet.domains, *(spec.domains if spec is not None else ())]


def outlet_for_url(config: Config, url: str) -> str | None:
    """The first outlet whose domains cover the URL's host (direct outlets before mirrors)."""
    for name, outlet in config.outlets.items():
        if host_in_domains(url, outlet_domains(outlet)):
            return name
    return None
