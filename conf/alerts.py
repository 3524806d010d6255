"""Alert settings as read from config.yaml's `alerts:` section: watch rules, channels, digests, health.

Every rule and channel is checked when the config is loaded, so a broken rule (a regex that does not
compile, an unknown channel, a rule that could match everything) is refused with its name and why
instead of failing silently at crawl time. See docs/ALERTS.md.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from conf.base import parse_duration

# ${NAME} references in an Apprise URL, expanded from the environment at send time.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Query parameters whose value is a secret in Apprise URLs (tokens, passwords, API keys).
_SECRET_PARAMS = re.compile(r"(?i)^(?:pass(?:word)?|token|secret|key|apikey|api_key|access_token)$")
# A long mixed letter+digit run looks like a bot token or webhook key pasted into the URL.
_TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9_\-:]*\d)(?=[A-Za-z0-9_\-:]*[A-Za-z])[A-Za-z0-9_\-:]{24,}")


# The channel names of the AlertsConfig being validated: set by AlertsConfig so that a rule's
# `notify` is checked where it is written and the error points at alerts.rules.N.notify.
_CHANNELS: ContextVar[frozenset[str] | None] = ContextVar("alerts_channels", default=None)


def _check_channels(names: list[str], owner: str) -> list[str]:
    known = _CHANNELS.get()
    if known is None:  # validated on its own, outside an AlertsConfig
        return names
    for name in names:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none defined"
            raise ValueError(f"{owner} notifies unknown channel {name!r} (channels: {listed})")
    return names


Field_ = Literal["title", "body"]
_ALL_FIELDS: tuple[Field_, ...] = ("title", "body")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DigestConfig(_Strict):
    """Batch a rule's matches into one message per period: `every: 30m` or `daily: "08:00"`."""

    every: float | None = None
    daily: str | None = None
    timezone: str = "UTC"  # for `daily`; an IANA name such as Asia/Shanghai

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: object) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < 60:
            raise ValueError("a digest period must be at least 60s")
        return seconds

    @field_validator("daily")
    @classmethod
    def _daily(cls, value: str | None) -> str | None:
        if value is not None:
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
            if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
                raise ValueError(f"daily must be a time of day HH:MM such as 08:00, not {value!r}")
            return f"{int(match.group(1)):02d}:{match.group(2)}"
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC") from exc
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> DigestConfig:
        if (self.every is None) == (self.daily is None):
            raise ValueError("a digest needs exactly one of every: 30m or daily: '08:00'")
        return self


class OutletFilter(_Strict):
    """Which outlets a rule looks at: all of them, only `include`, or all but `exclude`."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    def allows(self, outlet: str) -> bool:
        """True when a story from this outlet is subject to the rule."""
        if self.include and outlet not in self.include:
            return False
        return outlet not in self.exclude


class WatchRule(_Strict):
    """One watch rule: terms and/or a regex over a story's title and body text."""

    name: str
    all: list[str] = Field(default_factory=list)  # every term must occur
    any: list[str] = Field(default_factory=list)  # at least one term must occur
    none: list[str] = Field(default_factory=list)  # no term may occur
    regex: str | None = None  # Python regex over the normalized (Simplified, NFKC) text
    fields: list[Field_] = Field(default_factory=lambda: list(_ALL_FIELDS))
    outlets: OutletFilter = Field(default_factory=OutletFilter)
    notify: list[str] = Field(default_factory=list)  # channel names
    digest: DigestConfig | None = None  # None: alert at once
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[^\s/\\]{1,64}", value):
            raise ValueError(
                f"rule name {value!r} must be 1-64 characters with no spaces or slashes"
            )
        return value

    @field_validator("all", "any", "none")
    @classmethod
    def _terms(cls, value: list[str]) -> list[str]:
        for term in value:
            if not term.strip():
                raise ValueError("a term cannot be empty")
        return [term.strip() for term in value]

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                name = info.data.get("name", "?")
                raise ValueError(f"rule {name!r}: regex does not compile: {exc}") from exc
        return value

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _check_channels(value, f"rule {info.data.get('name', '?')!r}")

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("fields needs title, body or both")
        return value

    @model_validator(mode="after")
    def _selective(self) -> WatchRule:
        # A rule with only `none` terms would alert on every story of every outlet.
        if not (self.all or self.any or self.regex):
            raise ValueError(f"rule {self.name!r} needs at least one of all, any or regex")
        return self


