from django.apps import AppConfig
from django.db.models.signals import pre_delete


def _agent_deleting(sender, instance, **kwargs):
    from caching.services import agent_rollups_drop

    agent_rollups_drop(agent=instance)


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Prompt caching"

    def ready(self):
        # Every way an agent is deleted (the API's service, the admin, its tenant's deletion) goes through the
        # model's delete, inside its transaction: the tenant's rolled-up days drop the agent's share there.
        pre_delete.connect(_agent_deleting, sender="agents_app.Agent", dispatch_uid="caching.agent_rollups_drop")
