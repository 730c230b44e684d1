"""Cache-stats writes: daily rollups and the stored, mailed per-tenant reports.

Rollups (`caching.rollups` says when readers trust them): `rollup_day`
recomputes one tenant's closed day from its invocations, deleting and
inserting its `DailyCacheRollup` rows and its `CacheRollupDay` marker in one
transaction, so running it twice is harmless. `rollups_refresh` decides which
days to recompute (the stale ones by the same rule the readers use); the beat
task and `backfill_rollups` both go through it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Max, Q
from django.template.loader import render_to_string
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.models import Membership, Role, Tenant
from agents_app.models import Invocation
from caching.advice import agents_with_traffic
from caching.advice_services import tenant_cache_advice_request
from caching.exports import cache_report_csv
from caching.key_rollups import key_rollups_write
from caching.models import CacheReport, CacheRollupDay, DailyCacheRollup
from caching.periods import ONE_DAY, Period, day_start, first_invocation_day, utc_today
from caching.rollups import rollup_freshness
from caching.serializers import tenant_cache_advice_json, tenant_cache_stats_json
from caching.stats import tenant_cache_stats
from caching.totals import OPEN, SUM_FIELDS, invocation_sums

logger = logging.getLogger(__name__)

# Closed days the nightly run fills in when they were never rolled up (a missed night, a new tenant).
CATCH_UP_DAYS = 7


# --- Rollups -------------------------------------------------------------------------------------


def invocation_watermark() -> int:
    """The highest invocation id so far: everything a rollup reads after this has at most this id, or is late."""
    return Invocation.objects.aggregate(top=Max("pk"))["top"] or 0


def rollup_day(*, tenant: Tenant, day: dt.date, watermark: int | None = None, today: dt.date | None = None) -> int:
    """Recompute `tenant`'s rollup rows for the closed UTC `day`; returns how many agents had invocations.

    Take `watermark` before reading (the default does): an invocation that
    arrives while the day is summed then has a larger id, and readers treat the
    day as live until the next refresh.
    """
    if day >= (today or utc_today()):
        raise ApplicationError(f"{day} is not over yet (UTC); only closed days are rolled up.", field="day")
    if watermark is None:
        watermark = invocation_watermark()
    now = timezone.now()
    with transaction.atomic():
        # One rollup of a tenant at a time (beat and a backfill may overlap); SQLite serializes anyway.
        list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk"))
        invocations = Invocation.objects.filter(
            tenant=tenant, queued_at__gte=day_start(day), queued_at__lt=day_start(day + ONE_DAY)
        )
        rows = (
            invocations.values("agent_id")
            .annotate(**invocation_sums(), open_invocations=Count("pk", filter=Q(status__in=OPEN)))
            .order_by()
        )
        rollups, open_invocations = [], 0
        for row in rows:
            open_invocations += row["open_invocations"]
            sums = {name: row[name] or 0 for name in SUM_FIELDS}
            if any(sums.values()):
                rollups.append(
                    DailyCacheRollup(tenant=tenant, agent_id=row["agent_id"], day=day, rolled_up_at=now, **sums)
                )
        DailyCacheRollup.objects.filter(tenant=tenant, day=day).delete()
        DailyCacheRollup.objects.bulk_create(rollups)
        key_rollups_write(tenant=tenant, day=day, invocations=invocations, now=now)
        CacheRollupDay.objects.update_or_create(
            tenant=tenant,
            day=day,
            defaults={"open_invocations": open_invocations, "covers_through_id": watermark, "rolled_up_at": now},
        )
    return len(rollups)


@dataclass
class RefreshResult:
    tenant: Tenant
    days: list[dt.date]
    watermark: int


def rollup_days_due(
    *, tenant: Tenant, days: Iterable[dt.date], today: dt.date, catch_up: bool = False
) -> list[dt.date]:
    """The closed days to recompute: `days`, every stale one (`caching.rollups`), and with `catch_up` the
    last CATCH_UP_DAYS days that were never rolled up."""
    freshness = rollup_freshness(tenant_from={tenant.pk: None}, day_to=today - ONE_DAY)
    fresh, stale = freshness.fresh.get(tenant.pk, set()), freshness.stale.get(tenant.pk, set())
    due = set(days) | stale
    if catch_up:
        due |= {today - n * ONE_DAY for n in range(1, CATCH_UP_DAYS + 1)} - fresh - stale
    return sorted(day for day in due if day < today)


def rollups_refresh(
    *,
    tenant: Tenant,
    days: Iterable[dt.date] | None = None,
    today: dt.date | None = None,
    on_day: Callable[[dt.date], None] | None = None,
    on_plan: Callable[[list[dt.date]], None] | None = None,
) -> RefreshResult:
    """Bring a tenant's rollups up to date. Idempotent.

    `days` defaults to the nightly choice: yesterday, and the last CATCH_UP_DAYS
    days if they were never rolled up (a missed night). Stale days are always
    added.

    After recomputing the due days, every other marker is known to be complete
    up to the watermark taken at the start (no invocation of its day had a
    larger id), so it moves up to it: readers then only look for late
    arrivals among the invocations since this run.
    """
    today = today or utc_today()
    watermark = invocation_watermark()
    nightly = days is None
    due = rollup_days_due(tenant=tenant, days=[today - ONE_DAY] if nightly else days, today=today, catch_up=nightly)
    if on_plan:
        on_plan(due)
    for day in due:
        rollup_day(tenant=tenant, day=day, watermark=watermark, today=today)
        if on_day:
            on_day(day)
    CacheRollupDay.objects.filter(tenant=tenant, covers_through_id__lt=watermark).exclude(day__in=due).update(
        covers_through_id=watermark
    )
    return RefreshResult(tenant=tenant, days=due, watermark=watermark)


def rollups_refresh_all(*, today: dt.date | None = None) -> list[RefreshResult]:
    """The nightly run: every tenant, yesterday plus whatever went stale."""
    results = []
    for tenant in Tenant.objects.order_by("pk"):
        result = rollups_refresh(tenant=tenant, today=today)
        logger.info("cache rollups of %s: %d day(s) recomputed", tenant.slug, len(result.days))
        results.append(result)
    return results


# --- Reports -------------------------------------------------------------------------------------


def report_cadence_days() -> int:
    cadence = int(getattr(settings, "CACHE_REPORT_CADENCE_DAYS", 7))
    if cadence < 1:
        raise ApplicationError("CACHE_REPORT_CADENCE_DAYS must be at least 1.", field="CACHE_REPORT_CADENCE_DAYS")
    return cadence


def cache_report_create(*, tenant: Tenant, period_start: dt.date, period_end: dt.date) -> tuple[CacheReport, bool]:
    """The tenant's report for the period, computed and stored once; `(report, created)`."""
    if period_start > period_end:
        raise ApplicationError("period_start must not be after period_end.", field="period_start")
    existing = CacheReport.objects.filter(tenant=tenant, period_start=period_start, period_end=period_end).first()
    if existing:
        return existing, False
    period = Period(period_start, period_end, "report")
    stats = tenant_cache_stats_json(tenant_cache_stats(tenant=tenant, period=period, top=10, all_agents=True))
    stats["advice"] = report_advice(tenant=tenant, period=period)
    with transaction.atomic():
        report, created = CacheReport.objects.get_or_create(
            tenant=tenant, period_start=period_start, period_end=period_end, defaults={"stats": stats}
        )
    return report, created


