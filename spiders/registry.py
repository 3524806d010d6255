"""The outlet registry: spider kind name -> spider class, built from the outlets' specs.

`config.yaml` names a kind per outlet (`spider: rfi`); every module in `spiders/outlets/`
declares one (`SPEC`), and its spider class here is the feed spider (`OutletSpider`) or, for an
outlet published as index pages, `IndexSpider`, with the spec set on it. The spider loader asks
`spider_class_for(name, outlet)` for a ready-to-run subclass, so `scrapy crawl <outlet>` works.
"""

from __future__ import annotations

from conf.schema import OutletConfig
from spiders.base import OutletSpider
from spiders.index import IndexSpider
from spiders.outlets import SPECS
from spiders.spec import OutletSpec


def kind_class(spec: OutletSpec) -> type[OutletSpider]:
    """The spider class of an outlet kind: the spec set on the feed or the index spider."""
    base = IndexSpider if spec.index_links is not None else OutletSpider
    name = "".join(part.title() for part in spec.kind.split("_")) + "Spider"
    return type(name, (base,), {"spec": spec, "__module__": __name__})


SPIDER_KINDS: dict[str, type[OutletSpider]] = {
    kind: kind_class(spec) for kind, spec in SPECS.items()
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
