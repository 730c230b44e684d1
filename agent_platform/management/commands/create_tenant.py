from django.core.management.base import BaseCommand, CommandError

from agent_platform.errors import ApplicationError
from agent_platform.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        try:
            tenant = tenant_create(slug=slug, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}).")
