"""Sending one alert message: email through Django's mail backend, webhooks through apprise.

Webhook URLs are secrets. They are stored as given, shown only masked
(`url_masked`), never logged (apprise's own debug lines, which print them,
are kept below WARNING in the settings), and scrubbed from any error text
before it is stored.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlsplit

import apprise
from django.conf import settings
from django.core.mail import send_mail

from agent_platform.errors import ApplicationError
from alerts.models import Webhook

# The apprise service each kind must resolve to: a URL of another service is refused when saved.
PLUGINS = {Webhook.Kind.SLACK: "NotifySlack", Webhook.Kind.TEAMS: "NotifyWorkflows", Webhook.Kind.JSON: "NotifyJSON"}
EXAMPLES = {
    Webhook.Kind.SLACK: "https://hooks.slack.com/services/T.../B.../...",
    Webhook.Kind.TEAMS: "a Teams Workflows URL, https://...logic.azure.com/workflows/.../triggers/manual/paths/invoke?...",
    Webhook.Kind.JSON: "an http:// or https:// URL",
}
NOTIFY_TYPES = {"fired": apprise.NotifyType.FAILURE, "resolved": apprise.NotifyType.SUCCESS}


class DeliveryError(Exception):
    """The channel refused or could not be reached; the message says why, with no secret in it."""


def url_masked(url: str) -> str:
    """Enough to recognise a webhook, nothing to use it: the scheme, the host and the last four characters."""
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 16 else ""
    return f"{parts.scheme}://{parts.hostname or '?'}/…{tail}"


def scrub(text: str, url: str) -> str:
    """`text` without the URL or any of its path segments and query values (where the secret tokens are)."""
    parts = urlsplit(url)
    secrets = [url, parts.path, *(v for _, v in parse_qsl(parts.query)), *parts.path.split("/")]
    for secret in sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


def apprise_url(kind: str, url: str) -> str:
    """The URL apprise takes: Slack and Teams URLs as given (apprise reads them natively); a generic one as
    `json://` or `jsons://`, its query parameters passed through as such (apprise's `-name=value`)."""
    if kind != Webhook.Kind.JSON:
        return url
    parts = urlsplit(url)
    scheme = {"http": "json", "https": "jsons"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        return ""
    query = "&".join(f"-{name}={value}" for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return f"{scheme}://{parts.netloc}{parts.path or '/'}" + (f"?{query}" if query else "")


def _apprise_service(kind: str, url: str):
    service = apprise.Apprise.instantiate(apprise_url(kind, url)) if url else None
    if service is None or type(service).__name__ != PLUGINS[kind]:
        return None
    service.socket_read_timeout = service.socket_connect_timeout = settings.ALERT_WEBHOOK_TIMEOUT
    return service


def webhook_url_check(*, kind: str, url: str) -> None:
    """Refuse a URL that is not a webhook of its kind, naming the field (the message never repeats the URL)."""
    if kind not in PLUGINS:
        raise ApplicationError(f"kind must be one of {', '.join(PLUGINS)}.", "kind")
    if not isinstance(url, str) or not re.match(r"^https?://", url) or _apprise_service(kind, url) is None:
        raise ApplicationError(f"url is not a {Webhook.Kind(kind).label}: expected {EXAMPLES[kind]}.", "url")


def webhook_send(*, webhook: Webhook, event: str, subject: str, body: str) -> None:
    service = _apprise_service(webhook.kind, webhook.url)
    if service is None:
        raise DeliveryError(f"the webhook's URL is not a {webhook.get_kind_display()} URL any more")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        delivered = service.notify(body=body, title=subject, notify_type=NOTIFY_TYPES.get(event))
    if not delivered:
        reason = " ".join(logs.getvalue().split()) or "the webhook did not accept the message"
        raise DeliveryError(scrub(reason, webhook.url)[:500])


def email_send(*, recipients: list[str], subject: str, body: str) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from exc
