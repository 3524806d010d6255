"""Load and validate config.yaml; errors name the key's path and give a hint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic import ValidatorFunctionWrapHandler as WrapHandler
from pydantic_core import ErrorDetails, InitErrorDetails

from conf.alerts import AlertsConfig
from conf.base import ConfigError, StrictModel, parse_duration
from conf.cluster import ClusterConfig, check_postgres_url, is_postgres_url, redact_password
from conf.dedup import DedupConfig
from conf.yamlfile import YamlFileError, excerpt, excerpt_text, load_yaml_file

DEFAULT_CONFIG = "config.yaml"


class ScheduleConfig(StrictModel):
    """When an outlet is crawled: a fixed interval (with jitter) or a cron expression."""

    every: float | None = 1800.0
    cron: str | None = None
    jitter: float = 0.0

    @field_validator("every", "jitter", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("every")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value < 60:
            raise ValueError("crawl at most once a minute: use 60s or more")
        return value

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        # Checked when the config loads (every command), not only when the daemon starts.
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{excerpt(value)} is not a cron expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_rhythm(self) -> ScheduleConfig:
        if self.cron is not None and "every" in self.model_fields_set and self.every is not None:
            raise ValueError("set either every or cron, not both")
        return self


class FeedConfig(StrictModel):
    """One feed URL of an outlet."""

    url: str
    via: str | None = None  # the intermediary (feedx, gfw-breaker); None for the outlet itself
    full_text: bool | Literal["auto"] = "auto"  # False: fetch article pages for the body

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{excerpt(value)} is not an http(s) URL")
        return value


@dataclass(frozen=True)
class OutletDefaults:
    """What an outlet kind brings when config.yaml leaves it out: its spec's title and default
    feeds (declared in its module in spiders/outlets/)."""

    title: str = ""
    feeds: tuple[FeedConfig, ...] = ()


_outlet_kinds: dict[str, OutletDefaults] | None = None


def register_outlet_kinds(kinds: Mapping[str, OutletDefaults]) -> None:
    """Install the spider kinds a config may name (replacing any earlier set). Called by
    `spiders.outlets`: the config layer cannot import the spiders (nor Scrapy)."""
    global _outlet_kinds
    _outlet_kinds = dict(kinds)


def outlet_kinds() -> dict[str, OutletDefaults]:
    """The registered spider kinds; loading a config without them is a bug."""
    if _outlet_kinds is None:
        raise RuntimeError("outlet kinds are not registered: import spiders.outlets first")
    return _outlet_kinds


class OutletConfig(StrictModel):
    """An outlet: which spider parses it, whether and when to crawl it, and overrides.

    What the outlet's spec declares is the default: `title` and `feeds` (a `feeds:` list
    replaces them all). `domains` lists article hosts beyond the spec's own; unlike those, they
    may resolve to private addresses (an intranet feed), so the two lists stay apart.
    """

    title: str = ""
    spider: str = "generic"
    enabled: bool = True
    domains: list[str] = Field(default_factory=list)  # article pages outside these are not fetched
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    feeds: list[FeedConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _spec_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("spider", "generic")
        defaults = outlet_kinds().get(kind) if isinstance(kind, str) else None
        if defaults is None:  # an unknown kind: the spider validator names it
            return data
        data = dict(data)
        if "feeds" not in data and defaults.feeds:
            data["feeds"] = [feed.model_copy() for feed in defaults.feeds]
        if "title" not in data and defaults.title:
            data["title"] = defaults.title
        return data

    @field_validator("spider")
    @classmethod
    def _known_spider(cls, value: str) -> str:
        kinds = outlet_kinds()
        if value not in kinds:
            raise ValueError(
                f"unknown spider {excerpt(value)}; use one of {', '.join(sorted(kinds))}"
                " ('generic' reads any RSS/Atom/RDF feed)"
            )
        return value


class HttpConfig(StrictModel):
    """Scrapy download settings shared by all outlets."""

    timeout: float = 30.0
    max_body_bytes: int = Field(10_000_000, gt=0)
    concurrent_requests: int = Field(8, ge=1, le=64)
    user_agent: str = "feedwatch/0.1"
    autothrottle: bool = True  # adapt the request rate to each server's latency (politeness)
    # Processes that parse feeds, extract article pages and sanitize bodies while the crawl
    # goes on; 0: all in the crawl process (on 2 CPUs, workers gained no time: docs/BENCHMARKS.md).
    extract_workers: int = Field(0, ge=0, le=32)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class Config(StrictModel):
    """The whole config.yaml."""

    archive_dir: Path = Path("archive")
    state_db: Path = Path("state/feedwatch.sqlite3")
    http: HttpConfig = Field(default_factory=HttpConfig)
    outlets: dict[str, OutletConfig] = Field(default_factory=dict)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    # `state_db: postgresql://...`: the whole state lives there (docs/CLUSTER.md), and
    # `state_db` keeps only this machine's folder for its own files (`cluster.local_state_db`:
    # the per-outlet crawl locks, the web view's read index, the daemon's job table).
    _postgres_url: str | None = PrivateAttr(None)

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL URL of the cluster, or None on a single machine (SQLite only)."""
        return self._postgres_url

    @property
    def state_target(self) -> str | Path:
        """What `store.backends.open_storage` opens: the PostgreSQL URL, or the SQLite file."""
        return self._postgres_url if self._postgres_url is not None else self.state_db

    @model_validator(mode="wrap")
    @classmethod
    def _postgres_state(cls, data: Any, handler: WrapHandler) -> Config:
        url = None
        if isinstance(data, dict) and is_postgres_url(data.get("state_db")):
            try:
                url = check_postgres_url(str(data["state_db"]))
            except ValueError as exc:  # reported at its key, as every other bad value
                error = InitErrorDetails(
                    type="value_error",
                    loc=("state_db",),
                    input=redact_password(str(data["state_db"])),
                    ctx={"error": exc},
                )
                raise ValidationError.from_exception_data(cls.__name__, [error]) from None
            data = {key: value for key, value in data.items() if key != "state_db"}
        config: Config = handler(data)
        if url is not None:
            config._postgres_url = url
            config.state_db = config.cluster.local_state_db
        return config

    @field_validator("outlets")
    @classmethod
    def _outlet_names(cls, value: dict[str, OutletConfig]) -> dict[str, OutletConfig]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(
                    f"outlet name {excerpt(name)} must be lowercase letters, digits and _"
                )
        return value


