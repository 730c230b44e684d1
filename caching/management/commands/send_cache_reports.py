"""Store the cache reports that are due and mail them now: `send_cache_reports [--tenant SLUG]`."""

from django.core.management.base import BaseCommand, CommandError

from agent_platform.models import Tenant
from caching import services


class Command(BaseCommand):
    help = "Create the due per-tenant cache reports (CACHE_REPORT_CADENCE_DAYS) and email them to tenant admins."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args, tenant, **options):
        only = None
        if tenant:
            only = Tenant.objects.filter(slug=tenant).first()
            if only is None:
                raise CommandError(f"no tenant with slug {tenant!r}")
        reports = services.cache_reports_create_due(tenant=only)
        emailed = 0
        for report in reports:
            recipients = services.cache_report_send(report=report)
            if recipients:
                emailed += 1
                self.stdout.write(f"{report}: emailed to {len(recipients)} ({', '.join(recipients)})")
            else:
                self.stdout.write(
                    f"{report}: stored, not emailed: no admin of {report.tenant.name} has an email address "
                    "(it is sent once one has)"
                )
        self.stdout.write(f"{emailed} of {len(reports)} report(s) emailed.")
