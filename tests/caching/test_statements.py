"""Reads compiled once (`caching.statements`) return what the ORM's own querysets return, filter by filter."""

import datetime as dt

import pytest
from django.db.models import Max
from django.db.models.functions import TruncHour

from agents_app.models import Invocation
from caching.periods import UTC
from caching.statements import unfiltered
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

    for where in ({"agent": agent}, {"queued_at__gte": START + dt.timedelta(hours=2)}, {"pk__gt": 0}):
        assert sorted(statement.converted(Invocation.objects.filter(**where))) == sorted(shape.filter(**where))


def test_an_ordered_page_keeps_its_order_and_limit_after_the_filter(invocations, agent):
    shape = Invocation.objects.order_by("-queued_at", "-id").values_list("pk", "queued_at")[:2]
    rows = unfiltered(shape).converted(Invocation.objects.filter(agent=agent))

    assert rows == list(
        Invocation.objects.filter(agent=agent).order_by("-queued_at", "-id").values_list("pk", "queued_at")[:2]
    )


def test_times_come_back_as_the_orm_reads_them(invocations):
    shape = Invocation.objects.values_list("queued_at", "started_at", "finished_at").order_by()
    rows = unfiltered(shape).converted(Invocation.objects.filter(pk__gt=0))

    expected = list(shape.filter(pk__gt=0))
    assert sorted(rows) == sorted(expected)
    assert {value.tzinfo for row in rows for value in row if value} == {dt.UTC}


def test_a_filtered_shape_is_refused(agent):
    with pytest.raises(ValueError, match="Already filtered"):
        unfiltered(Invocation.objects.filter(agent=agent).values_list("pk"))
