"""The invocations table's monthly partitions on PostgreSQL: list, create ahead, detach a month for archiving.

    invocation_partitions                     list the partitions (month, estimated rows)
    invocation_partitions --ensure [--months N]   create this month's and the next N months' (beat does it daily)
    invocation_partitions --detach 2026-01    detach a closed month, after making sure every day of it is
                                              rolled up (the figures stay in the rollups), then print how to
                                              archive and drop the detached table

It lives in reporting because a month may leave only once reporting no longer
needs its rows. On SQLite it says so and does nothing.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db.models.functions import TruncDate

from agent_platform.models import Tenant
from agents_app import partitions
from agents_app.models import Invocation
from caching import services
from caching.periods import UTC, day_start
from caching.rollups import rollup_freshness


def month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"not a month (YYYY-MM): {value!r}") from None


def month_rolled_up(first: dt.date) -> None:
    """Roll up every day of the month that has invocations and no fresh daily rollup; refuse if one stays open."""
    start, end = day_start(first), day_start(partitions.next_month(first))
    last = partitions.next_month(first) - dt.timedelta(days=1)
    rows = (
        Invocation.objects.filter(queued_at__gte=start, queued_at__lt=end)
        .annotate(day=TruncDate("queued_at", tzinfo=UTC))
        .values_list("tenant_id", "day")
        .distinct()
        .order_by()
    )
    days_of: dict[int, set[dt.date]] = {}
    for tenant_id, day in rows:
        days_of.setdefault(tenant_id, set()).add(day)
    for tenant in Tenant.objects.filter(pk__in=list(days_of)):
        fresh = rollup_freshness(tenant_from={tenant.pk: first}, day_to=last).fresh.get(tenant.pk, set())
        if missing := sorted(days_of[tenant.pk] - fresh):
            services.rollups_refresh(tenant=tenant, days=missing, hours=False)
            fresh = rollup_freshness(tenant_from={tenant.pk: first}, day_to=last).fresh.get(tenant.pk, set())
            if still := sorted(days_of[tenant.pk] - fresh):
                raise CommandError(
                    f"{tenant.slug}: {len(still)} day(s) of {first:%Y-%m} still have open invocations "
                    f"(first {still[0]}); detach the month once they have finished."
                )


class Command(BaseCommand):
    help = "List, create or detach the invocations table's monthly partitions (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--ensure", action="store_true", help="Create this month's and the coming months'.")
        parser.add_argument("--months", type=int, default=partitions.MONTHS_AHEAD, help="Months ahead (--ensure).")
        parser.add_argument("--detach", type=month, metavar="YYYY-MM", help="Detach this closed month's partition.")

    def handle(self, *args, ensure, months, detach, **options):
        if not partitions.is_partitioned():
            self.stdout.write("The invocations table is not partitioned (PostgreSQL only); nothing to do.")
            return
        if months < 0:
            raise CommandError("--months must not be negative.")
        if ensure:
            created = partitions.invocation_partitions_ensure(months_ahead=months)
            self.stdout.write(f"Created {len(created)} partition(s): {', '.join(created) or 'none needed'}.")
        if detach:
            if partitions.next_month(detach) > partitions.month_start(dt.datetime.now(UTC)):
                raise CommandError(f"{detach:%Y-%m} is not over yet.")
            month_rolled_up(detach)
            try:
                name = partitions.invocation_partition_detach(month=detach)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(
                f"Detached {name}. Its figures stay in the rollups. Archive and drop it with:\n"
                f"    pg_dump --table={name} --format=custom --file={name}.dump  <database>\n"
                f"    psql <database> -c 'DROP TABLE {name}'"
            )
        if not ensure and not detach:
            for partition in partitions.invocation_partitions():
                label = f"{partition.month:%Y-%m}" if partition.month else "default"
                self.stdout.write(f"{label:8} {partition.name}  ~{max(partition.rows, 0):,} rows")
