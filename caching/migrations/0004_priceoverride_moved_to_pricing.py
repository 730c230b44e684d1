"""`PriceOverride` moved to the pricing app: caching forgets it (state only; the table and its rows stay).

Its content type moves with it, so the admin's history of price overrides
(`LogEntry` rows point at the content type) stays attached to them.
"""

from django.db import migrations


def move_content_type(from_label, to_label):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        if not ContentType.objects.filter(app_label=to_label, model="priceoverride").exists():
            ContentType.objects.filter(app_label=from_label, model="priceoverride").update(app_label=to_label)

    return move


class Migration(migrations.Migration):

    dependencies = [
        ('caching', '0003_beat_schedule'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('pricing', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='PriceOverride')],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type("caching", "pricing"), move_content_type("pricing", "caching")),
    ]
