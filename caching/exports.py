"""CSV exports: an agent's invocations and sessions over a period, and a stored report as one table.

The functions return rows (the header first); the API streams them and the
report mail attaches them. CSV is an output format, so values are written here:
money as `pricing.costs.money` strings (a row's six figures by `money_figures`,
so they add up as written), times in ISO 8601 (UTC), None as empty,
and text that a spreadsheet would run as a formula behind an apostrophe.
The tenant and agent are checked when a function is called, not when its rows
are first read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from agent_platform.models import Tenant
from agents_app.models import Agent
from caching.models import CacheReport
from caching.periods import UTC, Period
from caching.serializers import session_json
from caching.sessions import agent_period_sessions, period_invocations
from pricing.costs import MONEY_FIELDS, money, money_figures

INVOCATION_CSV_FIELDS = (
    "id",
    "session__session_id",
    "status",
    "queued_at",
    "started_at",
    "finished_at",
    "model_id",
    "caching_enabled",
    "cache_hit",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    *MONEY_FIELDS,
)
SESSION_CSV_FIELDS = (
    "session_id",
    "invocations",
    "failed_invocations",
    "first_invoked_at",
    "last_invoked_at",
    "first_write_tokens",
    "later_read_tokens",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cached_tokens",
    "uncached_tokens",
    "efficiency_ratio",
    "cache_hits",
    "net_savings",
    "cache_expirations",
    "cache_expired",
    "max_idle_seconds",
)
REPORT_CSV_FIELDS = (
    "total_invocations",
    "failed_invocations",
    "caching_enabled_invocations",
    "cache_hits",
    "hit_rate",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "efficiency_ratio",
    *MONEY_FIELDS,
)


# A spreadsheet opening the file runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_text(text: str) -> str:
    """Text as a spreadsheet shows it and never runs it: a leading apostrophe (hidden by spreadsheets, readable
    elsewhere) before a would-be formula. A plain number such as a negative amount is left a number."""
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_value(value):
    """One cell of every CSV the service writes."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat()
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_text(value)
    return value


def invocation_csv_rows(*, tenant: Tenant, agent: Agent, period: Period) -> Iterator[list]:
    """The header, then every invocation of the agent in the period, oldest first, read in chunks."""
    rows = period_invocations(tenant=tenant, agent=agent, period=period)
    rows = rows.order_by("queued_at", "id").values(*INVOCATION_CSV_FIELDS)
    header = ["session_id" if name == "session__session_id" else name for name in INVOCATION_CSV_FIELDS]
    return _with_header(header, (_invocation_row(row) for row in rows.iterator(chunk_size=2000)))


def _invocation_row(row: dict) -> list:
    """One invocation's cells; its money rounded once and derived, so the row adds up as written."""
    row.update(money_figures(row))
    return [csv_value(row[name]) for name in INVOCATION_CSV_FIELDS]


def session_csv_rows(*, tenant: Tenant, agent: Agent, period: Period) -> Iterator[list]:
    """The header, then one row per session active in the period (figures over the period's invocations)."""
    summaries = agent_period_sessions(tenant=tenant, agent=agent, period=period)
    rows = ([csv_value(data[name]) for name in SESSION_CSV_FIELDS] for data in map(session_json, summaries))
    return _with_header(list(SESSION_CSV_FIELDS), rows)


def _with_header(header: list, rows: Iterable[list]) -> Iterator[list]:
    yield header
    yield from rows


def cache_report_csv_rows(report: CacheReport) -> Iterator[list]:
    """A report as one table: the total, then one row per day, per model family and per agent."""
    stats = report.stats
    yield ["section", "key", "name", *REPORT_CSV_FIELDS]

    def row(section, key, name, data):
        return [csv_value(cell) for cell in (section, key, name, *(data.get(f) for f in REPORT_CSV_FIELDS))]

    yield row("total", f"{report.period_start}..{report.period_end}", report.tenant.name, stats)
    for day in stats.get("by_day", []):
        yield row("day", day["day"], "", day)
    for family in stats.get("by_family", []):
        yield row("family", family["family"], family["name"], family)
    for item in stats.get("agents", stats.get("top_agents", [])):
        yield row("agent", item["agent"]["id"], item["agent"]["name"], item)


def cache_report_csv(report: CacheReport) -> str:
    """The report's table as one CSV text (the mail's attachment)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(cache_report_csv_rows(report))
    return buffer.getvalue()
