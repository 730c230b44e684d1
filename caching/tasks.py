"""Celery tasks: thin wrappers that call one service and own their retries. Scheduled by django-celery-beat
(shipped in migration 0003, edited in admin under Periodic tasks)."""

from celery import shared_task
from django.db import DatabaseError

from caching import services
from caching.models import CacheReport


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def rollup_cache_stats() -> dict[str, int]:
    """Nightly: each tenant's yesterday, plus any day that changed since it was rolled up."""
    return {result.tenant.slug: len(result.days) for result in services.rollups_refresh_all()}


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def send_cache_reports() -> int:
    """Weekly: store the reports that are due, then mail each one in its own task."""
    reports = services.cache_reports_create_due()
    for report in reports:
        send_cache_report.delay(report.pk)
    return len(reports)


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def send_cache_report(report_id: int) -> int:
    report = CacheReport.objects.select_related("tenant").filter(pk=report_id).first()
    if report is None:
        return 0
    return len(services.cache_report_send(report=report))
