"""Celery tasks: thin, each named after the service it calls; they own their retries. Scheduled by
django-celery-beat (shipped in migrations 0003 and 0004, edited in admin under Periodic tasks)."""

import datetime as dt

from celery import shared_task
from django.db import DatabaseError

from caching import advice_services, services
from caching.models import CacheReport


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def rollups_refresh_all() -> dict[str, int]:
    """Nightly: each tenant's yesterday, plus any day that changed since it was rolled up."""
    return {result.tenant.slug: len(result.days) for result in services.rollups_refresh_all()}


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def rollups_refresh_recent() -> dict[str, int]:
    """Every few minutes: each tenant's closed hours of today, and any span that changed since it was rolled up."""
    return {result.tenant.slug: len(result.hours) for result in services.rollups_refresh_recent()}


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def cache_reports_create_due() -> int:
    """Weekly: store the reports that are due, then mail each one in its own task."""
    reports = services.cache_reports_create_due()
    for report in reports:
        cache_report_send.delay(report.pk)
    return len(reports)


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def cache_report_send(report_id: int) -> int:
    report = CacheReport.objects.select_related("tenant").filter(pk=report_id).first()
    if report is None:
        return 0
    return len(services.cache_report_send(report=report))


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def cache_advice_refresh(agent_id: int, day_from: str, day_to: str) -> str:
    """Replay an agent's period for its cache advice (queued when the period is large); progress is on the row."""
    advice = advice_services.cache_advice_refresh(
        agent_id=agent_id, day_from=dt.date.fromisoformat(day_from), day_to=dt.date.fromisoformat(day_to)
    )
    return advice.status if advice is not None else "not claimed"
