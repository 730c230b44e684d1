"""Roll up past days: `backfill_rollups [--from DATE] [--to DATE] [--tenant SLUG]`.

Defaults: from each tenant's first invocation to yesterday (UTC). Days that went
stale elsewhere (late invocations, unfinished ones) are recomputed too, and so
are the hourly rollups of the range's recent days: `--to` may be today, whose
closed hours are then recomputed (what deleting invocations asks for). Safe to
run again, or while the nightly task runs.
"""

import datetime as dt
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from agent_platform.models import Tenant
from caching import services
from caching.periods import ONE_DAY, days_between, first_invocation_day, utc_today


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


BAR_FORMAT = "{desc} {bar} {n_fmt}/{total_fmt} days [{elapsed}<{remaining}]"


def grow_bar(bar, planned: int, due: list) -> None:
    """The refresh may add stale days to the ones asked for: the bar grows to match."""
    if len(due) > planned:
        bar.total += len(due) - planned
        bar.refresh()


class Command(BaseCommand):
    help = "Recompute daily cache rollups for past days (with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="day_from", type=iso_date, help="First UTC day (default: first invocation).")
        parser.add_argument("--to", dest="day_to", type=iso_date, help="Last UTC day (default: yesterday).")
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, day_from, day_to, tenant, no_progress, **options):
        today = utc_today()
        yesterday = today - ONE_DAY
        day_to = day_to or yesterday
        if day_to > today:
            raise CommandError(f"--to must be at most today ({today}, UTC).")
        if day_from and day_from > day_to:
            raise CommandError("--from must not be after --to.")
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants:
                raise CommandError(f"no tenant with slug {tenant!r}")

        plans = []
        for t in tenants:
            first = day_from or first_invocation_day(tenant=t)
            plans.append((t, list(days_between(first, day_to)) if first else []))
        hourly_from = today - (services.HOURLY_ROLLUP_DAYS - 1) * ONE_DAY
        closed = [(t, [day for day in days if day < today], days) for t, days in plans]

        planned = sum(len(days) for _, days, _ in closed)
        total_days = 0
        # No bar for nothing to do (tqdm draws an unknown total as a garbled line), nor where nobody watches it:
        # `disable=None` is tqdm's "only on a terminal".
        bar = tqdm(
            total=planned,
            unit="day",
            bar_format=BAR_FORMAT,
            disable=True if no_progress or not planned else None,
            file=self.stderr._out,
        )
        with bar:
            for t, days, asked in closed:
                bar.set_description_str(t.slug)
                result = services.rollups_refresh(
                    tenant=t,
                    days=days,
                    recompute_hours_of=[day for day in asked if day >= hourly_from],
                    today=today,
                    on_plan=partial(grow_bar, bar, len(days)),
                    on_day=lambda day: bar.update(1),
                )
                total_days += len(result.days)
                if result.days:
                    first, last = result.days[0], result.days[-1]
                    self.stdout.write(f"{t.slug}: {len(result.days)} day(s) rolled up, {first} to {last}.")
        if not total_days:
            self.stdout.write(
                f"Nothing to roll up: no closed day (up to {day_to}) has invocations yet. "
                "Today's are read live and rolled up after midnight UTC."
            )
            return
        self.stdout.write(f"Rolled up {total_days} day(s) for {len(plans)} tenant(s).")
