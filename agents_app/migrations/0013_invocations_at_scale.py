"""Invocations at scale: the table partitioned by month on PostgreSQL, and the daily housekeeping for it.

- PostgreSQL: `agents_app_invocation` is rebuilt as a table partitioned by
  `RANGE (queued_at)`, one partition per month, rows, ids, indexes and
  constraints kept (`agents_app.partitions`); backwards, it is rebuilt as one
  plain table. The rows are copied inside the migration's transaction: on a
  large database, run it in a maintenance window. SQLite: nothing happens.
- Beat (both databases, editable in admin): `agents: invocation partitions`
  creates the coming months' partitions, `agents: invocation content
  retention` blanks prompts and responses past INVOCATION_CONTENT_RETENTION_DAYS.
"""

from django.db import migrations
from django.utils import timezone

PARTITIONS = "agents: invocation partitions"
RETENTION = "agents: invocation content retention"
SCHEDULE = [
    (PARTITIONS, "agents_app.tasks.invocation_partitions_ensure", "30", "Creates the invocations table's partitions "
     "for this month and the next three (PostgreSQL; nothing to do on SQLite)."),
    (RETENTION, "agents_app.tasks.invocation_contents_purge", "45", "Blanks prompts and responses older than "
     "INVOCATION_CONTENT_RETENTION_DAYS (0 keeps them); figures stay for reporting."),
]


def partition(apps, schema_editor):
    from agents_app.partitions import invocations_table_partition

    invocations_table_partition(schema_editor.connection)


def unpartition(apps, schema_editor):
    from agents_app.partitions import invocations_table_unpartition

    invocations_table_unpartition(schema_editor.connection)


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, minute, description in SCHEDULE:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab, description=description)
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[PARTITIONS, RETENTION]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('agents_app', '0012_invocation_agents_app__queued__34fcb2_idx'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.RunPython(partition, unpartition),
        migrations.RunPython(schedule, unschedule),
    ]
