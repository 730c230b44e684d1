"""The migration that added sessions' running totals fills them for the sessions already there, from their
invocation rows (on PostgreSQL, a table partitioned by month), and leaves a session without turns at zero.

Commits for real (`transactional_db`, as migrations need) and leaves the database migrated to the latest
schema, with the migrations' seed data put back after the module (as the partitioning migration's test does).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from agents_app.models import AgentSession
from pricing.costs import money
from tests.agents_app.test_partitions import latest, migrate
from tests.conftest import restore_migrated_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("agents_app", "0013_invocations_at_scale")]


@pytest.fixture(scope="module", autouse=True)
def _database_as_migrations_left_it(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        restore_migrated_data(connection)
        ContentType.objects.clear_cache()


@pytest.fixture
def before_totals():
    yield migrate(BEFORE)
    migrate(latest())
    ContentType.objects.clear_cache()


def test_the_migration_fills_existing_sessions_from_their_rows(before_totals):
    old = before_totals
    tenant = old.get_model("agent_platform", "Tenant").objects.create(slug="totals", name="Totals")
    family, _ = old.get_model("agents_app", "ModelFamily").objects.get_or_create(
        slug="totals-family", defaults={"name": "Totals", "provider": "Test"}
    )
    model = old.get_model("agents_app", "FoundationModel").objects.create(
        model_id="test.totals-v1:0", display_name="Totals", family=family, max_tokens=1000
    )
    agent = old.get_model("agents_app", "Agent").objects.create(tenant=tenant, name="A", system_prompt="x", model=model)
    Session = old.get_model("agents_app", "AgentSession")
    busy = Session.objects.create(tenant=tenant, agent=agent, session_id="busy")
    Session.objects.create(tenant=tenant, agent=agent, session_id="idle")
    Invocation = old.get_model("agents_app", "Invocation")
    rows = [  # status, caching on, cache hit, input, read, write, output, cost with cache, output cost, net savings
        ("succeeded", True, False, 100, 0, 2000, 50, "0.0078", "0.00075", "-0.0015"),
        ("succeeded", True, True, 100, 2000, 0, 70, "0.0009", "0.00105", "0.0054"),
        ("failed", True, None, 999, 0, 999, 0, "0", "0", "0"),
        ("succeeded", False, None, 400, 0, 0, 10, "0.0012", "0.00015", "0"),
        ("queued", False, None, 0, 0, 0, 0, "0", "0", "0"),
    ]
    for n, (status, caching, hit, i, r, w, o, cost, out, net) in enumerate(rows):
        row = Invocation.objects.create(
            tenant=tenant,
            agent=agent,
            session=busy,
            prompt=f"p{n}",
            status=status,
            caching_enabled=caching,
            cache_hit=hit,
            input_tokens=i,
            cache_read_tokens=r,
            cache_write_tokens=w,
            output_tokens=o,
            cost_with_cache=Decimal(cost),
            output_cost=Decimal(out),
            net_savings=Decimal(net),
        )
        # Two months apart: on PostgreSQL the rows sit in different partitions.
        month = dt.datetime(2026, 9 + n % 2, 3, tzinfo=dt.UTC)
        Invocation.objects.filter(pk=row.pk).update(queued_at=month)

    migrate(latest())

    filled = AgentSession.objects.get(session_id="busy")
    assert (filled.succeeded_invocations, filled.failed_invocations) == (3, 1)
    assert (filled.caching_enabled_invocations, filled.cache_hits) == (2, 1)
    assert (filled.input_tokens, filled.cache_read_tokens, filled.cache_write_tokens) == (600, 2000, 2000)
    assert filled.output_tokens == 130
    assert money(filled.cost_with_cache) == "0.009900" and money(filled.output_cost) == "0.001950"
    assert money(filled.net_savings) == "0.003900"
    idle = AgentSession.objects.get(session_id="idle")
    assert (idle.succeeded_invocations, idle.input_tokens, money(idle.cost_with_cache)) == (0, 0, "0.000000")
