"""What a process keeps from the rollups (`caching.settled`): used again only while the rollups stay as they were."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agent_platform.models import Tenant
from agent_platform.services import api_key_create
from agents_app.models import Agent, Invocation
from agents_app.services.agents import agent_delete
from caching import services, settled
from caching.models import CacheRollupDay, CacheRollupHour, DailyCacheRollup, DailyKeyRollup, HourlyCacheRollup
from caching.periods import Period, hour_start, period_from_params, utc_today
from caching.totals import grouped_cache_totals
from tests.caching.stats_data import add_invocation, at
from tests.caching.test_rollups import both_ways, busy_tenant  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

ONE_DAY = dt.timedelta(days=1)
ROLLUP_TABLES = [
    model._meta.db_table
    for model in (CacheRollupDay, CacheRollupHour, DailyCacheRollup, DailyKeyRollup, HourlyCacheRollup)
]


def week(today):
    return Period(today - 7 * ONE_DAY, today, "7d")


def rollup_reads(queries) -> list[str]:
    return [q["sql"] for q in queries if any(table in q["sql"] for table in ROLLUP_TABLES)]


def version(tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).rollups_version


def rewrite_version(tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).rollups_rewrite_version


def daily_rollup_reads(queries) -> list[str]:
    daily = [model._meta.db_table for model in (DailyCacheRollup, DailyKeyRollup)]
    return [q["sql"] for q in queries if any(table in q["sql"] for table in daily)]


@pytest.fixture
def rolled_up(tenant, busy_tenant):  # noqa: F811 (the fixture imported above)
    """The busy tenant's week rolled up, and today's closed hours (one invocation at 00:00:01 today)."""
    services.rollups_refresh(tenant=tenant, days=[busy_tenant["today"] - n * ONE_DAY for n in range(1, 8)])
    return busy_tenant


@pytest.fixture
def half_past_ten():
    """The clock at 10:30 today (UTC), standing still until moved."""
    with time_machine.travel(at(utc_today(), 10, 30), tick=False) as clock:
        yield clock


@pytest.mark.postgres
def test_a_question_asked_again_reads_no_rollup_and_answers_the_same(tenant, rolled_up):
    agent, period = rolled_up["agent"], week(rolled_up["today"])
    for scope in ({"agent": agent}, {"tenant": tenant}):
        with CaptureQueriesContext(connection) as first:
            rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw
        assert rollup_reads(first.captured_queries)  # the first time, markers and rollup sums

        with CaptureQueriesContext(connection) as again:
            rolled_again, _ = both_ways(**scope, period=period)
        assert rolled_again == raw
        assert rollup_reads(again.captured_queries) == []


@pytest.mark.postgres
def test_a_late_arrival_into_a_kept_day_is_counted_before_any_refresh(tenant, rolled_up):
    agent, today = rolled_up["agent"], rolled_up["today"]
    period = week(today)
    before, _ = both_ways(tenant=tenant, period=period)

    add_invocation(agent, at(today - 3 * ONE_DAY, 9), session="late", input=50, read=1500)
    rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert rolled["total_invocations"] == before["total_invocations"] + 1


@pytest.mark.postgres
def test_every_rollup_write_gives_its_tenant_a_new_version_and_no_other(half_past_ten, tenant, other_tenant, rolled_up):
    """Each of these changes rows readers may have read: a new rewrite version as well."""
    today, agent, nova = rolled_up["today"], rolled_up["agent"], rolled_up["nova"]
    others = version(other_tenant), rewrite_version(other_tenant)
    seen, rewrites = [version(tenant)], [rewrite_version(tenant)]
    writes = [
        lambda: services.rollup_day(tenant=tenant, day=today - ONE_DAY),
        lambda: services.rollup_hour(tenant=tenant, hour=hour_start(at(today, 0))),  # rolled up before
        lambda: services.rollups_refresh(tenant=tenant, days=[today - 2 * ONE_DAY]),
        # A refresh that drops hourly rows past the hourly window (here, all of today's and yesterday's).
        lambda: services.rollups_refresh(tenant=tenant, days=[], today=today + 3 * ONE_DAY),
        lambda: agent_delete(agent=nova),
    ]
    for write in writes:
        write()
        seen.append(version(tenant))
        rewrites.append(rewrite_version(tenant))
    assert len(set(seen)) == len(seen)
    assert len(set(rewrites)) == len(rewrites)
    assert (version(other_tenant), rewrite_version(other_tenant)) == others
    assert agent.tenant_id == tenant.pk


@pytest.mark.postgres
def test_the_first_rollup_of_an_hour_extends_what_was_kept_and_a_second_one_has_it_read_again(
    half_past_ten, tenant, rolled_up
):
    agent, today = rolled_up["agent"], rolled_up["today"]
    period, scopes = week(today), ({"agent": agent}, {"tenant": tenant})
    for scope in scopes:
        both_ways(**scope, period=period)
    add_invocation(agent, at(today, 10, 40), session="ten", input=9)
    half_past_ten.move_to(at(today, 11, 5))
    kept_version, kept_rewrite = version(tenant), rewrite_version(tenant)

    services.rollup_hour(tenant=tenant, hour=at(today, 10))
    assert version(tenant) != kept_version
    assert rewrite_version(tenant) == kept_rewrite
    for scope in scopes:
        with CaptureQueriesContext(connection) as extended:
            rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw
        hourly = HourlyCacheRollup._meta.db_table
        assert len([sql for sql in rollup_reads(extended.captured_queries) if hourly in sql]) == 1  # 10:00's rows
        assert daily_rollup_reads(extended.captured_queries) == []  # the days' sums as kept

    services.rollup_hour(tenant=tenant, hour=at(today, 10))  # again: its rows may change
    assert rewrite_version(tenant) != kept_rewrite
    for scope in scopes:
        with CaptureQueriesContext(connection) as read_again:
            rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw
        assert daily_rollup_reads(read_again.captured_queries)


@pytest.mark.postgres
def test_a_refresh_that_only_moves_watermarks_keeps_the_version_and_late_arrivals_still_count(
    half_past_ten, tenant, rolled_up
):
    """What was kept carries the older watermarks: its walk still finds an arrival the newer ones were moved
    past (the refresh moved them past every invocation then, the late one came after)."""
    agent, today = rolled_up["agent"], rolled_up["today"]
    period = week(today)
    before, _ = both_ways(tenant=tenant, period=period)
    kept = version(tenant)

    newest = add_invocation(agent, at(today, 10, 20), session="now", input=7)  # the current hour: nothing to roll up
    services.rollups_refresh(tenant=tenant, days=[], hours=False)
    assert CacheRollupDay.objects.filter(tenant=tenant, covers_through_id__gte=newest.pk).count() == 7
    assert version(tenant) == kept
    with CaptureQueriesContext(connection) as again:
        rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert rollup_reads(again.captured_queries) == []

    add_invocation(agent, at(today - 3 * ONE_DAY, 9), session="late", input=50, read=1500)
    rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert rolled["total_invocations"] == before["total_invocations"] + 2


@pytest.mark.postgres
def test_a_question_kept_past_the_hour_reads_the_hour_just_closed_live_until_it_is_rolled_up(
    half_past_ten, tenant, rolled_up
):
    agent, today = rolled_up["agent"], rolled_up["today"]
    period = week(today)
    before, _ = both_ways(tenant=tenant, period=period)
    add_invocation(agent, at(today, 10, 40), session="ten", input=9)

    half_past_ten.move_to(at(today, 11, 5))
    with CaptureQueriesContext(connection) as again:
        rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert rolled["total_invocations"] == before["total_invocations"] + 1
    assert rollup_reads(again.captured_queries) == []

    services.rollups_refresh(tenant=tenant, days=[])  # 10:00 rolled up: a write
    assert CacheRollupHour.objects.filter(tenant=tenant, hour=at(today, 10)).exists()
    with CaptureQueriesContext(connection) as rolled_again:
        rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert rollup_reads(rolled_again.captured_queries)


@pytest.mark.postgres
def test_deleted_invocations_backfilled_read_as_raw_though_their_rollups_were_kept(tenant, rolled_up):
    """The walk cannot see a deletion; the backfill that must follow it is a rollup write: a new version."""
    agent, today = rolled_up["agent"], rolled_up["today"]
    period = week(today)
    before = [both_ways(**scope, period=period)[0] for scope in ({"agent": agent}, {"tenant": tenant})]

    day = today - 2 * ONE_DAY
    deleted, _ = Invocation.objects.filter(agent=agent, queued_at__date=day).delete()
    services.rollups_refresh(tenant=tenant, days=[day])

    for scope, earlier in zip(({"agent": agent}, {"tenant": tenant}), before, strict=True):
        rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw
        failed = earlier["failed_invocations"] - rolled["failed_invocations"]
        assert earlier["total_invocations"] - rolled["total_invocations"] + failed == deleted > 0


@pytest.mark.postgres
def test_an_api_key_deleted_after_its_figures_were_kept_reads_as_no_key(tenant, rolled_up):
    """Deleting a key sets its invocations' and rollup rows' key to none, which no version marks: the kept rows
    still name it, and are shown as no key's, with the rest that no key asked for."""
    agent, today = rolled_up["agent"], rolled_up["today"]
    period = week(today)
    key, _ = api_key_create(tenant=tenant, name="gone soon")
    Invocation.objects.filter(agent=agent, queued_at__date=today - ONE_DAY).update(api_key=key)
    services.rollups_refresh(tenant=tenant, days=[today - ONE_DAY])
    rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert [row["api_key"] for row in rolled["by_key"]].count(None) == 1 and len(rolled["by_key"]) == 2

    key.delete()
    rolled, raw = both_ways(tenant=tenant, period=period)
    assert rolled == raw
    assert [row["api_key"] for row in rolled["by_key"]] == [None]


