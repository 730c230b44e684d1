"""Cache-stats writes: daily rollups and the stored, mailed per-tenant reports.

Rollups (`caching.rollups` says when readers trust them): `rollup_day`
recomputes one tenant's closed day from its invocations, deleting and
inserting its `DailyCacheRollup` rows and its `CacheRollupDay` marker in one
transaction, so running it twice is harmless; `rollup_hour` does the same for
a closed hour (`HourlyCacheRollup`, `CacheRollupHour`). `rollups_refresh`
decides which days and hours to recompute (the stale ones by the same rule the
readers use); the beat tasks (nightly, and every 5 minutes) and
`backfill_rollups` all go through it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.models import Membership, Role, Tenant, new_rollups_version
from agents_app.models import Invocation
from caching.advice import agents_with_traffic
from caching.advice_services import tenant_cache_advice_request
from caching.exports import cache_report_csv
from caching.key_rollups import key_rollups_write
from caching.models import CacheReport, CacheRollupDay, CacheRollupHour, DailyCacheRollup, HourlyCacheRollup
from caching.periods import ONE_DAY, ONE_HOUR, UTC, Period, day_start, first_invocation_day, hour_start, utc_today
from caching.rollups import rollup_freshness
from caching.serializers import tenant_cache_advice_json, tenant_cache_stats_json
from caching.stats import tenant_cache_stats
from caching.sums import OPEN, SUM_FIELDS, invocation_sums

logger = logging.getLogger(__name__)

# Closed days the nightly run fills in when they were never rolled up (a missed night, a new tenant).
CATCH_UP_DAYS = 7
# Days whose closed hours are rolled up hourly (today and yesterday: yesterday until its daily rollup is in).
HOURLY_ROLLUP_DAYS = 2


# --- Rollups -------------------------------------------------------------------------------------


def invocation_watermark() -> int:
    """The highest invocation id so far: everything a rollup reads after this has at most this id, or is late."""
    return Invocation.objects.aggregate(top=Max("pk"))["top"] or 0


def _agent_sums(
    tenant: Tenant, start: dt.datetime, end: dt.datetime, keys: tuple[str, ...] = ("agent_id",)
) -> tuple[list[dict], int]:
    """Per agent (or per `keys`), the figures of the tenant's invocations queued in [start, end); and how many
    are still open."""
    rows = (
        Invocation.objects.filter(tenant=tenant, queued_at__gte=start, queued_at__lt=end)
        .values(*keys)
        .annotate(**invocation_sums(), open_invocations=Count("pk", filter=Q(status__in=OPEN)))
        .order_by()
    )
    sums, open_invocations = [], 0
    for row in rows:
        open_invocations += row["open_invocations"]
        figures = {name: row[name] or 0 for name in SUM_FIELDS}
        if any(figures.values()):
            sums.append({**{key: row[key] for key in keys}, **figures})
    return sums, open_invocations


def _rollups_changing(tenant: Tenant, *, rewrite: bool = True) -> None:
    """In a transaction that writes the tenant's rollups, first: a new `rollups_version`, so what readers kept
    from the old rollups is not used again as it was (`caching.settled`); with `rewrite` (every write but the
    first rollup of an hour), a new `rollups_rewrite_version` too, so it is not extended by new hours either.
    The update also locks the tenant's row: one rollup of a tenant at a time (beat and a backfill may
    overlap; SQLite serializes anyway)."""
    tenant.rollups_version = new_rollups_version()
    versions = {"rollups_version": tenant.rollups_version}
    if rewrite:
        tenant.rollups_rewrite_version = versions["rollups_rewrite_version"] = new_rollups_version()
    Tenant.objects.filter(pk=tenant.pk).update(**versions)


def _tenant_locked(tenant: Tenant) -> None:
    """The tenant's row locked for the transaction, as `_rollups_changing` locks it, without a new version."""
    list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk"))


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
        _rollups_changing(tenant)
        sums, open_invocations = _agent_sums(tenant, day_start(day), day_start(day + ONE_DAY))
        DailyCacheRollup.objects.filter(tenant=tenant, day=day).delete()
        DailyCacheRollup.objects.bulk_create(
            DailyCacheRollup(tenant=tenant, day=day, rolled_up_at=now, **row) for row in sums
        )
        day_invocations = Invocation.objects.filter(
            tenant=tenant, queued_at__gte=day_start(day), queued_at__lt=day_start(day + ONE_DAY)
        )
        key_rollups_write(tenant=tenant, day=day, invocations=day_invocations, now=now)
        CacheRollupDay.objects.update_or_create(
            tenant=tenant,
            day=day,
            defaults={
                "open_invocations": open_invocations,
                "covers_through_id": watermark,
                "rolled_up_at": now,
                **{name: sum(row[name] for row in sums) for name in SUM_FIELDS},
            },
        )
    return len(sums)


