from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentPlatformConfig(AppConfig):
    name = "agent_platform"
    verbose_name = "Tenancy"

    def ready(self):
        from agent_platform import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from agent_platform.telemetry import tracing_configure

        tracing_configure()  # off (nothing created) unless the OTEL_* variables ask for traces

        post_migrate.connect(cache_table_create, sender=self)


def cache_table_create(using, **kwargs):
    """The database cache's table (settings' CACHES without REDIS_URL), made wherever `migrate` runs: `make run`,
    the containers, the test database. It holds only expiring counters, so it needs no migration history."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
