from django.conf import settings
from django.core.management.base import BaseCommand

from agents_app import demo


class Command(BaseCommand):
    help = "Create the demo tenant, its admin user and agents on Claude and Nova (idempotent); print login and a key."

    def handle(self, *args, **options):
        tenant, key = demo.seed_demo()
        agents = ", ".join(tenant.agents.values_list("name", flat=True))
        self.stdout.write(f"Demo tenant '{tenant.slug}' with agents: {agents}")
        self.stdout.write(f"Admin:    {settings.SITE_URL}/admin/")
        self.stdout.write(f"Login:    {demo.DEMO_USERNAME} / {demo.DEMO_PASSWORD}")
        self.stdout.write(f"API:      {settings.SITE_URL}/api/  (docs at /api/docs/)")
        self.stdout.write("API key (the previous demo key is revoked):")
        self.stdout.write(key)
