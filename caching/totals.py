"""The totals engine: cache figures summed over any tenants, agents and days, from rollups and live rows.

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

Closed days come from daily rollups, and closed hours of recent days from
hourly rollups, when `caching.rollups` says they are fresh; everything else
(normally the current hour) from the invocations. Family and model labels follow the
agent's current model.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents_app.models import Invocation
from bedrock import misses
from caching import histograms, rollups
from caching.models import DailyCacheRollup, DailyKeyRollup, HourlyCacheRollup
from caching.periods import ONE_DAY, ONE_HOUR, UTC, day_ranges, day_start, hour_start
from pricing.costs import MONEY_FIELDS, TOKEN_FIELDS, ratio, spend, total_input_tokens

TIMING_FIELDS = frozenset(histograms.FIELDS)
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


def rollup_sums() -> dict:
    return {name: Sum(name) for name in SUM_FIELDS}


def _fields(metrics: bool) -> tuple[str, ...]:
    return SUM_FIELDS if metrics else FIGURE_FIELDS


@dataclass
class CacheTotals:
    total_invocations: int = 0
    failed_invocations: int = 0
    caching_enabled_invocations: int = 0
    cache_hits: int = 0
    no_cache_activity_invocations: int = 0
    miss_reason_hit: int = 0
    miss_reason_growth: int = 0
    miss_reason_first_use: int = 0
    miss_reason_ttl_expired: int = 0
    miss_reason_prefix_changed: int = 0
    miss_reason_below_minimum: int = 0
    miss_reason_lookback_exceeded: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_with_cache: Decimal = Decimal(0)
    cost_without_cache: Decimal = Decimal(0)
    gross_savings: Decimal = Decimal(0)
    write_premium: Decimal = Decimal(0)
    net_savings: Decimal = Decimal(0)
    output_cost: Decimal = Decimal(0)
    attempts: int = 0
    retried_attempts: int = 0
    lost_attempts: int = 0
    # The timing histograms' columns (`caching.histograms.FIELDS`) by name; those still 0 are left out.
    timings: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> CacheTotals:
        totals = cls()
        totals.add_row(row)
        return totals

    # Adding runs a few thousand times a request (rows into groups, days into periods): straight through the
    # instance's dict, not setattr/getattr per figure.
    def add_row(self, row: dict) -> None:
        """Add a summed row (a dict by `SUM_FIELDS` names; its `METRIC_FIELDS` only if it has them)."""
        figures = self.__dict__
        for name in FIGURE_FIELDS:
            value = row[name]
            if value:
                figures[name] += value
        if "attempts" in row:
            for name in ATTEMPT_FIELDS:
                figures[name] += row[name] or 0
            self._add_timings(row)

    def add(self, other: CacheTotals) -> None:
        figures, others = self.__dict__, other.__dict__
        for name in FIGURE_FIELDS + ATTEMPT_FIELDS:
            figures[name] += others[name]
        if other.timings:
            self._add_timings(other.timings)

    def _add_timings(self, values: dict) -> None:
        timings = self.timings
        for name in histograms.FIELDS:
            value = values.get(name)
            if value:
                timings[name] = timings.get(name, 0) + value

    def value(self, name: str):
        """A summed figure by its `SUM_FIELDS` name (the timing histograms' columns are kept in `timings`)."""
        return self.timings.get(name, 0) if name in TIMING_FIELDS else getattr(self, name)

    def histogram(self, name: str) -> tuple[list[tuple[float, int]], int, float]:
        """(cumulative count per bucket bound, count, sum in seconds) of a timing histogram ("duration", ...)."""
        return histograms.histogram_values(self.timings, name)

    @classmethod
    def total(cls, items: Iterable[CacheTotals]) -> CacheTotals:
        result = cls()
        for item in items:
            result.add(item)
        return result

    @property
    def miss_reasons(self) -> dict[str, int]:
        return {reason: getattr(self, name) for reason, name in MISS_REASON_FIELDS.items()}

    @property
    def total_input_tokens(self) -> int:
        return total_input_tokens(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)

    @property
    def hit_rate(self) -> float:
        return ratio(self.cache_hits, self.caching_enabled_invocations)

    @property
    def spend(self) -> Decimal:
        return spend(self.cost_with_cache, self.output_cost)

    @property
    def efficiency_ratio(self) -> float:
        return ratio(self.cache_read_tokens, self.total_input_tokens)


Span = tuple[dt.datetime, dt.datetime]  # [start, end)


def _spans_q(owner: Q, spans: list[tuple], low: str, high: str) -> Q:
    """`owner` and a value of `low`/`high` lookups in any of the spans."""
    either = Q()
    for first, last in spans:
        either |= Q(**{low: first, high: last})
    return owner & either


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[list[dt.datetime]] = []
    for start, end in sorted(spans):
        if merged and merged[-1][1] >= start:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _gaps(covered: list[Span], start: dt.datetime, end: dt.datetime) -> list[Span]:
    """The parts of [start, end) outside the (merged) `covered` spans."""
    gaps, cursor = [], start
    for first, last in covered:
        if first > cursor:
            gaps.append((cursor, min(first, end)))
        cursor = max(cursor, last)
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if a < b]


