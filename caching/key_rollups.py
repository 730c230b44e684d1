"""Spend by API key: the per-key daily rollup rows, written beside the per-agent ones.

`caching.services.rollup_day` calls `key_rollups_write` in its transaction, so a day's key rows, agent rows
and marker always agree, and `caching.totals` reads them (grouping by `api_key_id`) under the same freshness
rule. Invocations that no key asked for (the admin, a command) group under no key.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from agent_platform.models import Tenant
from agents_app.models import Invocation
from caching.models import DailyKeyRollup
from caching.sums import SUM_FIELDS, invocation_sums


def key_rollups_write(*, tenant: Tenant, day: dt.date, invocations: QuerySet[Invocation], now: dt.datetime) -> int:
    """Replace the day's key rollup rows with sums of `invocations` (the day's) by agent and key."""
    rows = invocations.values("agent_id", "api_key_id").annotate(**invocation_sums()).order_by()
    rollups = []
    for row in rows:
        sums = {name: row[name] or 0 for name in SUM_FIELDS}
        if any(sums.values()):
            rollups.append(
                DailyKeyRollup(
                    tenant=tenant,
                    agent_id=row["agent_id"],
                    api_key_id=row["api_key_id"],
                    day=day,
                    rolled_up_at=now,
                    **sums,
                )
            )
    DailyKeyRollup.objects.filter(tenant=tenant, day=day).delete()
    DailyKeyRollup.objects.bulk_create(rollups)
    return len(rollups)
