"""Ship the cache schedule to django-celery-beat: editable afterwards in admin (Periodic tasks).

- `caching: daily cache rollup` at 00:15 UTC every day (`caching.tasks.rollup_cache_stats`);
- `caching: weekly cache reports` on Monday at 07:00 UTC (`caching.tasks.send_cache_reports`).

An admin's later edits are kept: the forward step only creates what is missing.
"""

from django.db import migrations

ROLLUP = "caching: daily cache rollup"
REPORTS = "caching: weekly cache reports"

SCHEDULE = [
    (ROLLUP, "caching.tasks.rollup_cache_stats", {"minute": "15", "hour": "0", "day_of_week": "*"},
     "Rolls up yesterday and any day that changed since it was rolled up."),
    (REPORTS, "caching.tasks.send_cache_reports", {"minute": "0", "hour": "7", "day_of_week": "1"},
     "Stores each tenant's cache report when one is due (CACHE_REPORT_CADENCE_DAYS) and mails it to the admins."),
]


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, when, description in SCHEDULE:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            day_of_month="*", month_of_year="*", timezone="UTC", **when
        )
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab, description=description, enabled=True)
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[ROLLUP, REPORTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("caching", "0002_rollups_and_reports"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