def first_day_reads(queries) -> list[str]:
    tables = [DailyCacheRollup._meta.db_table, Invocation._meta.db_table]
    return [q["sql"] for q in queries if any(table in q["sql"] for table in tables)]


@pytest.mark.postgres
def test_the_period_all_keeps_its_first_day_until_a_rollup_write_moves_it(tenant, rolled_up):
    agent, today = rolled_up["agent"], rolled_up["today"]
    first = today - 7 * ONE_DAY
    for scope in ({}, {"agent": agent}):
        assert period_from_params({"period": "all"}, tenant=tenant, **scope).day_from == first
        with CaptureQueriesContext(connection) as again:
            assert period_from_params({"period": "all"}, tenant=tenant, **scope).day_from == first
        assert first_day_reads(again.captured_queries) == [] and len(again) == 1  # the versions

    # Older figures come with a rollup write (a backfill), a new version: the first day is read again.
    older = today - 30 * ONE_DAY
    add_invocation(agent, at(older, 9), input=4)
    services.rollups_refresh(tenant=tenant, days=[older])
    for scope in ({}, {"agent": agent}):
        assert period_from_params({"period": "all"}, tenant=tenant, **scope).day_from == older


def test_an_agent_without_invocations_keeps_no_first_day_and_its_first_counts_at_once(tenant, rolled_up):
    quiet = Agent.objects.create(tenant=tenant, name="Quiet", system_prompt="-", model=rolled_up["agent"].model)
    today = rolled_up["today"]
    assert period_from_params({"period": "all"}, tenant=tenant, agent=quiet).day_from == today
    # Yesterday's (a new one is today's, and `all` would begin today either way), and no rollup write since.
    add_invocation(quiet, at(today - ONE_DAY, 23))

    assert period_from_params({"period": "all"}, tenant=tenant, agent=quiet).day_from == today - ONE_DAY


def test_the_least_recently_asked_questions_go_first(tenant, rolled_up, monkeypatch):
    monkeypatch.setattr(settled, "MAX_ENTRIES", 2)
    today = rolled_up["today"]

    def ask(days: int):
        return grouped_cache_totals(tenant_from={tenant.pk: today - days * ONE_DAY}, day_to=today, keep=True)

    for days in (2, 3, 4):
        ask(days)
    assert len(settled._entries) == 2

    with CaptureQueriesContext(connection) as queries:
        ask(4)
    assert rollup_reads(queries.captured_queries) == []
    with CaptureQueriesContext(connection) as queries:
        ask(2)
    assert rollup_reads(queries.captured_queries)
