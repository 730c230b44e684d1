"""Reads of the per-tenant cache reports: the stored ones (written by `caching.services`) and a preview of the
current period so far; shaped by `caching.serializers`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from agent_platform.models import Tenant
from caching.models import CacheReport
from caching.periods import ONE_DAY, Period, first_invocation_day, utc_today
from caching.serializers import tenant_cache_stats_json
from caching.stats import tenant_cache_stats


def cache_report_list(*, tenant: Tenant) -> QuerySet[CacheReport]:
    return CacheReport.objects.filter(tenant=tenant)


@dataclass
class ReportPreview:
    tenant: Tenant
    period: Period
    stats: dict

    @property
    def period_start(self) -> dt.date:
        return self.period.day_from

    @property
    def period_end(self) -> dt.date:
        return self.period.day_to


def cache_report_preview(*, tenant: Tenant, today: dt.date | None = None) -> ReportPreview:
    """The next report as it stands: from the day after the last stored report (else the start of a cadence
    ending today, not before the first invocation) to today, so far. Not stored, not mailed."""
    today = today or utc_today()
    last = cache_report_list(tenant=tenant).order_by("-period_end").values_list("period_end", flat=True).first()
    if last is not None:
        start = last + ONE_DAY
    else:
        cadence = max(1, int(getattr(settings, "CACHE_REPORT_CADENCE_DAYS", 7)))
        start = max(today - (cadence - 1) * ONE_DAY, first_invocation_day(tenant=tenant) or today)
    period = Period(min(start, today), today, "so far")
    stats = tenant_cache_stats_json(tenant_cache_stats(tenant=tenant, period=period, top=10, all_agents=True))
    return ReportPreview(tenant=tenant, period=period, stats=stats)
