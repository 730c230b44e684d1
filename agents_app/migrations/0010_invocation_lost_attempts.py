"""Attempts lost with a dead worker and the wait for a worker, on the invocation; the sweeper runs every 10 s.

Workers now renew their session lease while a turn runs, so a dead worker's turn can be taken over as soon as
its lease lapses (30 s); the sweeper that sends its task again runs often enough for the session to resume
well within a minute. A schedule an operator changed in the admin is left alone.
"""

from django.db import migrations, models
from django.utils import timezone

SWEEPER = "agents_app.tasks.invocations_requeue_stale"


def sweep_every(apps, old, new):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    shipped = PeriodicTask.objects.filter(task=SWEEPER, interval__every=old, interval__period="seconds")
    if not shipped.exists():
        return
    every, _ = IntervalSchedule.objects.get_or_create(every=new, period="seconds")
    shipped.update(interval=every)
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forward(apps, schema_editor):
    sweep_every(apps, 30, 10)


def backward(apps, schema_editor):
    sweep_every(apps, 10, 30)


class Migration(migrations.Migration):

    dependencies = [
        ('agents_app', '0009_deployment_superseded_status'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='invocation',
            name='lost_attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Attempts lost with a dead worker: the turn ran again, so Bedrock may have billed it twice.'),
        ),
        migrations.AddField(
            model_name='invocation',
            name='queue_wait_ms',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(forward, backward),
    ]