def agent_rollups_drop(*, agent) -> None:
    """Before `agent` is deleted: its daily rollup rows go, and its share of its tenant's day figures with
    them (in the deleting transaction), so the tenant's days still sum what is left."""
    _rollups_changing(agent.tenant)  # its hourly and per-key rows go too, with the agent
    rows = DailyCacheRollup.objects.filter(agent=agent)
    days = sorted(set(rows.values_list("day", flat=True)))
    rows.delete()
    if not days:
        return
    remaining = (
        DailyCacheRollup.objects.filter(tenant_id=agent.tenant_id, day__in=days)
        .values("day")
        .annotate(**{name: Sum(name) for name in SUM_FIELDS})
        .order_by()
    )
    by_day = {row["day"]: row for row in remaining}
    markers = list(CacheRollupDay.objects.filter(tenant_id=agent.tenant_id, day__in=days))
    for marker in markers:
        row = by_day.get(marker.day, {})
        for name in SUM_FIELDS:
            setattr(marker, name, row.get(name) or 0)
    CacheRollupDay.objects.bulk_update(markers, SUM_FIELDS, batch_size=500)


def rollup_hour(*, tenant: Tenant, hour: dt.datetime, watermark: int | None = None) -> int:
    """`rollup_day` for one closed UTC hour (`hour` is its start): the hourly rows (per agent and API key) and
    the hour's marker."""
    hour = hour_start(hour)
    if hour >= hour_start(timezone.now()):
        raise ApplicationError(f"{hour:%Y-%m-%d %H}:00 is not over yet (UTC).", field="hour")
    if watermark is None:
        watermark = invocation_watermark()
    now = timezone.now()
    with transaction.atomic():
        _tenant_locked(tenant)
        # Until its first rollup an hour is read live: rolling it up only adds to what readers kept. Rolling it
        # up again changes rows they may have read.
        rolled_before = CacheRollupHour.objects.filter(tenant=tenant, hour=hour).exists()
        _rollups_changing(tenant, rewrite=rolled_before)
        sums, open_invocations = _agent_sums(tenant, hour, hour + ONE_HOUR, keys=("agent_id", "api_key_id"))
        HourlyCacheRollup.objects.filter(tenant=tenant, hour=hour).delete()
        HourlyCacheRollup.objects.bulk_create(
            HourlyCacheRollup(tenant=tenant, hour=hour, day=hour.date(), rolled_up_at=now, **row) for row in sums
        )
        CacheRollupHour.objects.update_or_create(
            tenant=tenant,
            hour=hour,
            defaults={"open_invocations": open_invocations, "covers_through_id": watermark, "rolled_up_at": now},
        )
    return len(sums)


@dataclass
class RefreshResult:
    tenant: Tenant
    days: list[dt.date]
    watermark: int
    hours: list[dt.datetime] = field(default_factory=list)


@dataclass
class Due:
    days: list[dt.date]
    hours: list[dt.datetime] = field(default_factory=list)
    fresh_hours: set[dt.datetime] = field(default_factory=set)


def rollup_days_due(
    *, tenant: Tenant, days: Iterable[dt.date], today: dt.date, catch_up: bool = False
) -> list[dt.date]:
    """The closed days to recompute: `days`, every stale one (`caching.rollups`), and with `catch_up` the
    last CATCH_UP_DAYS days that were never rolled up."""
    return _due(tenant=tenant, days=days, today=today, catch_up=catch_up, now=None).days


def _due(*, tenant: Tenant, days: Iterable[dt.date], today: dt.date, catch_up: bool, now: dt.datetime | None) -> Due:
    """`rollup_days_due`, and with `now` the hours to (re)compute: the stale ones, and the closed hours of the
    last HOURLY_ROLLUP_DAYS days never rolled up, except on days whose daily rollup is fresh."""
    hours_to = hour_start(now) if now is not None else None
    freshness = rollup_freshness(tenant_from={tenant.pk: None}, day_to=today - ONE_DAY, hours_to=hours_to)
    fresh, stale = freshness.fresh.get(tenant.pk, set()), freshness.stale.get(tenant.pk, set())
    due = set(days) | stale
    if catch_up:
        due |= {today - n * ONE_DAY for n in range(1, CATCH_UP_DAYS + 1)} - fresh - stale
    due_days = sorted(day for day in due if day < today)
    if hours_to is None:
        return Due(due_days)
    served = fresh | set(due_days)  # recomputed days are read from their daily rollups
    known = freshness.fresh_hours.get(tenant.pk, set())
    hours = set(freshness.stale_hours.get(tenant.pk, set()))
    oldest = hour = day_start(today - (HOURLY_ROLLUP_DAYS - 1) * ONE_DAY)
    while hour < hours_to:
        if hour not in known:
            hours.add(hour)
        hour += ONE_HOUR
    due_hours = sorted(h for h in hours if oldest <= h < hours_to and h.astimezone(UTC).date() not in served)
    return Due(due_days, due_hours, known)


