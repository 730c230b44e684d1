"""Reads compiled once (`caching.statements`) return what the ORM's own querysets return, filter by filter."""

import datetime as dt

import pytest
from django.db.models import Max, Q
from django.db.models.functions import TruncHour

from agents_app.models import Invocation
from caching.models import CacheRollupDay
from caching.periods import UTC
from caching.statements import unfiltered, where_sql
from tests.caching.stats_data import add_invocation

pytestmark = pytest.mark.postgres

START = dt.datetime(2026, 11, 20, 9, 15, tzinfo=dt.UTC)


@pytest.fixture
def invocations(agent, other_agent):
    for n in range(6):
        add_invocation(agent if n % 2 else other_agent, START + dt.timedelta(minutes=50 * n), input=n + 1)


def test_a_grouped_read_with_parameters_in_its_grouping_matches_the_orm(invocations, agent):
    by_hour = Invocation.objects.values("agent_id", hour=TruncHour("queued_at", tzinfo=UTC))
    shape = by_hour.annotate(newest=Max("pk")).values_list("agent_id", "hour", "newest").order_by()
    statement = unfiltered(shape)

    for where in (Q(agent=agent), Q(queued_at__gte=START + dt.timedelta(hours=2)), Q(pk__gt=0)):
        assert sorted(statement.converted(where)) == sorted(shape.filter(where))


def test_every_kind_of_where_selects_what_the_orm_selects(invocations, agent, other_agent):
    statement = unfiltered(Invocation.objects.values_list("pk").order_by())
    hour = dt.timedelta(hours=1)
    wheres = [
        Q(agent_id=agent.pk),
        Q(agent=other_agent, queued_at__lt=START + 2 * hour),
        Q(tenant_id__in=[agent.tenant_id, agent.tenant_id, 0], queued_at__gte=START + hour),
        Q(queued_at__gte=START, queued_at__lt=START + hour) | Q(queued_at__gte=START + 3 * hour, agent=agent),
        (Q(agent=agent) | Q(agent=other_agent)) & Q(queued_at__lte=START + 2 * hour, pk__gt=0),
        Q(queued_at=START + dt.timedelta(minutes=100)),
        Q(session_id__in=[]) | Q(agent=agent),
        Q(session_id__in=[]),
        Q(),
    ]
    for where in wheres:
        assert sorted(statement.rows(where)) == sorted(Invocation.objects.filter(where).values_list("pk")), where


def test_an_unindexed_field_selects_the_same_rows(invocations, agent):
    statement = unfiltered(Invocation.objects.values_list("pk").order_by())
    where = Q(pk__gt=0, tenant_id__in=[agent.tenant_id], agent_id=agent.pk)

    sql, _ = where_sql(Invocation, where, unindexed=("tenant_id", "agent_id"))

    assert '("agents_app_invocation"."agent_id" + 0) = %s' in sql
    assert '"agents_app_invocation"."id" > %s' in sql
    assert sorted(statement.rows(where, unindexed=("tenant_id", "agent_id"))) == sorted(
        Invocation.objects.filter(where).values_list("pk")
    )


def test_dates_compare_as_the_orm_compares_them(tenant):
    days = [dt.date(2026, 11, 28) + dt.timedelta(days=n) for n in range(4)]
    for day in days:
        CacheRollupDay.objects.create(tenant=tenant, day=day, rolled_up_at=START)
    statement = unfiltered(CacheRollupDay.objects.values_list("day").order_by())
    where = Q(tenant_id__in=[tenant.pk], day__gte=days[1], day__lte=days[2])

    assert sorted(statement.converted(where)) == [(days[1],), (days[2],)]


def test_anything_but_a_plain_comparison_is_refused(agent):
    for where in (~Q(agent=agent), Q(queued_at__date=START.date()), Q(agent__name="x"), Q(session_id=None)):
        with pytest.raises(ValueError):
            where_sql(Invocation, where)


def test_an_ordered_page_keeps_its_order_and_limit_after_the_filter(invocations, agent):
    shape = Invocation.objects.order_by("-queued_at", "-id").values_list("pk", "queued_at")[:2]
    rows = unfiltered(shape).converted(Q(agent=agent))

    assert rows == list(
        Invocation.objects.filter(agent=agent).order_by("-queued_at", "-id").values_list("pk", "queued_at")[:2]
    )


def test_times_come_back_as_the_orm_reads_them(invocations):
    shape = Invocation.objects.values_list("queued_at", "started_at", "finished_at").order_by()
    rows = unfiltered(shape).converted(Q(pk__gt=0))

    expected = list(shape.filter(pk__gt=0))
    assert sorted(rows) == sorted(expected)
    assert {value.tzinfo for row in rows for value in row if value} == {dt.UTC}


def test_a_filtered_shape_is_refused(agent):
    with pytest.raises(ValueError, match="Already filtered"):
        unfiltered(Invocation.objects.filter(agent=agent).values_list("pk"))
