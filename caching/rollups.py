"""When a rollup can be trusted: the one freshness rule, read by the totals and the rollup writer.

Two grains: closed days in `DailyCacheRollup` (one row per agent and day,
marked by a `CacheRollupDay`) and closed hours of the last few days in
`HourlyCacheRollup` (per agent and hour, marked by a `CacheRollupHour`). A
reader takes a day from its daily rollup when that is fresh, else each closed
hour of it from its hourly rollup when that is fresh, and everything else (the
current hour, anything stale or never rolled up) from the invocations. A rollup
goes stale in two ways, each detected without scanning its invocations:

1. An invocation of its day or hour was still queued or running when it was
   summed: the marker's `open_invocations` is then above 0, and the span is
   read live until a later rollup finds it settled.
2. An invocation of its span arrived after it was summed (backdated imports,
   restores, a row committed late): it has an id above the marker's
   `covers_through_id`, the highest invocation id when it was summed or last
   checked. One query walks the primary key from the lowest watermark in
   range and finds such days and hours. Every refresh (every few minutes,
   `caching.services`) moves each settled marker's watermark up, so the walk
   reads the invocations of those last minutes, not a day's.

A span without a marker (never rolled up) is neither fresh nor stale: readers
read it live, and the refreshes catch up on recent ones. So the answer never
depends on whether or when rollups ran: the test suite checks rollup-based and
raw answers are identical. An invocation's costs and status change only until
it finishes (a finished invocation is never edited; content retention blanks
its prompt and response, not its figures), which is what makes "open at rollup
time" the only status change to watch.

Deleting invocations (not agents: their rollup rows go with them, and their
share of their tenant's day figures, `caching.services.agent_rollups_drop`) is
not detected: run `backfill_rollups` over the days of the deleted invocations
(today's included), which recomputes their daily and hourly rollups. Archiving
a month of invocations (`invocation_partitions --detach`) is no deletion for
reporting: the rollups keep the figures, which is why a month is detached only
once every day of it is rolled up.

`rollup_freshness` is that rule. The reader (`caching.totals`) reads the fresh
spans from rollups and the rest live; the writer (`caching.services`)
recomputes the stale ones. One agent's reader ignores other agents' late
arrivals: its own rollup rows are still right.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max, Q
from django.db.models.functions import TruncHour

from agents_app.models import Invocation
from caching.models import CacheRollupDay, CacheRollupHour
from caching.periods import ONE_DAY, UTC, day_start
from caching.statements import Statement, unfiltered
from caching.sums import FIGURE_FIELDS

MAX_ID = 2**63 - 1


@dataclass
class RollupFreshness:
    """Per tenant id, the rolled-up closed days and hours whose rollups can be trusted, and those gone stale."""

    fresh: dict[int, set[dt.date]] = field(default_factory=dict)
    stale: dict[int, set[dt.date]] = field(default_factory=dict)
    fresh_hours: dict[int, set[dt.datetime]] = field(default_factory=dict)
    stale_hours: dict[int, set[dt.datetime]] = field(default_factory=dict)
    # With `figures`: per (tenant id, day), the fresh day's figures (`FIGURE_FIELDS`), the tenant's whole day.
    day_figures: dict[tuple[int, dt.date], dict] = field(default_factory=dict)


def rollup_freshness(
    *,
    tenant_from: Mapping[int, dt.date | None],
    day_to: dt.date,
    agent_id: int | None = None,
    hours_to: dt.datetime | None = None,
    figures: bool = False,
) -> RollupFreshness:
    """Which rolled-up days from each tenant's day (None: its first) to the closed `day_to`, and with `hours_to`
    which rolled-up hours from that day up to `hours_to` (exclusive, the current hour at most), are fresh or stale.

    With `agent_id`, only that agent's late arrivals make a span stale (its own
    figures are all the caller reads). Three queries at most: the day markers,
    the hour markers, and the walk for late arrivals. With `figures`, the day
    markers' figures come too: the tenants' by-day figures of the fresh days.
    """
    starts = [day for day in tenant_from.values() if day is not None]
    lowest = min(starts) if len(starts) == len(tenant_from) else None
    if not tenant_from:
        return RollupFreshness()
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    clean: dict[tuple[int, dt.date | dt.datetime], int] = {}
    day_figures: dict[tuple[int, dt.date], dict] = {}
    stale: set[tuple[int, dt.date | dt.datetime]] = set()

    def sort(key, open_count, covered):
        if open_count:
            stale.add(key)
        else:
            clean[key] = covered

    # Each read is built with one filter, and compiled once (`caching.statements`): a request reads the
    # markers every time.
    if lowest is None or day_to >= lowest:
        since = Q(day__gte=lowest) if lowest is not None else Q()
        markers = since & Q(tenant_id__in=list(tenant_from), day__lte=day_to)
        fields = FIGURE_FIELDS if figures else ()
        for t, day, open_count, covered, *values in _markers(CacheRollupDay, vendor, fields).converted(markers):
            if tenant_from[t] is None or day >= tenant_from[t]:
                sort((t, day), open_count, covered)
                if fields:
                    day_figures[t, day] = dict(zip(fields, values, strict=True))
    walk_to = day_start(day_to + ONE_DAY)
    if hours_to is not None and (lowest is None or hours_to > day_start(lowest)):
        walk_to = max(walk_to, hours_to)
        since = Q(hour__gte=day_start(lowest)) if lowest is not None else Q()
        markers = since & Q(tenant_id__in=list(tenant_from), hour__lt=hours_to)
        for t, hour, open_count, covered in _markers(CacheRollupHour, vendor, ()).converted(markers):
            if tenant_from[t] is None or hour >= day_start(tenant_from[t]):
                sort((t, hour), open_count, covered)
    if clean:
        newest: dict[tuple[int, dt.date | dt.datetime], int] = {}
        for (t, hour), top in _newest_arrivals(min(clean.values()), list(tenant_from), lowest, walk_to, agent_id):
            for key in ((t, hour), (t, hour.astimezone(UTC).date())):
                newest[key] = max(newest.get(key, 0), top)
        for key, top in newest.items():
            if key in clean and top > clean[key]:
                del clean[key]
                stale.add(key)
    freshness = RollupFreshness(day_figures={key: day_figures[key] for key in clean if key in day_figures})
    for keys, days, hours in (
        (clean, freshness.fresh, freshness.fresh_hours),
        (stale, freshness.stale, freshness.stale_hours),
    ):
        for t, span in keys:
            (hours if isinstance(span, dt.datetime) else days).setdefault(t, set()).add(span)
    return freshness


@functools.cache
def _markers(model: type, vendor: str, fields: tuple[str, ...]) -> Statement:
    """(tenant, day or hour, open invocations, watermark, *fields) of the day or hour markers."""
    span = "day" if model is CacheRollupDay else "hour"
    columns = ("tenant_id", span, "open_invocations", "covers_through_id", *fields)
    return unfiltered(model.objects.values_list(*columns).order_by())


@functools.cache
def _arrivals(vendor: str) -> Statement:
    """(tenant, hour, highest id) of invocations."""
    by_hour = Invocation.objects.values("tenant_id", hour=TruncHour("queued_at", tzinfo=UTC))
    return unfiltered(by_hour.annotate(newest=Max("pk")).values_list("tenant_id", "hour", "newest").order_by())


def _newest_arrivals(
    watermark: int, tenant_ids: list[int], day_from: dt.date | None, end: dt.datetime, agent_id: int | None
) -> list[tuple[tuple[int, dt.datetime], int]]:
    """((tenant, hour), highest id) of the invocations above `watermark` queued from `day_from` to `end`."""
    # Walk the primary key from the watermark (no index leads with queued_at, and the tenant and agent are
    # hidden from the others: `unindexed`); the time filter is checked row by row, so the hour is computed only
    # for the few late rows, not for the current hour's. The upper bound is never reached; SQLite without
    # statistics prices a one-sided range as a quarter of the table and scans a covering index instead, while a
    # two-sided range gets the primary key.
    where = Q(pk__gt=watermark, pk__lt=MAX_ID, tenant_id__in=tenant_ids, queued_at__lt=end)
    if day_from is not None:
        where &= Q(queued_at__gte=day_start(day_from))
    if agent_id is not None:
        where &= Q(agent_id=agent_id)
    rows = _arrivals(connections[DEFAULT_DB_ALIAS].vendor).converted(where, unindexed=("tenant_id", "agent_id"))
    return [((t, hour), newest) for t, hour, newest in rows]
