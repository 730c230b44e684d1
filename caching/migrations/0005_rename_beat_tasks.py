"""The scheduled tasks were renamed after the services they call: point the beat rows at the new names.

Rows are matched by task, not by name, so a schedule an admin renamed or added by hand follows too.
"""

from django.db import migrations
from django.utils import timezone

RENAMED = {
    "caching.tasks.rollup_cache_stats": "caching.tasks.rollups_refresh_all",
    "caching.tasks.send_cache_reports": "caching.tasks.cache_reports_create_due",
    "caching.tasks.send_cache_report": "caching.tasks.cache_report_send",
}


def rename(apps, mapping):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for old, new in mapping.items():
        PeriodicTask.objects.filter(task=old).update(task=new)
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forward(apps, schema_editor):
    rename(apps, RENAMED)


def backward(apps, schema_editor):
    rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("caching", "0004_priceoverride_moved_to_pricing")]

    operations = [migrations.RunPython(forward, backward)]
