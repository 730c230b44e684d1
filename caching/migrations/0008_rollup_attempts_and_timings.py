"""Attempts and timing histograms in the daily rollups, filled in for the days already rolled up.

The new columns of existing rollup rows are computed from their invocations here (one grouped read of the
invocations), so rollup-based totals keep equalling raw ones without a backfill. The bucket bounds are
frozen here as they were when this migration was written (`caching.histograms.BUCKETS`).
"""

import datetime as dt

from django.db import migrations, models
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
HISTOGRAMS = {"duration": ("latency_ms", "succeeded"), "queue_wait": ("queue_wait_ms", "finished")}


def fill_in(apps, schema_editor):
    DailyCacheRollup = apps.get_model("caching", "DailyCacheRollup")
    Invocation = apps.get_model("agents_app", "Invocation")
    if not DailyCacheRollup.objects.exists():
        return
    finished = Q(status__in=["succeeded", "failed"])
    observed = {"succeeded": Q(status="succeeded"), "finished": finished}
    sums = {
        # Before "attempts": once an aggregate takes that name, `attempts` means the aggregate, not the column.
        "retried_attempts": Sum(F("attempts") - 1, filter=finished & Q(attempts__gt=0)),
        "attempts": Sum("attempts", filter=finished),
        "lost_attempts": Sum("lost_attempts", filter=finished),
    }
    for histogram, (source, which) in HISTOGRAMS.items():
        counted = observed[which] & Q(**{f"{source}__isnull": False})
        for bound in BUCKETS:
            name = f"{histogram}_le_{format(bound, 'g').replace('.', '_')}"
            sums[name] = Count("pk", filter=counted & Q(**{f"{source}__lte": round(bound * 1000)}))
        sums[f"{histogram}_count"] = Count("pk", filter=counted)
        sums[f"{histogram}_ms_sum"] = Sum(source, filter=counted)
    rows = {
        (row.pop("agent_id"), row.pop("day")): row
        for row in Invocation.objects.annotate(day=TruncDate("queued_at", tzinfo=dt.UTC))
        .values("agent_id", "day")
        .annotate(**sums)
        .order_by()
    }
    rollups = list(DailyCacheRollup.objects.all())
    for rollup in rollups:
        for name, value in rows.get((rollup.agent_id, rollup.day), {}).items():
            setattr(rollup, name, value or 0)
    DailyCacheRollup.objects.bulk_update(rollups, list(sums), batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('caching', '0007_rollup_miss_reasons'),
        ('agents_app', '0010_invocation_lost_attempts'),
    ]

    operations = [
        migrations.AddField(
            model_name='dailycacherollup',
            name='attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_0_1',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_0_25',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_0_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_1',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_10',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_120',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_2_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_30',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_300',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_le_60',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='duration_ms_sum',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='lost_attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_0_1',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_0_25',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_0_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_1',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_10',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_120',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_2_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_30',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_300',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_5',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_le_60',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='queue_wait_ms_sum',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='dailycacherollup',
            name='retried_attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(fill_in, migrations.RunPython.noop),
    ]
