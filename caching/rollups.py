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
   reads the invocations of those last minutes, not a day's (or of the last
   hour at most, from the markers a reader kept: `caching.settled`).

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

`rollup_freshness` is that rule: what the markers say (`rollup_markers`), less
the spans the walk finds late arrivals in (`late_arrivals`). The reader
(`caching.totals`) reads the fresh spans from rollups and the rest live, and
may keep the markers between two rollup writes (`caching.settled`), walking
again each time; the writer (`caching.services`) recomputes the stale ones.
One agent's reader ignores other agents' late arrivals: its own rollup rows
are still right.
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


Span = tuple[int, dt.date | dt.datetime]  # (tenant id, a day or the start of an hour)


@dataclass
class RollupMarkers:
    """What the day and hour markers say, before the walk for late arrivals (`late_arrivals`)."""

    # Per span rolled up with nothing open, its watermark; and the spans rolled up while invocations were open.
    settled: dict[Span, int] = field(default_factory=dict)
    open: set[Span] = field(default_factory=set)
    # With `figures`: per settled day, its figures (`FIGURE_FIELDS`), the tenant's whole day.
    day_figures: dict[tuple[int, dt.date], dict] = field(default_factory=dict)
    # What the walk covers: these tenants' invocations queued from `day_from` (None: any day) to `walk_to`.
    tenant_ids: tuple[int, ...] = ()
    day_from: dt.date | None = None
    walk_to: dt.datetime | None = None


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
    the hour markers (`rollup_markers`), and the walk for late arrivals
    (`late_arrivals`). With `figures`, the day markers' figures come too: the
    tenants' by-day figures of the fresh days.
    """
    markers = rollup_markers(tenant_from=tenant_from, day_to=day_to, hours_to=hours_to, figures=figures)
    return freshness_of(markers, late_arrivals(markers, agent_id))


def rollup_markers(
    *,
    tenant_from: Mapping[int, dt.date | None],
    day_to: dt.date,
    hours_to: dt.datetime | None = None,
    figures: bool = False,
) -> RollupMarkers:
    """The markers of `rollup_freshness`'s days and hours: two queries at most."""
    if not tenant_from:
        return RollupMarkers()
    starts = [day for day in tenant_from.values() if day is not None]
    lowest = min(starts) if len(starts) == len(tenant_from) else None
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    markers = RollupMarkers(tenant_ids=tuple(tenant_from), day_from=lowest, walk_to=day_start(day_to + ONE_DAY))

    def sort(key, open_count, covered):
        if open_count:
            markers.open.add(key)
        else:
            markers.settled[key] = covered

    # Each read is built with one filter, and compiled once (`caching.statements`): every first ask since a
    # rollup write reads the markers.
    if lowest is None or day_to >= lowest:
        since = Q(day__gte=lowest) if lowest is not None else Q()
        where = since & Q(tenant_id__in=list(tenant_from), day__lte=day_to)
        fields = FIGURE_FIELDS if figures else ()
        for t, day, open_count, covered, *values in _markers(CacheRollupDay, vendor, fields).converted(where):
            if tenant_from[t] is None or day >= tenant_from[t]:
                sort((t, day), open_count, covered)
                if fields and not open_count:
                    markers.day_figures[t, day] = dict(zip(fields, values, strict=True))
    if hours_to is not None and (lowest is None or hours_to > day_start(lowest)):
        markers.walk_to = max(markers.walk_to, hours_to)
        since = Q(hour__gte=day_start(lowest)) if lowest is not None else Q()
        where = since & Q(tenant_id__in=list(tenant_from), hour__lt=hours_to)
        for t, hour, open_count, covered in _markers(CacheRollupHour, vendor, ()).converted(where):
            if tenant_from[t] is None or hour >= day_start(tenant_from[t]):
                sort((t, hour), open_count, covered)
    return markers


def late_arrivals(markers: RollupMarkers, agent_id: int | None = None) -> set[Span]:
    """The settled spans with an invocation above their watermark (with `agent_id`, one of that agent's): one
    query, which walks the invocations since the lowest watermark."""
    if not markers.settled:
        return set()
    newest: dict[Span, int] = {}
    lowest, tenant_ids = min(markers.settled.values()), list(markers.tenant_ids)
    for (t, hour), top in _newest_arrivals(lowest, tenant_ids, markers.day_from, markers.walk_to, agent_id):
        for key in ((t, hour), (t, hour.astimezone(UTC).date())):
            newest[key] = max(newest.get(key, 0), top)
    return {key for key, top in newest.items() if key in markers.settled and top > markers.settled[key]}


def freshness_of(markers: RollupMarkers, late: set[Span]) -> RollupFreshness:
    """The markers' settled spans without the `late` ones are fresh; those and the open ones are stale."""
    clean = [key for key in markers.settled if key not in late]
    figures = markers.day_figures
    freshness = RollupFreshness(day_figures={key: figures[key] for key in clean if key in figures})
    for keys, days, hours in (
        (clean, freshness.fresh, freshness.fresh_hours),
        (markers.open | late, freshness.stale, freshness.stale_hours),
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
