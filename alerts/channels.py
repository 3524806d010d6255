"""Notification channels behind one interface: console (rich), a JSONL file, and Apprise URLs.

A channel either delivers a message or raises DeliveryError with a one-line reason; retries,
backoff and persistence are the service's job (alerts/service.py), not the channel's.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

from rich.console import Console
from rich.text import Text

from conf.alerts import ENV_REFERENCE, ChannelConfig

logger = logging.getLogger(__name__)

MessageKind = Literal["match", "digest", "health"]


class DeliveryError(RuntimeError):
    """A channel could not deliver a message; the text says why in one line."""


@dataclass(frozen=True)
class AlertMessage:
    """One message to deliver: a human title and plain-text body, plus structured data."""

    kind: MessageKind
    title: str
    body: str
    data: Mapping[str, Any] = field(default_factory=dict)
    # Stable id (alerts.ids): a re-sent alert carries the same one, so a receiver can drop it.
    alert_id: str = ""

    def body_with_id(self) -> str:
        """The body with a last line naming the alert id (for channels that carry only text)."""
        return f"{self.body}\n\nalert id: {self.alert_id}" if self.alert_id else self.body


class Notifier(Protocol):
    """What every channel implements."""

    name: str

    def send(self, message: AlertMessage) -> None:
        """Deliver one message or raise DeliveryError."""
        ...


class ConsoleNotifier:
    """Print alerts to the terminal with rich."""

    def __init__(self, name: str, console: Console | None = None) -> None:
        self.name = name
        self.console = console or Console(file=sys.stdout, highlight=False)

    def send(self, message: AlertMessage) -> None:
        """Print the message; never interprets markup from titles (they are untrusted)."""
        style = {"match": "bold green", "digest": "bold cyan", "health": "bold yellow"}
        try:
            self.console.print(
                Text(f"[{message.kind}] ", style=style[message.kind]) + message.title
            )
            self.console.print(Text(message.body_with_id()))
        except OSError as exc:
            raise DeliveryError(f"console: {exc}") from exc


class JsonlNotifier:
    """Append one JSON object per alert to a file, flushed and fsynced before returning."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = Path(path)

    def send(self, message: AlertMessage) -> None:
        """Append the message as one line; DeliveryError when the file cannot be written."""
        record = {
            "alert_id": message.alert_id,
            "kind": message.kind,
            "title": message.title,
            "body": message.body,
            **message.data,
        }
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise DeliveryError(f"{self.path}: cannot append: {exc.strerror or exc}") from exc


@functools.cache
def _load_apprise() -> Any:
    """Import apprise with its plugins loaded once, hiding a stdlib deprecation it triggers."""
    import apprise
    from apprise.manager_plugins import NotificationManager

    # Apprise's email plugin imports the deprecated stdlib `imghdr`; the warning is theirs.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        NotificationManager().load_modules()
    return apprise


def expand_env(url: str, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """Replace ${VAR} references from the environment; returns the URL and the secret values.

    Each value is percent-encoded whole (`@ : / ? # % &` and the rest): a reference always
    stands for one part of the URL (a password, a token, a path segment), and a password such
    as `p@ss/w#rd` pasted raw would change where the URL's parts begin and end. Apprise decodes
    every part (user, password, host, path, query values) before using it.
    """
    env = os.environ if environ is None else environ
    secrets: list[str] = []

    def substitute(match: Any) -> str:
        name = match.group(1)
        if name not in env:
            raise DeliveryError(f"environment variable {name} is not set")
        value = env[name]
        quoted = quote(value, safe="")
        secrets.extend(dict.fromkeys((value, quoted)))  # either may show up in a message
        return quoted

    return ENV_REFERENCE.sub(substitute, url), secrets


# Apprise's generic webhooks: the alert id also goes in as a JSON/form/XML field and a header.
_WEBHOOK_SCHEMES = ("json", "jsons", "form", "forms", "xml", "xmls")
ALERT_ID_HEADER = "X-Feedwatch-Alert-Id"


def with_alert_id(url: str, alert_id: str) -> str:
    """A webhook URL that also sends `alert_id` as a payload field and a header.

    Apprise's `:name=value` query arguments add payload fields and `+Name=value` add headers;
    the user's own `:alert_id` or header, when given, is left as it is.
    """
    scheme = url.split("://", 1)[0].lower()
    if not alert_id or scheme not in _WEBHOOK_SCHEMES:
        return url
    base, hash_mark, fragment = url.partition("#")
    extra = []
    if ":alert_id=" not in base:
        extra.append(f":alert_id={quote(alert_id, safe='')}")
    if f"+{ALERT_ID_HEADER}=".lower() not in base.lower():
        extra.append(f"+{ALERT_ID_HEADER}={quote(alert_id, safe='')}")
    if not extra:
        return url
    joined = base + ("&" if "?" in base else "?") + "&".join(extra)
    return joined + hash_mark + fragment


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class AppriseNotifier:
    """Send through any Apprise URL (ntfy, Telegram, Slack, mail, json:// webhooks...)."""

    def __init__(self, name: str, url: str, timeout: float = 10.0) -> None:
        self.name = name
        self.url = url  # still holding ${VAR} references: expanded at each send
        self.timeout = timeout

    def send(self, message: AlertMessage) -> None:
        """Send once within the channel's timeout; DeliveryError with Apprise's reason otherwise."""
        apprise = _load_apprise()
        url, secrets = expand_env(self.url)
        url = with_alert_id(url, message.alert_id)
        # In-memory storage: Apprise must not write state files next to the user's archive.
        asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
        client = apprise.Apprise(asset=asset)
        if not client.add(url):
            raise DeliveryError(
                f"{self.name}: Apprise does not accept the URL {_scrub(url, secrets)}"
            )
        notify_type = (
            apprise.NotifyType.WARNING if message.kind == "health" else apprise.NotifyType.INFO
        )
        result = client.notify(
            body=message.body_with_id(),
            title=message.title,
            notify_type=notify_type,
            timeout=self.timeout,
        )
        if not result:
            reasons = [entry.message for entry in result.logs()] or [f"status {result.status}"]
            raise DeliveryError(_scrub(f"{self.name}: {'; '.join(reasons)}", secrets))


def build_notifier(name: str, channel: ChannelConfig, console: Console | None = None) -> Notifier:
    """The notifier for one configured channel."""
    if channel.kind == "console":
        return ConsoleNotifier(name, console)
    if channel.kind == "jsonl":
        assert channel.path is not None  # guaranteed by ChannelConfig validation
        return JsonlNotifier(name, channel.path)
    assert channel.url is not None
    return AppriseNotifier(name, channel.url, channel.timeout)