class ChannelConfig(_Strict):
    """Where alerts go: `console`, a `jsonl` file, or any `apprise` URL."""

    kind: Literal["console", "jsonl", "apprise"]
    path: Path | None = None  # jsonl: the file alerts are appended to
    url: str | None = None  # apprise: secrets only as ${ENV_VAR} references
    timeout: float = 10.0  # seconds one send may take before it counts as failed

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= 300:
            raise ValueError("timeout must be between 1s and 300s")
        return seconds

    @model_validator(mode="after")
    def _fields_for_kind(self) -> ChannelConfig:
        if self.kind == "jsonl" and self.path is None:
            raise ValueError("a jsonl channel needs path: FILE")
        if self.kind == "apprise" and not self.url:
            raise ValueError("an apprise channel needs url: SCHEME://...")
        if self.kind != "jsonl" and self.path is not None:
            raise ValueError(f"path is only for jsonl channels, not {self.kind}")
        if self.kind != "apprise" and self.url is not None:
            raise ValueError(f"url is only for apprise channels, not {self.kind}")
        if self.url is not None:
            check_no_inline_secret(self.url)
        return self


def check_no_inline_secret(url: str) -> None:
    """Raise ValueError when an Apprise URL seems to hold a literal secret instead of ${VAR}."""
    if "://" not in url:
        raise ValueError(f"{url!r} is not an Apprise URL (expected SCHEME://...)")
    # Judge only what is left once the ${VAR} references are taken out.
    literal = ENV_REFERENCE.sub("", url)
    rest = literal.split("://", 1)[1]
    authority = rest.split("/", 1)[0]
    if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
        user, password = authority.rsplit("@", 1)[0].split(":", 1)
        if password:
            raise ValueError("the URL holds a literal password: write user:${MY_PASSWORD}@host")
    for name, value in re.findall(r"[?&]([^=&]+)=([^&]*)", rest):
        if _SECRET_PARAMS.match(name) and value:
            raise ValueError(
                f"the URL holds a literal {name}=: write {name}=${{MY_{name.upper()}}}"
            )
    if _TOKEN_LIKE.search(rest.split("?", 1)[0]):
        raise ValueError("the URL seems to hold a literal token: put it in an environment variable")


class HealthConfig(_Strict):
    """Source health alerts: an outlet that goes quiet, keeps failing, or whose bodies collapse."""

    enabled: bool = True
    notify: list[str] = Field(
        default_factory=list
    )  # channels; empty: recorded, shown by `alerts list`
    quiet_gap_factor: float = Field(4.0, gt=1)  # quiet when silent for factor x its median gap
    quiet_min: float = 6 * 3600.0  # never call an outlet quiet before this much silence
    failing_runs: int = Field(3, ge=1)  # this many failed runs in a row raise an alert
    collapse_ratio: float = Field(0.3, gt=0, lt=1)  # run median body < ratio x running median
    collapse_min_items: int = Field(3, ge=1)  # a run needs this many bodies to be judged
    min_history: int = Field(5, ge=2)  # gaps / bodies needed before an outlet is judged at all

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: list[str]) -> list[str]:
        return _check_channels(value, "health")

    @field_validator("quiet_min", mode="before")
    @classmethod
    def _quiet_min(cls, value: object) -> float:
        return parse_duration(value)


class DeliveryConfig(_Strict):
    """Retry policy for channels that fail: exponential backoff, never giving up."""

    retry_base: float = 60.0  # first retry after this long; doubled at each failure
    retry_max: float = 6 * 3600.0  # backoff ceiling
    budget: float = 60.0  # deliver_pending stops starting new sends after this many seconds

    @field_validator("retry_base", "retry_max", "budget", mode="before")
    @classmethod
    def _durations(cls, value: object) -> float:
        return parse_duration(value)


class AlertsConfig(_Strict):
    """The whole `alerts:` section."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: list[WatchRule] = Field(default_factory=list)
    health: HealthConfig = Field(default_factory=HealthConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", name):
                raise ValueError(f"channel name {name!r} must be letters, digits, _ or -")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _with_channel_names(cls, data: object, handler: Any) -> AlertsConfig:
        names = data.get("channels") if isinstance(data, dict) else None
        token = _CHANNELS.set(frozenset(names) if isinstance(names, dict) else frozenset())
        try:
            return handler(data)
        finally:
            _CHANNELS.reset(token)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[WatchRule]) -> list[WatchRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r} is defined twice")
            seen.add(rule.name)
        return value

    def rule(self, name: str) -> WatchRule | None:
        """The rule with this name, or None."""
        return next((rule for rule in self.rules if rule.name == name), None)

    def resolve_paths(self, base: Path) -> None:
        """Make relative jsonl channel paths relative to `base` (the config file's folder)."""
        for channel in self.channels.values():
            if channel.path is not None and not channel.path.is_absolute():
                channel.path = base / channel.path
