"""The migration that gave each rolled-up day its tenant's figures fills them from the agents' rollup rows of
the days already rolled up, and leaves a day without rows at zero.

Commits for real (`transactional_db`, as migrations need) and leaves the database migrated to the latest
schema, with the migrations' seed data put back after the module (as the partitioning migration's test does).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from caching.models import CacheRollupDay
from pricing.costs import money
from tests.agents_app.test_partitions import latest, migrate
from tests.conftest import restore_migrated_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("caching", "0013_hourly_rollups_by_key")]
DAY = dt.date(2026, 11, 3)


@pytest.fixture(scope="module", autouse=True)
def _database_as_migrations_left_it(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        restore_migrated_data(connection)
        ContentType.objects.clear_cache()


@pytest.fixture
def before_figures():
    yield migrate(BEFORE)
    migrate(latest())
    ContentType.objects.clear_cache()


def test_the_migration_sums_each_rolled_up_day_from_its_agents_rows(before_figures):
    old = before_figures
    tenant = old.get_model("agent_platform", "Tenant").objects.create(slug="figures", name="Figures")
    other = old.get_model("agent_platform", "Tenant").objects.create(slug="others", name="Others")
    family, _ = old.get_model("agents_app", "ModelFamily").objects.get_or_create(
        slug="figures-family", defaults={"name": "Figures", "provider": "Test"}
    )
    model = old.get_model("agents_app", "FoundationModel").objects.create(
        model_id="test.figures-v1:0", display_name="Figures", family=family, max_tokens=1000
    )
    Agent = old.get_model("agents_app", "Agent")
    first, second = (Agent.objects.create(tenant=tenant, name=n, system_prompt="x", model=model) for n in "AB")
    outsider = Agent.objects.create(tenant=other, name="C", system_prompt="x", model=model)
    Daily = old.get_model("caching", "DailyCacheRollup")
    Marker = old.get_model("caching", "CacheRollupDay")
    now = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    rows = [(first, 3, 1200, "0.004200"), (second, 2, 800, "0.000150"), (outsider, 9, 9, "9")]
    for agent, total, tokens, cost in rows:
        Daily.objects.create(
            tenant_id=agent.tenant_id,
            agent=agent,
            day=DAY,
            rolled_up_at=now,
            total_invocations=total,
            failed_invocations=1,
            cache_read_tokens=tokens,
            cost_with_cache=Decimal(cost),
            attempts=total + 1,
        )
    for t, day in [(tenant, DAY), (tenant, DAY + dt.timedelta(days=1)), (other, DAY)]:
        Marker.objects.create(tenant=t, day=day, covers_through_id=10, rolled_up_at=now)

    migrate(latest())

    filled = CacheRollupDay.objects.get(tenant_id=tenant.pk, day=DAY)
    assert (filled.total_invocations, filled.failed_invocations, filled.attempts) == (5, 2, 7)
    assert filled.cache_read_tokens == 2000 and money(filled.cost_with_cache) == "0.004350"
    assert filled.covers_through_id == 10
    assert CacheRollupDay.objects.get(tenant_id=other.pk, day=DAY).total_invocations == 9
    empty = CacheRollupDay.objects.get(tenant_id=tenant.pk, day=DAY + dt.timedelta(days=1))
    assert (empty.total_invocations, empty.cache_read_tokens, money(empty.cost_with_cache)) == (0, 0, "0.000000")