def _days_of(spans: list[Span]) -> set[dt.date]:
    days = set()
    for start, end in spans:
        day = start.astimezone(UTC).date()
        while day_start(day) < end:
            days.add(day)
            day += ONE_DAY
    return days


# Summing statements are written once per process, and a request compiles only its filter: the ORM would
# compile twenty-odd aggregates anew each time, which costs more than running the query over a day's rollup
# rows or an hour's invocations. The values are converted here a column at a time, as the ORM would convert
# them: its generic per-value converters cost more than the query too. (`vendor` keys the caches: each
# database writes its statements its own way.)


@functools.cache
def _invocation_statement(keys: tuple[str, ...], fields: tuple[str, ...], vendor: str) -> tuple:
    """(SELECT ... WHERE, its params, GROUP BY ..., its params, the columns' names) of invocations summed by
    `keys` as rollups sum them (`invocation_sums`), compiled by the ORM once, without a filter."""
    rows = Invocation.objects.all()
    if "day" in keys:
        rows = rows.annotate(day=TruncDate("queued_at", tzinfo=UTC))
    if "hour" in keys:
        rows = rows.annotate(hour=TruncHour("queued_at", tzinfo=UTC))
    # In `invocation_sums`' order, which matters: see "attempts" there.
    sums = {name: sum_ for name, sum_ in invocation_sums().items() if name in fields}
    sql, params = rows.values(*keys).annotate(**sums).order_by().query.get_compiler(DEFAULT_DB_ALIAS).as_sql()
    select, _, grouping = sql.rpartition(" GROUP BY ")  # unfiltered: the request's filter goes before it
    tail = f" GROUP BY {grouping}"
    split = len(params) - tail.count("%s")
    return f"{select} WHERE ", tuple(params[:split]), tail, tuple(params[split:]), (*keys, *sums)


