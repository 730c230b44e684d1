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

Closed days come from rollups when `caching.rollups` says they are fresh,
everything else from the invocations. Family and model labels follow the
agent's current model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncHour

from agents_app.models import Invocation
from bedrock import misses
from caching import histograms, rollups
from caching.models import DailyCacheRollup, DailyKeyRollup
from caching.periods import ONE_DAY, UTC, day_ranges, day_start, days_between, utc_today
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
SUM_FIELDS = COUNT_FIELDS + TOKEN_FIELDS + MONEY_FIELDS + ATTEMPT_FIELDS + histograms.FIELDS


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

    def add_row(self, row: dict) -> None:
        for name in SUM_FIELDS:
            value = row.get(name)
            if value:
                self._add(name, value)

    def add(self, other: CacheTotals) -> None:
        for name in SUM_FIELDS:
            value = other.timings.get(name, 0) if name in TIMING_FIELDS else getattr(other, name)
            if value:
                self._add(name, value)

    def _add(self, name: str, value) -> None:
        if name in TIMING_FIELDS:
            self.timings[name] = self.timings.get(name, 0) + value
        else:
            setattr(self, name, getattr(self, name) + value)

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


def _ranges_q(owner: Q, ranges: list[tuple[dt.date, dt.date]], *, on_days: bool) -> Q:
    spans = Q()
    for first, last in ranges:
        if on_days:
            spans |= Q(day__gte=first, day__lte=last)
        else:
            spans |= Q(queued_at__gte=day_start(first), queued_at__lt=day_start(last + ONE_DAY))
    return owner & spans


def grouped_cache_totals(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    keys: tuple[str, ...] = ("day",),
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> dict[tuple, CacheTotals]:
    """Totals grouped by `keys` (any of "agent_id", "api_key_id", "day", "hour") per tenant from its day to `day_to`."""
    (grouped,) = grouped_cache_totals_many(
        tenant_from=tenant_from,
        day_to=day_to,
        groupings=[keys],
        agent_id=agent_id,
        today=today,
        use_rollups=use_rollups,
    )
    return grouped


def grouped_cache_totals_many(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    groupings: list[tuple[str, ...]],
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> list[dict[tuple, CacheTotals]]:
    """The same totals grouped several ways (by day, by agent...), one dict per grouping.

    `agent_id` must be an agent of the (one) tenant in `tenant_from`: the
    public reads (`caching.stats`) check that before they call.
    Two queries to tell settled days from live ones (rollup markers, late
    arrivals), one over the live invocations, and one over the rollup rows per
    grouping, whatever the range: the database does the summing, Python merges
    a few rows.
    `use_rollups=False` reads invocations only (the reference answer the rollup
    path must equal).
    """
    today = today or utc_today()
    tenant_from = {t: first for t, first in tenant_from.items() if first <= day_to}
    if not tenant_from:
        return [{} for _ in groupings]
    fresh = {}
    # "hour" (the UTC hour a row was queued in): daily rollups cannot split a day, so those read live rows.
    hourly = any("hour" in keys for keys in groupings)
    if use_rollups and not hourly:
        closed_to = min(day_to, today - ONE_DAY)
        fresh = rollups.rollup_freshness(tenant_from=tenant_from, day_to=closed_to, agent_id=agent_id).fresh

    rollup_q = Q()
    live_q = Q()
    live_days_all: set[dt.date] = set()
    for t, first in tenant_from.items():
        # One agent (of tenant t, as the caller checked): its own index (agent, day / queued_at) serves best.
        owner = Q(agent_id=agent_id) if agent_id is not None else Q(tenant_id=t)
        fresh_days = fresh.get(t, set())
        if fresh_days:
            rollup_q |= _ranges_q(owner, day_ranges(fresh_days), on_days=True)
        live_days = [day for day in days_between(first, day_to) if day not in fresh_days]
        if live_days:
            live_q |= _ranges_q(owner, day_ranges(live_days), on_days=False)
            live_days_all.update(live_days)
    rollup_rows_of = DailyCacheRollup.objects.filter(rollup_q) if rollup_q else None
    # By API key: the per-key rollup, the same days under the same rule (`caching.key_rollups`).
    key_rows_of = DailyKeyRollup.objects.filter(rollup_q) if rollup_q else None
    live = Invocation.objects.filter(live_q) if live_q else None

    # Live rows are summed once, by every key any grouping needs (agents x live days: a few rows), and
    # regrouped here. Usually the only live day is today: its day is then known, not computed for every row.
    live_rows: list[dict] = []
    if live is not None:
        live_day = next(iter(live_days_all)) if len(live_days_all) == 1 else None
        needed = [k for k in ("agent_id", "api_key_id", "day", "hour") if any(k in keys for keys in groupings)]
        sql_keys = [k for k in needed if k != "day" or live_day is None]
        if "day" in sql_keys:
            live = live.annotate(day=TruncDate("queued_at", tzinfo=UTC))
        if "hour" in sql_keys:
            live = live.annotate(hour=TruncHour("queued_at", tzinfo=UTC))
        if sql_keys:
            live_rows = list(live.values(*sql_keys).annotate(**invocation_sums()).order_by())
        else:  # (`values()` without names would group by every column)
            live_rows = [live.aggregate(**invocation_sums())]
        if live_day is not None:
            live_rows = [{**row, "day": live_day} for row in live_rows]

    answers = []
    for keys in groupings:
        results: dict[tuple, CacheTotals] = {}
        source = key_rows_of if "api_key_id" in keys else rollup_rows_of
        rollup_rows = source.values(*keys).annotate(**rollup_sums()).order_by() if source is not None else []
        for rows in (rollup_rows, live_rows):
            for row in rows:
                key = tuple(row[k] for k in keys)
                if key in results:
                    results[key].add_row(row)
                else:
                    results[key] = CacheTotals.from_row(row)
        answers.append(results)
    return answers