def _key_path(raw: object, loc: tuple[int | str, ...], kind: str) -> str:
    """The error's location as keys of the file: pydantic's union tags (`.bool`) left out."""
    parts: list[str] = []
    node = raw
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            node = node[part]  # type: ignore[index]
        elif last and kind in ("missing", "extra_forbidden"):
            node = None  # the key that is missing or unknown
        else:
            continue  # not a key of the file: a union member's name, such as "bool"
        parts.append(str(part))
    return ".".join(parts) or "(top level)"


def _describe(raw: object, errors: list[ErrorDetails]) -> str:
    first = errors[0]
    kind = str(first["type"])
    path = _key_path(raw, first["loc"], kind)
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check its spelling; see the commented config.yaml)"
    if kind == "missing":
        return f"{path}: required key is missing"
    # A union reports one error per member, all for the same key: say them together.
    messages: list[str] = []
    for error in errors:
        if _key_path(raw, error["loc"], str(error["type"])) == path:
            message = str(error["msg"]).removeprefix("Value error, ")
            if message not in messages:
                messages.append(message)
    text = excerpt_text("; or ".join(messages), 240)
    value = first.get("input")
    if isinstance(value, dict | list):
        return f"{path}: {text}"  # a whole mapping or list would only bury the message
    return f"{path}: {text} (got {excerpt(value)})"


def read_config_data(path: Path) -> dict[str, object]:
    """The raw mapping of a config file; ConfigError (one line) when it cannot be read."""
    try:
        raw = load_yaml_file(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    except YamlFileError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return raw


def load_config(path: str | Path = DEFAULT_CONFIG) -> Config:
    """Read and validate a config file; relative paths in it are resolved against its folder."""
    path = Path(path)
    raw = read_config_data(path)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(raw, exc.errors())}") from None
    base = path.resolve().parent
    config.archive_dir = base / config.archive_dir
    config.state_db = base / config.state_db
    config.alerts.resolve_paths(base)
    return config
