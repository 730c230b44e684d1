"""Cache figures over stretches of time shorter than a day: the alert rules' windows.

Daily rollups cannot answer "the last hour", so a window is summed from the
invocations themselves, with the same aggregates as every other total
(`caching.sums.invocation_sums`: succeeded invocations' tokens and money,
failed ones counted apart). A window of an hour is a few hundred rows of a
tenant even at a million invocations, read through the `(tenant, queued_at)`
or `(agent, queued_at)` index; windows are capped at a day for that reason.
Longer periods go through `caching.totals` (rollups plus live rows).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from agents_app.models import Invocation
from caching.sums import invocation_sums
from caching.totals import CacheTotals

MAX_WINDOW = dt.timedelta(days=1)


def window_totals(
    *,
    tenant_id: int,
    ranges: list[tuple[dt.datetime, dt.datetime]],
    agent_id: int | None = None,
    api_key_id: str | None = None,
) -> CacheTotals:
    """Totals of the tenant's invocations queued in any of `ranges` ([start, end) each, none over a day), of one
    agent and/or asked for by one API key when given."""
    scope = Q(tenant_id=tenant_id)
    if agent_id is not None:
        scope &= Q(agent_id=agent_id)
    if api_key_id is not None:
        scope &= Q(api_key_id=api_key_id)
    totals = CacheTotals()
    # One query per range: each is an index range scan, where an OR of ranges can make SQLite scan the table.
    for start, end in ranges:
        if end - start > MAX_WINDOW:
            raise ValueError(f"a window is at most {MAX_WINDOW}, not {end - start}")
        rows = Invocation.objects.filter(scope, queued_at__gte=start, queued_at__lt=end)
        totals.add_row(rows.aggregate(**invocation_sums()))
    return totals
