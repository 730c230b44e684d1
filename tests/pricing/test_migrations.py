"""Moving `PriceOverride` from the caching app to pricing changes migration state only: no row is lost.

The test migrates the database back to the schema before the move, writes an
override through that schema's models, migrates forward and reads it through
`pricing.models`, then back again. It commits for real (`transactional_db`,
as migrations need on SQLite) and leaves the database migrated to the latest
schema, with the migrations' seed data put back after the module.
"""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pricing.models import PriceOverride
from pricing.selectors import model_prices
from tests.conftest import restore_migrated_data

MODEL_ID = "test.moved-model-v1:0"
BEFORE_THE_MOVE = [("caching", "0003_beat_schedule"), ("pricing", None)]


def migrate(targets) -> object:
    """Migrate to `targets`; the app registry of the schema the database then has."""
    MigrationExecutor(connection).migrate(targets)
    loader = MigrationExecutor(connection).loader
    applied = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    return loader.project_state(applied).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture(scope="module", autouse=True)
def _database_as_migrations_left_it(django_db_blocker):
    """The test's flush empties the tables migrations seeded (the catalog); later tests need them back."""
    yield
    with django_db_blocker.unblock():
        restore_migrated_data(connection)
        ContentType.objects.clear_cache()


@pytest.fixture
def migrations_undone():
    """The database at the schema before the move; migrated to the latest again afterwards, whatever happened."""
    yield migrate(BEFORE_THE_MOVE)
    migrate(latest())
    ContentType.objects.clear_cache()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_price_overrides_survive_the_move_to_the_pricing_app(migrations_undone):
    old_apps = migrations_undone
    with pytest.raises(LookupError):
        old_apps.get_model("pricing", "PriceOverride")
    tenant = old_apps.get_model("agent_platform", "Tenant").objects.create(slug="moved", name="Moved")
    # Its own catalog rows: an earlier transactional test may have flushed the ones migrations seeded.
    family, _ = old_apps.get_model("agents_app", "ModelFamily").objects.get_or_create(
        slug="moved-family", defaults={"name": "Moved", "provider": "Test"}
    )
    model = old_apps.get_model("agents_app", "FoundationModel").objects.create(
        model_id=MODEL_ID, display_name="Moved model", family=family, max_tokens=1000
    )
    old = old_apps.get_model("caching", "PriceOverride").objects.create(
        tenant=tenant, model=model, input_per_mtok=Decimal("2.5"), cache_write_1h_per_mtok=Decimal("5.125")
    )
    # As on a database that has had the admin: the model's content type, which its admin history points at.
    content_type, _ = old_apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="caching", model="priceoverride"
    )

    migrate(latest())

    moved = PriceOverride.objects.select_related("tenant", "model").get(pk=old.pk)
    assert (moved.tenant.slug, moved.model.model_id) == ("moved", MODEL_ID)
    assert (moved.input_per_mtok, moved.cache_write_1h_per_mtok) == (Decimal("2.5"), Decimal("5.125"))
    assert moved.output_per_mtok is moved.cache_read_per_mtok is moved.cache_write_per_mtok is None
    assert moved.updated_at == old.updated_at
    prices = model_prices(tenant=moved.tenant, model=moved.model)
    assert (prices.input, prices.cache_write_1h, prices.source) == (Decimal("2.5"), Decimal("5.125"), "override")
    assert PriceOverride._meta.db_table == "caching_priceoverride"
    assert ContentType.objects.get(app_label="pricing", model="priceoverride").pk == content_type.pk
    assert not ContentType.objects.filter(app_label="caching", model="priceoverride").exists()

    back_apps = migrate(BEFORE_THE_MOVE)

    again = back_apps.get_model("caching", "PriceOverride").objects.get(pk=old.pk)
    assert (again.tenant_id, again.model_id, again.input_per_mtok) == (tenant.pk, model.pk, Decimal("2.5"))
    assert back_apps.get_model("contenttypes", "ContentType").objects.get(pk=content_type.pk).app_label == "caching"
