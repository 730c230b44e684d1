"""The sweeper's task was renamed after the service it calls: point its beat row at the new name."""

from django.db import migrations
from django.utils import timezone

OLD = "agents_app.tasks.requeue_stale_invocations"
NEW = "agents_app.tasks.invocations_requeue_stale"


def rename(apps, old, new):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=old).update(task=new)
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forward(apps, schema_editor):
    rename(apps, OLD, NEW)


def backward(apps, schema_editor):
    rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("agents_app", "0004_invocation_requeue")]

    operations = [migrations.RunPython(forward, backward)]
