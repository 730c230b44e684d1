"""Reads of the stored per-tenant cache reports (written by `caching.services`, shaped by `caching.serializers`)."""

from __future__ import annotations

from django.db.models import QuerySet

from agent_platform.models import Tenant
from caching.models import CacheReport


def cache_report_list(*, tenant: Tenant) -> QuerySet[CacheReport]:
    return CacheReport.objects.filter(tenant=tenant)
