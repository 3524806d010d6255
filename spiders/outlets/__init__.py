"""The outlets: one module per outlet in this package, each with its `SPEC` beside its parsers.

Importing this package collects every module's spec (no list to keep: a new module is found)
and gives the lower layers their part as plain data: kinds with their default title and feeds
to `conf.schema`, URL identity rules, aliases, tracking parameters and mirror hosts
to `store.urls`, boilerplate lines to `dedup.text`. Every process
that stores or compares stories imports it first (the app shell, the crawl runtime and the
scheduler do so in their package `__init__`); the store and dedup refuse to work without it.
No Scrapy is imported here: the spider classes are built from the specs by `spiders.registry`.
"""

from __future__ import annotations

import importlib
import pkgutil

from conf.schema import FeedConfig, OutletDefaults, register_outlet_kinds
from dedup.text import Boilerplate, register_boilerplate
from spiders.spec import Intermediary, OutletSpec
from store.urls import register_outlet_urls


def _discover() -> dict[str, OutletSpec]:
    specs: dict[str, OutletSpec] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, OutletSpec):
            raise TypeError(f"{module.__name__} has no SPEC = OutletSpec(...)")
        if spec.kind in specs:
            raise ValueError(f"outlet kind {spec.kind!r} is declared twice")
        specs[spec.kind] = spec
    return specs


SPECS: dict[str, OutletSpec] = _discover()


def intermediaries() -> tuple[Intermediary, ...]:
    """Every intermediary some outlet names, each once."""
    return tuple(dict.fromkeys(i for spec in SPECS.values() for i in spec.intermediaries))


def intermediary_for(feed: FeedConfig) -> Intermediary | None:
    """The intermediary serving this feed, if any (by `via` or by host)."""
    return next((i for i in intermediaries() if i.serves(feed)), None)


def _boilerplate() -> list[Boilerplate]:
    own = [spec.boilerplate for spec in SPECS.values()]
    return own + [i.boilerplate for i in intermediaries()]


register_outlet_kinds(
    {
        kind: OutletDefaults(spec.title, tuple(spec.default_feed_configs()))
        for kind, spec in SPECS.items()
    }
)
register_outlet_urls(spec.urls for spec in SPECS.values())
register_boilerplate(_boilerplate())