@functools.cache
def _rollup_statement(model: type, keys: tuple[str, ...], fields: tuple[str, ...], vendor: str) -> tuple:
    """The same for a rollup table: plain sums of plain columns, written here."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table = quote(model._meta.db_table)
    keyed = [f"{table}.{quote(model._meta.get_field(k).column)}" for k in keys]
    sums = [f"SUM({table}.{quote(model._meta.get_field(f).column)})" for f in fields]
    head = f"SELECT {', '.join(keyed + sums)} FROM {table} WHERE "
    return head, (), f" GROUP BY {', '.join(keyed)}", (), (*keys, *fields)


def _summed(model: type, where: Q, keys: tuple[str, ...], metrics: bool) -> list[dict]:
    """The rows of `model` (invocations or a rollup) matching `where`, summed by `keys` (none: by agent, for
    the caller to add up), as the ORM would return them."""
    keys, fields = keys or ("agent_id",), _fields(metrics)
    connection = connections[DEFAULT_DB_ALIAS]
    if model is Invocation:
        head, head_params, tail, tail_params, names = _invocation_statement(keys, fields, connection.vendor)
    else:
        head, head_params, tail, tail_params, names = _rollup_statement(model, keys, fields, connection.vendor)
    filtered = model.objects.filter(where).query
    where_sql, where_params = filtered.get_compiler(connection=connection).compile(filtered.where)
    # Invocations' sums and keys come back as the hourly rollup's columns of the same names would.
    conversions = _conversions(HourlyCacheRollup if model is Invocation else model, names, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(head + where_sql + tail, (*head_params, *where_params, *tail_params))
        rows = cursor.fetchall()
    result = []
    for row in rows:
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


def grouped_cache_totals(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    keys: tuple[str, ...] = ("day",),
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
    metrics: bool = False,
) -> dict[tuple, CacheTotals]:
    """Totals grouped by `keys` (any of "agent_id", "api_key_id", "day", "hour", or none) per tenant from its
    day to `day_to`."""
    (grouped,) = grouped_cache_totals_many(
        tenant_from=tenant_from,
        day_to=day_to,
        groupings=[keys],
        agent_id=agent_id,
        today=today,
        use_rollups=use_rollups,
        metrics=metrics,
    )
    return grouped


def grouped_cache_totals_many(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    groupings: list[tuple[str, ...]],
    ranges: list[tuple[dt.date, dt.date] | None] | None = None,
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
    metrics: bool = False,
) -> list[dict[tuple, CacheTotals]]:
    """The same totals grouped several ways (by day, by agent, not at all...), one dict per grouping.

    The attempts and the timing histograms' columns are summed only with `metrics` (`/metrics`).

    `ranges` narrows a grouping to the days (first, last) of its own (None:
    the whole range), so a page that wants two ranges reads once.

    `agent_id` must be an agent of the (one) tenant in `tenant_from`: the
    public reads (`caching.stats`) check that before they call.
    A fresh daily rollup serves its day; else a fresh hourly rollup serves its
    hour; the rest (the current hour, what is stale or never rolled up) is
    summed from the invocations. Three queries tell settled spans from live
    ones (day markers, hour markers, late arrivals), one sums the live
    invocations, and per grouping one sums the daily rollups and one the hourly
    ones, whatever the range: the database does the summing, Python merges a
    few rows. `use_rollups=False` reads invocations only (the reference answer
    the rollup path must equal).
    """
    now = timezone.now()
    today = today or now.astimezone(UTC).date()
    tenant_from = {t: first for t, first in tenant_from.items() if first <= day_to}
    if not tenant_from:
        return [{} for _ in groupings]
    # Daily rollups cannot split a day into hours: a grouping by hour reads hourly rollups and invocations.
    by_hour = any("hour" in keys for keys in groupings)
    end = day_start(day_to + ONE_DAY)
    freshness = rollups.RollupFreshness()
    if use_rollups:
        freshness = rollups.rollup_freshness(
            tenant_from=tenant_from,
            day_to=min(day_to, today - ONE_DAY),
            agent_id=agent_id,
            hours_to=min(hour_start(now), end),
        )

    hourly_q, live_q = Q(), Q()
    live_spans: list[Span] = []
    daily_of: dict[int, tuple[Q, set[dt.date]]] = {}
    for t, first in tenant_from.items():
        # One agent (of tenant t, as the caller checked): its own index (agent, day / queued_at) serves best.
        owner = Q(agent_id=agent_id) if agent_id is not None else Q(tenant_id=t)
        fresh_days = set() if by_hour else freshness.fresh.get(t, set())
        fresh_hours = freshness.fresh_hours.get(t, ())
        fresh_hours = [h for h in fresh_hours if h.astimezone(UTC).date() not in fresh_days]
        daily_of[t] = (owner, fresh_days)
        hour_spans = _merged([(h, h + ONE_HOUR) for h in fresh_hours])
        if hour_spans:
            hourly_q |= _spans_q(owner, hour_spans, "hour__gte", "hour__lt")
        covered = _merged(hour_spans + [(day_start(d), day_start(d + ONE_DAY)) for d in fresh_days])
        gaps = _gaps(covered, day_start(first), end)
        if gaps:
            live_q |= _spans_q(owner, gaps, "queued_at__gte", "queued_at__lt")
            live_spans += gaps

    # Live and hourly rows are summed once each, by every key any grouping needs (agents x a day or two: a
    # few rows), and regrouped here. Usually the only live span is the current hour: its day is then known,
    # not computed for every row.
    ranges = ranges or [None] * len(groupings)
    needed = tuple(
        k
        for k in ("agent_id", "api_key_id", "day", "hour")
        if any(k in keys for keys in groupings) or (k == "day" and any(ranges))
    )
    fine_rows: list[dict] = _summed(HourlyCacheRollup, hourly_q, needed, metrics) if hourly_q else []
    if live_q:
        live_days = _days_of(live_spans)
        live_day = next(iter(live_days)) if len(live_days) == 1 else None
        sql_keys = tuple(k for k in needed if k != "day" or live_day is None)
        live_rows = _summed(Invocation, live_q, sql_keys, metrics)
        fine_rows += [{**row, "day": live_day} for row in live_rows] if live_day is not None else live_rows

    # By API key: the per-key rollup, the same days under the same rule (`caching.key_rollups`). Summed over
    # keys it is the per-agent rollup, so groupings by agent and by key over the same days (a tenant read asks
    # for both) share one read of it, summed by both: agents x keys rows, regrouped below.
    undated: dict[tuple | None, set[str]] = {}
    for keys, span in zip(groupings, ranges, strict=True):
        if "day" not in keys and "hour" not in keys:
            undated.setdefault(span, set()).update(keys or ("agent_id",))
    daily_reads: dict[tuple, list[dict]] = {}

    def daily_rows(keys: tuple[str, ...], span: tuple | None) -> list[dict]:
        shared = undated.get(span, set())
        if "api_key_id" in shared and len(shared) > 1 and set(keys) <= shared:
            daily, keys = DailyKeyRollup, tuple(k for k in ("agent_id", "api_key_id") if k in shared)
        else:
            daily = DailyKeyRollup if "api_key_id" in keys else DailyCacheRollup
        if (daily, keys, span) not in daily_reads:
            daily_q = Q()
            for owner, fresh_days in daily_of.values():
                days = [d for d in fresh_days if span is None or span[0] <= d <= span[1]]
                if days:
                    daily_q |= _spans_q(owner, day_ranges(days), "day__gte", "day__lte")
            daily_reads[daily, keys, span] = _summed(daily, daily_q, keys, metrics) if daily_q else []
        return daily_reads[daily, keys, span]

    answers = []
    for keys, span in zip(groupings, ranges, strict=True):
        results: dict[tuple, CacheTotals] = {}
        in_span = [row for row in fine_rows if span is None or span[0] <= row["day"] <= span[1]]
        for row in daily_rows(keys, span) + in_span:
            key = tuple(row[k] for k in keys)
            if key in results:
                results[key].add_row(row)
            else:
                results[key] = CacheTotals.from_row(row)
        answers.append(results)
    return answers
