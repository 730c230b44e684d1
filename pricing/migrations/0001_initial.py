"""`PriceOverride` moved here from the caching app: state only, the table and its rows stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('agent_platform', '0001_initial'),
        ('agents_app', '0001_initial'),
        # The table was created by caching's first migration and keeps its name.
        ('caching', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PriceOverride',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('input_per_mtok', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ('output_per_mtok', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ('cache_read_per_mtok', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ('cache_write_per_mtok', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ('cache_write_1h_per_mtok', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='price_overrides', to='agents_app.foundationmodel')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='price_overrides', to='agent_platform.tenant')),
                    ],
                    options={
                        'db_table': 'caching_priceoverride',
                        'constraints': [models.UniqueConstraint(fields=('tenant', 'model'), name='unique_price_override')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