# The report's cache-advice section lists this many agents; computing it is the report task's work.
REPORT_ADVICE_AGENTS = 10
REPORT_ADVICE_INVOCATIONS = 1_000_000


def report_advice(*, tenant: Tenant, period: Period) -> dict:
    """The report's cache-advice section: the agents ranked by money left on the table over its period."""
    try:
        agents = agents_with_traffic(tenant=tenant, period=period)
        items = tenant_cache_advice_request(
            tenant=tenant, period=period, agents=agents, budget=REPORT_ADVICE_INVOCATIONS
        )
    except Exception as exc:  # the report's figures stand without it
        logger.exception("cache advice for the report of %s failed", tenant.slug)
        return {"error": f"{type(exc).__name__}: {exc}", "agents": []}
    data = tenant_cache_advice_json(tenant=tenant, period=period, items=items)
    data["agents"] = data["agents"][:REPORT_ADVICE_AGENTS]
    return data


def cache_reports_create_due(*, today: dt.date | None = None, tenant: Tenant | None = None) -> list[CacheReport]:
    """A report for each tenant whose last one ended at least a cadence ago, for the cadence ending yesterday.

    Tenants without agents get none. Returns the reports still to be mailed
    (new ones and any earlier one whose mailing failed).
    """
    today = today or utc_today()
    cadence = report_cadence_days()
    period_end = today - ONE_DAY
    period_start = period_end - (cadence - 1) * ONE_DAY
    tenants = Tenant.objects.filter(agents__isnull=False).distinct().order_by("pk")
    if tenant is not None:
        tenants = tenants.filter(pk=tenant.pk)
    last_ends = dict(
        CacheReport.objects.filter(tenant__in=tenants)
        .values("tenant_id")
        .annotate(last=Max("period_end"))
        .values_list("tenant_id", "last")
    )
    for t in tenants:
        last = last_ends.get(t.pk)
        first = first_invocation_day(tenant=t)
        if first is None or first > period_end:
            continue  # nothing ran in the period yet: no report of zeros (the preview shows the days so far)
        if last is None or last + cadence * ONE_DAY <= period_end:
            cache_report_create(tenant=t, period_start=period_start, period_end=period_end)
    unsent = CacheReport.objects.filter(tenant__in=tenants, emailed_at__isnull=True).select_related("tenant")
    return list(unsent)


