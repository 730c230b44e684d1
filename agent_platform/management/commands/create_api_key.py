from django.core.management.base import BaseCommand, CommandError

from agent_platform.errors import ApplicationError
from agent_platform.models import Role, Tenant
from agent_platform.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant. The key is printed once, alone on the last line; only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--role", default=Role.ADMIN, choices=Role.values)

    def handle(self, *args, slug, name, role, **options):
        try:
            tenant = Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with slug {slug!r}.") from None
        try:
            api_key, key = api_key_create(tenant=tenant, name=name, role=role)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"API key {api_key.prefix} ({role}) for tenant {tenant.slug}. Send it as 'Authorization: Api-Key <key>':"
        )
        self.stdout.write(key)
