"""What a rollup row sums, and the reads that sum invocations and rollup rows by any keys.

What counts
-----------
- The day of an invocation is the UTC date of its `queued_at` (when it was
  asked for, which never changes; `finished_at` is unset while it runs).
- Tokens, money, `total_invocations`, `caching_enabled_invocations` and
  `cache_hits` count **succeeded** invocations only. Failed ones are counted in
  `failed_invocations` and nowhere else; queued and running ones are not
  counted until they finish. A session's figures follow the same rule
  (`agents_app.sessions`).
- Attempts (`attempts`, `retried_attempts`, `lost_attempts`) and the queue-wait
  histogram count every **finished** invocation, succeeded or failed; the
  duration histogram counts succeeded ones (`caching.histograms`).
- Money is the sum of the per-invocation Decimal figures stored with the prices
  in force when each ran (never recomputed with today's prices), written as USD
  decimal strings with exactly 6 places, rounded half-even (`pricing.costs.money`).
  Sums are exact on PostgreSQL; SQLite sums decimals as doubles, whose error
  stays far below 1e-6 for any realistic total.
- Rates (`hit_rate`, `efficiency_ratio`) are fractions in [0, 1] rounded to
  6 places, 0 when there is nothing to divide (`pricing.costs.ratio`).

The sums are read by `caching.totals`, which decides which spans come from which rollup.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils.dateparse import parse_datetime

from agents_app.models import Invocation
from bedrock import misses
from caching import histograms
from caching.models import HourlyCacheRollup
from caching.periods import UTC
from caching.statements import Statement, unfiltered
from pricing.costs import MONEY_FIELDS, TOKEN_FIELDS

SUCCEEDED = Invocation.Status.SUCCEEDED
FAILED = Invocation.Status.FAILED
OPEN = (Invocation.Status.QUEUED, Invocation.Status.RUNNING)

# Succeeded invocations by why they wrote the cache instead of reading it (`bedrock.misses`).
MISS_REASON_FIELDS = {reason: f"miss_reason_{reason}" for reason in misses.REASONS}
COUNT_FIELDS = (
    "total_invocations",
    "failed_invocations",
    "caching_enabled_invocations",
    "cache_hits",
    "no_cache_activity_invocations",
    *MISS_REASON_FIELDS.values(),
)
# Attempts at the model calls of finished invocations (succeeded or failed): all of them, those that failed
# and were tried again (every attempt but an invocation's last), and those lost with a dead worker.
ATTEMPT_FIELDS = ("attempts", "retried_attempts", "lost_attempts")
# What the cache stats, reports, trends and alerts show. The attempts and the timing histograms' columns only
# `/metrics` reads, so the reads leave them out unless asked (`metrics=True`): half the columns to sum,
# convert and add.
FIGURE_FIELDS = COUNT_FIELDS + TOKEN_FIELDS + MONEY_FIELDS
METRIC_FIELDS = ATTEMPT_FIELDS + histograms.FIELDS
SUM_FIELDS = FIGURE_FIELDS + METRIC_FIELDS


def invocation_sums() -> dict:
    """The aggregates a rollup row stores, over invocations (see the module docstring for what counts)."""
    ok = Q(status=SUCCEEDED)
    enabled = ok & Q(caching_enabled=True)
    finished = Q(status__in=(SUCCEEDED, FAILED))
    return {
        "total_invocations": Count("pk", filter=ok),
        "failed_invocations": Count("pk", filter=Q(status=FAILED)),
        "caching_enabled_invocations": Count("pk", filter=enabled),
        "cache_hits": Count("pk", filter=ok & Q(cache_hit=True)),
        "no_cache_activity_invocations": Count("pk", filter=enabled & Q(cache_read_tokens=0, cache_write_tokens=0)),
        **{name: Count("pk", filter=ok & Q(cache_miss_reason=reason)) for reason, name in MISS_REASON_FIELDS.items()},
        **{name: Sum(name, filter=ok) for name in TOKEN_FIELDS + MONEY_FIELDS},
        # Before "attempts": once an aggregate takes that name, `attempts` means the aggregate, not the column.
        "retried_attempts": Sum(F("attempts") - 1, filter=finished & Q(attempts__gt=0)),
        "attempts": Sum("attempts", filter=finished),
        "lost_attempts": Sum("lost_attempts", filter=finished),
        **histograms.histogram_sums({"duration": ok, "queue_wait": finished}),
    }


def fields_summed(metrics: bool) -> tuple[str, ...]:
    return SUM_FIELDS if metrics else FIGURE_FIELDS


# Summing statements are compiled once per process (`caching.statements`). The values are converted here a
# column at a time, as the ORM would convert them: its generic per-value converters cost more than the query.
# (`vendor` keys the caches: each database writes its statements its own way.)


@functools.cache
def _invocation_statement(keys: tuple[str, ...], fields: tuple[str, ...], vendor: str) -> tuple[Statement, tuple]:
    """Invocations summed by `keys` as rollups sum them (`invocation_sums`), and the columns' names."""
    rows = Invocation.objects.all()
    if "day" in keys:
        rows = rows.annotate(day=TruncDate("queued_at", tzinfo=UTC))
    if "hour" in keys:
        rows = rows.annotate(hour=TruncHour("queued_at", tzinfo=UTC))
    # In `invocation_sums`' order, which matters: see "attempts" there.
    sums = {name: sum_ for name, sum_ in invocation_sums().items() if name in fields}
    return unfiltered(rows.values(*keys).annotate(**sums).order_by()), (*keys, *sums)


