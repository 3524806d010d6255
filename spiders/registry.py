"""The outlet registry: spider kind name -> spider class, and per-outlet spider classes.

`config.yaml` names a kind per outlet (`spider: rfi`); the spider loader asks
`spider_class_for(name, outlet)` for a ready-to-run subclass, so `scrapy crawl <outlet>` works.
"""

from __future__ import annotations

from conf.schema import OutletConfig
from spiders.base import OutletSpider
from spiders.dw import DwSpider
from spiders.epochtimes import EpochTimesSpider
from spiders.generic import GenericSpider
from spiders.gfwbreaker import GfwBreakerSpider
from spiders.rfi import RfiSpider
from spiders.voa import VoaSpider

SPIDER_KINDS: dict[str, type[OutletSpider]] = {
    cls.kind: cls
    for cls in (RfiSpider, DwSpider, VoaSpider, EpochTimesSpider, GfwBreakerSpider, GenericSpider)
}


def spider_class_for(outlet_name: str, outlet: OutletConfig) -> type[OutletSpider]:
    """A new spider class for one configured outlet (name, outlet_name and outlet set)."""
    base = SPIDER_KINDS.get(outlet.spider)
    if base is None:
        known = ", ".join(sorted(SPIDER_KINDS))
        raise ValueError(
            f"outlets.{outlet_name}.spider: unknown spider {outlet.spider!r} (known: {known})"
        )
    # A fresh subclass per outlet: the loader may set custom_settings on it without touching
    # the shared kind class, and two outlets of one kind (rfi + a generic feed) stay apart.
    return type(
        f"{base.__name__}_{outlet_name}",
        (base,),
        {
            "name": outlet_name,
            "outlet_name": outlet_name,
            "outlet": outlet,
            "__module__": base.__module__,
        },
    )
