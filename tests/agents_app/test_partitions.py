"""The invocations table by month on PostgreSQL: the migration (with rows in place, both ways), the monthly
upkeep, archiving a month with its figures kept; a no-op on SQLite.

The migration tests commit for real (`transactional_db`, as migrations need)
and leave the database migrated to the latest schema, with the migrations'
seed data put back after the module (the pattern of the pricing migration test).
"""

import datetime as dt
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents_app import partitions
from agents_app.models import Invocation
from caching.periods import Period, day_start
from caching.serializers import agent_cache_stats_json
from caching.stats import agent_cache_stats
from tests.caching.stats_data import add_invocation
from tests.conftest import restore_migrated_data

BEFORE = [("agents_app", "0012_invocation_agents_app__queued__34fcb2_idx")]
UTC = dt.UTC


def migrate(targets):
    """Migrate to `targets`; the app registry of the schema the database then has."""
    MigrationExecutor(connection).migrate(targets)
    loader = MigrationExecutor(connection).loader
    applied = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    return loader.project_state(applied).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture(scope="module", autouse=True)
def _database_as_migrations_left_it(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        restore_migrated_data(connection)
        ContentType.objects.clear_cache()


@pytest.fixture
def migrations_undone():
    """The database before the partitioning migration; migrated to the latest again afterwards, whatever happened."""
    yield migrate(BEFORE)
    migrate(latest())
    ContentType.objects.clear_cache()


def table_sql() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [partitions.TABLE])
        return cursor.fetchone()[0]


def test_no_foreign_key_points_at_invocations():
    """A partitioned table cannot be referenced by id alone: a model referring to an invocation must say
    db_constraint=False (the migration refuses to run otherwise)."""
    referencing = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.is_relation
        and field.concrete
        and field.related_model is Invocation
        and getattr(field, "db_constraint", False)
    ]
    assert referencing == []


def old_history(old_apps):
    """A tenant, an agent and invocations over three months, written through the schema before the migration."""
    tenant = old_apps.get_model("agent_platform", "Tenant").objects.create(slug="parted", name="Parted")
    family, _ = old_apps.get_model("agents_app", "ModelFamily").objects.get_or_create(
        slug="parted-family", defaults={"name": "Parted", "provider": "Test"}
    )
    model = old_apps.get_model("agents_app", "FoundationModel").objects.create(
        model_id="test.parted-v1:0", display_name="Parted", family=family, max_tokens=1000
    )
    agent = old_apps.get_model("agents_app", "Agent").objects.create(
        tenant=tenant, name="A", system_prompt="x", model=model
    )
    session = old_apps.get_model("agents_app", "AgentSession").objects.create(
        tenant=tenant, agent=agent, session_id="s"
    )
    Old = old_apps.get_model("agents_app", "Invocation")
    ids = []
    for n, when in enumerate([dt.datetime(2026, 9, 3, tzinfo=UTC), dt.datetime(2026, 10, 30, tzinfo=UTC)] * 3):
        row = Old.objects.create(
            tenant=tenant, agent=agent, session=session, prompt=f"p{n}", status="succeeded", input_tokens=n
        )
        Old.objects.filter(pk=row.pk).update(queued_at=when)
        ids.append(row.pk)
    return ids


def rows():
    return sorted(Invocation.objects.values_list("pk", "queued_at", "input_tokens", "prompt"))


@pytest.mark.postgres
@pytest.mark.database("postgresql")
@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_the_table_with_its_rows_and_back(migrations_undone):
    ids = old_history(migrations_undone)
    assert not partitions.is_partitioned()

    migrate(latest())

    assert partitions.is_partitioned()
    assert [pk for pk, *_ in rows()] == ids
    months = [p.month for p in partitions.invocation_partitions()]
    assert months[:3] == [dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)] and months[-1] is None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT tableoid::regclass::text FROM {partitions.TABLE} WHERE queued_at < '2026-10-01'"
        )
        assert cursor.fetchall() == [("agents_app_invocation_p2026_09",)]
        # The primary key carries the partition key; ids keep coming from the one sequence.
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [partitions.TABLE],
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, queued_at)"
    before = rows()
    invocation = Invocation.objects.filter(pk=ids[0]).first()
    invocation.pk = None
    invocation.save()
    assert invocation.pk > max(ids)

    migrate(BEFORE)

    assert not partitions.is_partitioned()
    assert rows()[: len(before)] == before and len(rows()) == len(before) + 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [partitions.TABLE],
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id)"


@pytest.mark.database("sqlite")
@pytest.mark.django_db(transaction=True)
def test_the_migration_changes_nothing_on_sqlite(migrations_undone):
    ids = old_history(migrations_undone)
    schema = table_sql()

    migrate(latest())

    assert table_sql() == schema and [pk for pk, *_ in rows()] == ids
    assert not partitions.is_partitioned() and partitions.invocation_partitions_ensure() == []
    out = StringIO()
    call_command("invocation_partitions", "--ensure", stdout=out)
    assert "not partitioned" in out.getvalue()


@pytest.mark.postgres
@pytest.mark.database("postgresql")
@pytest.mark.django_db
def test_the_upkeep_creates_coming_months_and_moves_rows_out_of_the_default_partition(tenant, agent):
    far = add_invocation(agent, dt.datetime(2031, 2, 14, tzinfo=UTC), input=7)

    created = partitions.invocation_partitions_ensure(today=dt.date(2031, 2, 1), months_ahead=1)

    assert created == ["agents_app_invocation_p2031_02", "agents_app_invocation_p2031_03"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {partitions.TABLE} WHERE id = %s", [far.pk])
        assert cursor.fetchone()[0] == "agents_app_invocation_p2031_02"
    assert partitions.invocation_partitions_ensure(today=dt.date(2031, 2, 1), months_ahead=1) == []


@pytest.mark.postgres
@pytest.mark.database("postgresql")
@pytest.mark.django_db  # (PostgreSQL detaches inside the test's transaction, and the rollback attaches it again)
def test_an_archived_month_leaves_the_table_and_keeps_its_figures(tenant, agent):
    last_month = (dt.datetime.now(UTC).replace(day=1) - dt.timedelta(days=1)).date().replace(day=1)
    for day in (3, 17):
        add_invocation(agent, dt.datetime.combine(last_month.replace(day=day), dt.time(9), UTC), input=day, read=50)
    period = Period(last_month, last_month.replace(day=28))
    before = agent_cache_stats_json(agent_cache_stats(tenant=tenant, agent=agent, period=period))
    partitions.invocation_partitions_ensure(today=last_month, months_ahead=0)  # (test databases start this month)

    out = StringIO()
    call_command("invocation_partitions", "--detach", f"{last_month:%Y-%m}", stdout=out)

    name = partitions.partition_name(last_month)
    assert f"Detached {name}" in out.getvalue() and "pg_dump" in out.getvalue()
    assert not Invocation.objects.filter(queued_at__lt=day_start(partitions.next_month(last_month))).exists()
    after = agent_cache_stats_json(agent_cache_stats(tenant=tenant, agent=agent, period=period))
    assert after["input_tokens"] == before["input_tokens"] == 20
    assert {k: v for k, v in after.items() if k != "sessions"} == {k: v for k, v in before.items() if k != "sessions"}


@pytest.mark.postgres
@pytest.mark.database("postgresql")
@pytest.mark.django_db
def test_a_month_not_over_is_not_detached(tenant):
    this_month = dt.datetime.now(UTC).date().replace(day=1)
    with pytest.raises(Exception, match="not over"):
        call_command("invocation_partitions", "--detach", f"{this_month:%Y-%m}", stdout=StringIO())