def rollups_refresh(
    *,
    tenant: Tenant,
    days: Iterable[dt.date] | None = None,
    today: dt.date | None = None,
    hours: bool = True,
    recompute_hours_of: Iterable[dt.date] = (),
    on_day: Callable[[dt.date], None] | None = None,
    on_plan: Callable[[list[dt.date]], None] | None = None,
) -> RefreshResult:
    """Bring a tenant's rollups up to date. Idempotent.

    `days` defaults to the nightly choice: yesterday, and the last CATCH_UP_DAYS
    days if they were never rolled up (a missed night). Stale days are always
    added. With `hours` (the default), the closed hours of the last
    HOURLY_ROLLUP_DAYS days not served by a daily rollup are rolled up too,
    the stale ones again, and the hourly rows of older days are dropped;
    `recompute_hours_of` names days of that window whose closed hours are
    recomputed whatever their markers say (after invocations were deleted).

    After recomputing, every other marker is known to be complete up to the
    watermark taken at the start (no invocation of its span had a larger id),
    so it moves up to it: readers then only look for late arrivals among the
    invocations since this run.
    """
    now = timezone.now()
    today = today or utc_today()
    watermark = invocation_watermark()
    nightly = days is None
    plan = _due(
        tenant=tenant,
        days=[today - ONE_DAY] if nightly else days,
        today=today,
        catch_up=nightly,
        now=now if hours else None,
    )
    due, due_hours = plan.days, plan.hours
    if hours and recompute_hours_of:
        window = {day_start(d) for d in recompute_hours_of}
        forced = {h for h in plan.fresh_hours if day_start(h.astimezone(UTC).date()) in window}
        due_hours = sorted(set(due_hours) | forced)
    if on_plan:
        on_plan(due)
    for day in due:
        rollup_day(tenant=tenant, day=day, watermark=watermark, today=today)
        if on_day:
            on_day(day)
    for hour in due_hours:
        rollup_hour(tenant=tenant, hour=hour, watermark=watermark)
    with transaction.atomic():
        # Moving watermarks up changes no figure, so what readers kept stays right: they walk for late arrivals
        # from their older watermarks, a longer walk to the same answer, until the next rollup write (within the
        # hour: each closed hour is rolled up). Only dropping rows is a write they must see.
        _tenant_locked(tenant)
        CacheRollupDay.objects.filter(tenant=tenant, covers_through_id__lt=watermark).exclude(day__in=due).update(
            covers_through_id=watermark
        )
        if hours:
            # Only the fresh ones: a stale hour of a day its daily rollup serves keeps its staleness.
            CacheRollupHour.objects.filter(
                tenant=tenant, covers_through_id__lt=watermark, hour__in=plan.fresh_hours - set(due_hours)
            ).update(covers_through_id=watermark)
            oldest = day_start(today - (HOURLY_ROLLUP_DAYS - 1) * ONE_DAY)
            dropped, _ = HourlyCacheRollup.objects.filter(tenant=tenant, hour__lt=oldest).delete()
            dropped_markers, _ = CacheRollupHour.objects.filter(tenant=tenant, hour__lt=oldest).delete()
            if dropped or dropped_markers:
                _rollups_changing(tenant)
    return RefreshResult(tenant=tenant, days=due, watermark=watermark, hours=due_hours)


def rollups_refresh_recent(*, today: dt.date | None = None) -> list[RefreshResult]:
    """Every few minutes: each tenant's closed hours so far, and whatever went stale."""
    return rollups_refresh_all(today=today, nightly=False)


def rollups_refresh_all(*, today: dt.date | None = None, nightly: bool = True) -> list[RefreshResult]:
    """Every tenant: yesterday plus whatever went stale, and the hours (`nightly=False`: no new day)."""
    results = []
    for tenant in Tenant.objects.order_by("pk"):
        result = rollups_refresh(tenant=tenant, today=today, days=None if nightly else [])
        if result.days or result.hours:
            logger.info(
                "cache rollups of %s: %d day(s), %d hour(s) recomputed",
                tenant.slug,
                len(result.days),
                len(result.hours),
            )
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
