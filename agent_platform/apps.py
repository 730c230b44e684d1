from django.apps import AppConfig


class AgentPlatformConfig(AppConfig):
    name = "agent_platform"
    verbose_name = "Tenancy"

    def ready(self):
        from agent_platform import schema  # noqa: F401  (registers the OpenAPI auth extension)
