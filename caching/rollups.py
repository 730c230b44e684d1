"""When a day's rollup can be trusted: the one freshness rule, read by the totals and the rollup writer.

Closed days are read from `DailyCacheRollup` (one row per agent and day) and
today from the invocations themselves. A rollup can go stale in two ways, and
each is detected without scanning the day's invocations:

1. An invocation of the day was still queued or running when the day was
   summed: the day's `CacheRollupDay.open_invocations` is then above 0, and the
   day is read live until a later rollup finds it settled.
2. An invocation of the day arrived after it was summed (backdated imports,
   restores, a row committed late): it has an id above the day's
   `covers_through_id`, the highest invocation id when the day was summed or
   last checked. One query walks the primary key from the lowest watermark in
   range (the nightly rollup moves every watermark up, so that is about a
   day's rows) and finds such days.

A closed day without a `CacheRollupDay` (never rolled up) is neither fresh nor
stale: readers read it live, the nightly run catches up on recent ones.
So the answer never depends on whether or when rollups ran: the test suite
checks rollup-based and raw answers are identical. An invocation's costs and
status change only until it finishes (a finished invocation is never edited),
which is what makes "open at rollup time" the only status change to watch.
Deleting invocations (not agents, whose rollups go with them) is not
detected; re-run `backfill_rollups` for the days after such a deletion.

`rollup_freshness` is that rule. The reader (`caching.totals`) reads the fresh
days from rollups and the rest live; the writer (`caching.services`) recomputes
the stale ones. One agent's reader ignores other agents' late arrivals: its
own rollup rows are still right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, ExpressionWrapper, F, Max, QuerySet
from django.db.models.functions import TruncDate

from agents_app.models import Invocation
from caching.models import CacheRollupDay
from caching.periods import ONE_DAY, UTC, day_start

MAX_ID = 2**63 - 1


def invocations_after(invocation_id: int) -> QuerySet[Invocation]:
    """Invocations with a larger id, read by walking the primary key from `invocation_id`.

    The upper bound is never reached; it is there because SQLite without
    statistics prices a one-sided range as a quarter of the table and scans a
    covering index instead, while a two-sided range gets the primary key.
    """
    return Invocation.objects.filter(pk__gt=invocation_id, pk__lt=MAX_ID)


def unindexed(name: str) -> ExpressionWrapper:
    """`name + 0`: the same value, but no index on `name` applies, so the planner walks the primary key."""
    return ExpressionWrapper(F(name) + 0, output_field=BigIntegerField())


@dataclass
class RollupFreshness:
    """Per tenant id, the rolled-up closed days whose rollups can be trusted, and those gone stale."""

    fresh: dict[int, set[dt.date]] = field(default_factory=dict)
    stale: dict[int, set[dt.date]] = field(default_factory=dict)


def rollup_freshness(
    *, tenant_from: Mapping[int, dt.date | None], day_to: dt.date, agent_id: int | None = None
) -> RollupFreshness:
    """Which rolled-up days from each tenant's day (None: its first) to the closed `day_to` are fresh or stale.

    With `agent_id`, only that agent's late arrivals make a day stale (its own
    figures are all the caller reads). Two queries: the markers, and the walk
    for late arrivals.
    """
    starts = [day for day in tenant_from.values() if day is not None]
    lowest = min(starts) if len(starts) == len(tenant_from) else None
    if not tenant_from or (lowest is not None and day_to < lowest):
        return RollupFreshness()
    markers = CacheRollupDay.objects.filter(tenant_id__in=list(tenant_from), day__lte=day_to)
    if lowest is not None:
        markers = markers.filter(day__gte=lowest)
    clean: dict[tuple[int, dt.date], int] = {}
    stale: set[tuple[int, dt.date]] = set()
    for t, day, open_count, covered in markers.values_list("tenant_id", "day", "open_invocations", "covers_through_id"):
        if tenant_from[t] is not None and day < tenant_from[t]:
            continue
        if open_count:
            stale.add((t, day))
        else:
            clean[(t, day)] = covered
    if clean:
        for key, newest in _newest_arrivals(min(clean.values()), list(tenant_from), lowest, day_to, agent_id):
            if key in clean and newest > clean[key]:
                del clean[key]
                stale.add(key)
    freshness = RollupFreshness()
    for t, day in clean:
        freshness.fresh.setdefault(t, set()).add(day)
    for t, day in stale:
        freshness.stale.setdefault(t, set()).add(day)
    return freshness


def _newest_arrivals(
    watermark: int, tenant_ids: list[int], day_from: dt.date | None, day_to: dt.date, agent_id: int | None
) -> list[tuple[tuple[int, dt.date], int]]:
    """((tenant, day), highest id) of the invocations above `watermark` queued on the days in range."""
    # Walk the primary key from the watermark (no index leads with queued_at, and the tenant and agent are
    # hidden from the others); the time filter is checked row by row, so the day is computed only for the
    # few late rows, not for today's.
    late = (
        invocations_after(watermark)
        .alias(scope_tenant=unindexed("tenant_id"))
        .filter(scope_tenant__in=tenant_ids, queued_at__lt=day_start(day_to + ONE_DAY))
    )
    if day_from is not None:
        late = late.filter(queued_at__gte=day_start(day_from))
    if agent_id is not None:
        late = late.alias(scope_agent=unindexed("agent_id")).filter(scope_agent=agent_id)
    rows = (
        late.annotate(day=TruncDate("queued_at", tzinfo=UTC))
        .values("tenant_id", "day")
        .annotate(newest=Max("pk"))
        .values_list("tenant_id", "day", "newest")
        .order_by()
    )
    return [((t, day), newest) for t, day, newest in rows]