@functools.cache
def _rollup_statement(
    model: type, keys: tuple[str, ...], fields: tuple[str, ...], vendor: str
) -> tuple[Statement, tuple]:
    """The same for a rollup table: plain sums of plain columns, written here."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table = quote(model._meta.db_table)
    keyed = [f"{table}.{quote(model._meta.get_field(k).column)}" for k in keys]
    sums = [f"SUM({table}.{quote(model._meta.get_field(f).column)})" for f in fields]
    head = f"SELECT {', '.join(keyed + sums)} FROM {table} WHERE "
    return Statement(model, head, (), f" GROUP BY {', '.join(keyed)}", ()), (*keys, *fields)


def summed(model: type, where: Q, keys: tuple[str, ...], metrics: bool) -> list[dict]:
    """The rows of `model` (invocations or a rollup) matching `where`, summed by `keys` (none: by agent, for
    the caller to add up), as the ORM would return them."""
    keys, fields = keys or ("agent_id",), fields_summed(metrics)
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if model is Invocation:
        statement, names = _invocation_statement(keys, fields, vendor)
    else:
        statement, names = _rollup_statement(model, keys, fields, vendor)
    # Invocations' sums and keys come back as the hourly rollup's columns of the same names would.
    conversions = _conversions(HourlyCacheRollup if model is Invocation else model, names, vendor)
    result = []
    for row in statement.rows(where):
        values = list(row)
        for i, convert in conversions:
            if values[i] is not None:
                values[i] = convert(values[i])
        result.append(dict(zip(names, values, strict=True)))
    return result


_float_to_decimal = decimal.Context(prec=15).create_decimal_from_float


# SQLite's dates: text, unless the column's declared type made sqlite3 convert them already.
def _sqlite_date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _utc_datetime(value) -> dt.datetime:
    """A UTC time: SQLite's text, or a time without its zone."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@functools.cache
def _conversions(model: type, names: tuple[str, ...], vendor: str) -> list[tuple[int, Callable]]:
    """(column, converter) for the summed columns (and keys) whose database values are not yet what the ORM
    would make of them; the others are taken as they come."""
    conversions = []
    for i, name in enumerate(names):
        convert = _converter(model._meta.get_field(name), vendor)
        if convert is not None:
            conversions.append((i, convert))
    return conversions


def _converter(field, vendor: str) -> Callable | None:
    kind = field.get_internal_type()
    if kind == "ForeignKey":  # as its target: an agent's id is a number, an API key's is text
        return _converter(field.target_field, vendor)
    if vendor == "sqlite":
        # SQLite sums decimals as doubles (the ORM reads them back with 15 digits) and keeps dates as text;
        # its integer sums are integers.
        return {"DecimalField": _float_to_decimal, "DateField": _sqlite_date}.get(
            kind, _utc_datetime if kind == "DateTimeField" else None
        )
    if kind == "DateTimeField":  # an hour truncated in UTC comes back without its zone
        return _utc_datetime
    # PostgreSQL sums bigints as numeric.
    return int if kind.endswith(("IntegerField", "AutoField")) else None
