"""The totals engine: cache figures summed over any tenants, agents and days, from rollups and live rows.

What counts (which invocations, which figures) is `caching.sums`.

Closed days come from daily rollups, and closed hours of recent days from
hourly rollups, when `caching.rollups` says they are fresh; everything else
(normally the current hour) from the invocations. Family and model labels follow the
agent's current model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from agents_app.models import Invocation
from caching import histograms, rollups
from caching.models import DailyCacheRollup, DailyKeyRollup, HourlyCacheRollup
from caching.periods import ONE_DAY, ONE_HOUR, UTC, day_ranges, day_start, hour_start
from caching.settled import Settled, rollups_versions, settled_get, settled_put
from caching.sums import ATTEMPT_FIELDS, FIGURE_FIELDS, MISS_REASON_FIELDS, summed
from pricing.costs import ratio, spend, total_input_tokens

TIMING_FIELDS = frozenset(histograms.FIELDS)


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


def grouped_cache_totals(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    keys: tuple[str, ...] = ("day",),
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
    metrics: bool = False,
    keep: bool = False,
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
        keep=keep,
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
    keep: bool = False,
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

    `keep` keeps the markers and the rollup sums of one tenant's read in the
    process, under the tenant's rollups versions (`caching.settled`): asked
    again before its rollups change, the read costs the versions, the walk for
    late arrivals and the live invocations; after an hour's first rollup, the
    markers and that hour's rollup rows too.
    """
    now = timezone.now()
    today = today or now.astimezone(UTC).date()
    tenant_from = {t: first for t, first in tenant_from.items() if first <= day_to}
    if not tenant_from:
        return [{} for _ in groupings]
    # Daily rollups cannot split a day into hours: a grouping by hour reads hourly rollups and invocations.
    by_hour = any("hour" in keys for keys in groupings)
    end = day_start(day_to + ONE_DAY)
    # A tenant's by-day figures of a closed day are its day marker's (one row a day, whatever its agents).
    tenant_days = agent_id is None and not metrics and ("day",) in groupings
    freshness, settled, keep_as = rollups.RollupFreshness(), Settled(rollups.RollupMarkers()), None
    if use_rollups:
        hours_to = min(hour_start(now), end)
        question, versions = None, None
        if keep and len(tenant_from) == 1 and not metrics:
            versions = rollups_versions(*tenant_from)
            # Not the current hour: an hour gets its marker only from a rollup write, a new version, so the
            # markers kept under this one are all there are up to any later hour (the hour just closed is read
            # live, as without them, until the refresh rolls it up).
            question = (*tenant_from.items(), day_to, today, agent_id, tuple(groupings), tuple(ranges or ()))
        found = settled_get(question) if question else None
        if found and found.versions == versions:
            settled = found
        else:
            markers = rollups.rollup_markers(
                tenant_from=tenant_from, day_to=min(day_to, today - ONE_DAY), hours_to=hours_to, figures=tenant_days
            )
            settled, keep_as = Settled(markers, versions), question
            if found and versions and found.versions[1] == versions[1]:  # only new hours rolled up since
                settled = found.extended(markers, versions)
        late = rollups.late_arrivals(settled.markers, agent_id)
        freshness = rollups.freshness_of(settled.markers, late)
        if late:  # kept sums cover spans now stale: read them anew, and keep nothing
            settled, keep_as = Settled(settled.markers), None

    hourly_q, live_q = Q(), Q()
    live_spans: list[Span] = []
    daily_of: dict[int, tuple[Q, set[dt.date]]] = {}
    hours_unread: set[tuple[int, dt.datetime]] = set()
    for t, first in tenant_from.items():
        # One agent (of tenant t, as the caller checked): its own index (agent, day / queued_at) serves best.
        owner = Q(agent_id=agent_id) if agent_id is not None else Q(tenant_id=t)
        fresh_days = set() if by_hour else freshness.fresh.get(t, set())
        fresh_hours = freshness.fresh_hours.get(t, ())
        fresh_hours = [h for h in fresh_hours if h.astimezone(UTC).date() not in fresh_days]
        daily_of[t] = (owner, fresh_days)
        hour_spans = _merged([(h, h + ONE_HOUR) for h in fresh_hours])
        # Kept rows serve the hours they were read for; the others (all, unless kept) are read now.
        unread = [h for h in fresh_hours if (t, h) not in settled.hours_read]
        if unread:
            hourly_q |= _spans_q(owner, _merged([(h, h + ONE_HOUR) for h in unread]), "hour__gte", "hour__lt")
            hours_unread.update((t, h) for h in unread)
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
    if hourly_q:
        settled.hourly_rows = settled.hourly_rows + summed(HourlyCacheRollup, hourly_q, needed, metrics)
        settled.hours_read = settled.hours_read | hours_unread
    fine_rows = list(settled.hourly_rows)
    if live_q:
        live_days = _days_of(live_spans)
        live_day = next(iter(live_days)) if len(live_days) == 1 else None
        sql_keys = tuple(k for k in needed if k != "day" or live_day is None)
        live_rows = summed(Invocation, live_q, sql_keys, metrics)
        fine_rows += [{**row, "day": live_day} for row in live_rows] if live_day is not None else live_rows

    # By API key: the per-key rollup, the same days under the same rule (`caching.key_rollups`). Summed over
    # keys it is the per-agent rollup, so groupings by agent and by key over the same days (a tenant read asks
    # for both) share one read of it, summed by both: agents x keys rows, regrouped below.
    undated: dict[tuple | None, set[str]] = {}
    for keys, span in zip(groupings, ranges, strict=True):
        if "day" not in keys and "hour" not in keys:
            undated.setdefault(span, set()).update(keys or ("agent_id",))
    daily_reads = settled.daily_reads

    def daily_rows(keys: tuple[str, ...], span: tuple | None) -> list[dict]:
        if tenant_days and keys == ("day",):
            if ("markers", span) not in daily_reads:
                rows = []
                for t, (_, fresh_days) in daily_of.items():
                    for day in fresh_days:
                        figures = freshness.day_figures[t, day]
                        # A day without invocations has no row, as in the daily rollup.
                        if (span is None or span[0] <= day <= span[1]) and any(figures.values()):
                            rows.append({"day": day, **figures})
                daily_reads["markers", span] = rows
            return daily_reads["markers", span]
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
            daily_reads[daily, keys, span] = summed(daily, daily_q, keys, metrics) if daily_q else []
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
    if keep_as:
        settled_put(keep_as, settled)
    return answers