def report_recipients(tenant: Tenant) -> list[str]:
    """The tenant's admins with an email address."""
    emails = Membership.objects.filter(tenant=tenant, role=Role.ADMIN, user__is_active=True).exclude(user__email="")
    return sorted(set(emails.values_list("user__email", flat=True)))


def cache_report_send(*, report: CacheReport, force: bool = False) -> list[str]:
    """Mail the report (text and CSV attachment) to the tenant's admins once; returns who got it.

    A report nobody can receive (no admin with an email address) is not
    marked emailed: it stays unsent, and the next run sends it once someone
    can receive it. Otherwise the report is claimed first (`emailed_at` set
    only if unset), so two workers never both send it; a failed send releases
    the claim and raises, for the task to retry. `force` sends it again (the
    admin action).
    """
    recipients = report_recipients(report.tenant)
    if not recipients:
        return []
    now = timezone.now()
    claim = CacheReport.objects.filter(pk=report.pk)
    if not force:
        claim = claim.filter(emailed_at__isnull=True)
    if not claim.update(emailed_at=now):
        return []
    try:
        context = {"report": report, "stats": report.stats, "site_url": getattr(settings, "SITE_URL", "")}
        subject = f"Prompt caching report for {report.tenant.name}: {report.period_start} to {report.period_end}"
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("caching/cache_report_email.txt", context),
            to=recipients,
        )
        message.attach(
            f"cache-report-{report.tenant.slug}-{report.period_start}-{report.period_end}.csv",
            cache_report_csv(report),
            "text/csv",
        )
        message.send()
    except Exception:
        CacheReport.objects.filter(pk=report.pk, emailed_at=now).update(emailed_at=report.emailed_at)
        raise
    CacheReport.objects.filter(pk=report.pk).update(recipients=recipients)
    report.emailed_at, report.recipients = now, recipients
    return recipients
