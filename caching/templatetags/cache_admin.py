"""Formatting for the caching admin pages: money and rates as people read them (the figures come from selectors)."""

import datetime as dt

from django import template

from pricing.costs import percent, usd

register = template.Library()


@register.filter(name="usd")
def usd_filter(value):
    """`"0.008250"` → `$0.0083`; empty for no value."""
    if value in (None, ""):
        return ""
    return usd(value)


@register.filter(name="percent")
def percent_filter(value):
    """A fraction in [0, 1] → `66.7%`."""
    if value in (None, ""):
        return ""
    return percent(value)


@register.filter
def tokens(value):
    """`12345` → `12,345`."""
    if value in (None, ""):
        return ""
    return f"{int(value):,}"


@register.filter
def iso_datetime(value):
    """An ISO 8601 string from the stats JSON → `2026-11-22 21:08 UTC`."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
