"""The settled part of a tenant's cache-stats read, kept in the process under the tenant's rollups versions.

Most of what a read of a tenant's (or one agent's) figures reads is settled:
the day and hour markers, and the sums of the rollup rows they vouch for.
Those change only when the rollups are written, and every such write gives the
tenant a new `rollups_version` in its transaction (`caching.services`). A
dashboard asks the same question many times between two refreshes, so the
totals engine (`caching.totals`) keeps that part here, per question, with the
versions it was read under, and reads only the rest again:

- the versions themselves, read anew by every request;
- the walk for late arrivals since the markers' watermarks (an invocation
  committed after a span was rolled up). If it finds one, that request reads
  the rollup sums anew, without the late spans, and keeps nothing. A refresh
  that only moves watermarks up keeps the version (no figure changed): the
  walk then starts from the kept, older watermarks, which sees all the newer
  ones would. Each closed hour's rollup is a write, so they are at most about
  an hour old;
- the live invocations (the current hour, what is stale or not rolled up).

Most writes are the first rollup of an hour that just closed, which readers
read live until then: it changes `rollups_version` but not
`rollups_rewrite_version`. A question kept under the same rewrite version is
extended, not read again: the markers anew, the new hours' rollup rows, and
the kept sums as they were. Any other write (a day, an hour rolled up again,
old hours dropped, an agent deleted) changes both, and the question is read in
full.

The period `all` begins at the first day of the figures, two reads
(`caching.periods.first_invocation_day`) that only a rollup write can change:
it is kept here too, under the versions it was read under.

So the answer is the one the engine gives without it. What the walk cannot
see, a deletion, is followed by a backfill (`caching.rollups`), which is a
rollup write: a new version. A deleted API key's rows read as no key's
(`caching.stats.key_totals`), as they do once the database has set them so.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q

from agent_platform.models import Tenant
from caching.statements import Statement, unfiltered

if TYPE_CHECKING:  # not at run time: `caching.periods` keeps its first day here, and the rollups read periods
    from caching.rollups import RollupMarkers

# Entries kept per process, the least recently asked dropped first: questions and the first days of `all` share
# them. A tenant's 90 days (its figures by day, its agents' and keys' sums) take about 320 KiB, one agent's
# 180 KiB, a first day a few hundred bytes: 20 MiB at most.
MAX_ENTRIES = 64


Versions = tuple[int, int]  # the tenant's rollups_version and rollups_rewrite_version


@dataclass
class Settled:
    """The markers (before the walk), and the rollup sums read for the spans they settle, under `versions`."""

    markers: RollupMarkers
    versions: Versions | None = None
    # The hourly rollup rows read, of the (tenant, hour)s in `hours_read`.
    hourly_rows: list[dict] = field(default_factory=list)
    hours_read: frozenset = frozenset()
    daily_reads: dict[tuple, list[dict]] = field(default_factory=dict)

    def extended(self, markers: RollupMarkers, versions: Versions) -> Settled:
        """This, with `markers` read under `versions` (only new hours since): the hours' rows are read on top."""
        return Settled(markers, versions, self.hourly_rows, self.hours_read, dict(self.daily_reads))


@dataclass(frozen=True)
class FirstDay:
    """The first day of a tenant's (or one agent's) figures, where the period `all` begins, read under `versions`."""

    day: dt.date
    versions: Versions | None


def rollups_versions(tenant_id: int) -> Versions | None:
    """The tenant's rollups versions now (None: no such tenant). Read anew by every request that keeps: a
    tenant object read earlier may hold older ones."""
    rows = _versions_statement(connections[DEFAULT_DB_ALIAS].vendor).rows(Q(pk=tenant_id))
    return rows[0] if rows else None


@functools.cache
def _versions_statement(vendor: str) -> Statement:
    return unfiltered(Tenant.objects.values_list("rollups_version", "rollups_rewrite_version"))


_entries: OrderedDict[Hashable, Settled | FirstDay] = OrderedDict()
_lock = threading.Lock()


def settled_get(key: Hashable) -> Settled | FirstDay | None:
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
        return entry


def settled_put(key: Hashable, entry: Settled | FirstDay) -> None:
    with _lock:
        _entries[key] = entry
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def settled_clear() -> None:
    with _lock:
        _entries.clear()
