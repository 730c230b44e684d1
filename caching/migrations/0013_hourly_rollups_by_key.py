import django.db.models.deletion
from django.db import migrations, models


def forget_hourly_rollups(apps, schema_editor):
    """The hourly rows written so far are not split by API key: drop them with their markers. Those hours are
    read from the invocations until the next refresh (every 5 minutes) rolls them up again, by key."""
    apps.get_model("caching", "HourlyCacheRollup").objects.all().delete()
    apps.get_model("caching", "CacheRollupHour").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agent_platform", "0001_initial"),
        ("agents_app", "0013_invocations_at_scale"),
        ("caching", "0012_hourly_rollup_attempts_and_timings"),
    ]

    operations = [
        migrations.RunPython(forget_hourly_rollups, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="hourlycacherollup",
            name="unique_cache_rollup_per_agent_hour",
        ),
        migrations.AddField(
            model_name="hourlycacherollup",
            name="api_key",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="agent_platform.tenantapikey",
            ),
        ),
        migrations.AddIndex(
            model_name="hourlycacherollup",
            index=models.Index(fields=["agent", "hour"], name="caching_hou_agent_i_ea8508_idx"),
        ),
    ]
