"""Daily rollups: idempotent, scoped, and read so that the answer equals raw aggregation, late arrivals included."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agent_platform.errors import ApplicationError
from agents_app.models import Invocation
from caching import histograms, services
from caching.models import CacheRollupDay, DailyCacheRollup
from caching.periods import Period, utc_today
from caching.rollups import rollup_freshness
from caching.serializers import agent_cache_stats_json, tenant_cache_stats_json
from caching.stats import agent_cache_stats, tenant_cache_stats
from caching.sums import SUM_FIELDS
from caching.totals import grouped_cache_totals
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, make_agent

pytestmark = pytest.mark.django_db

ONE_DAY = dt.timedelta(days=1)


def both_ways(agent=None, *, tenant=None, period):
    """The same question answered from rollups and from raw invocations."""

    def ask(use):
        if agent is not None:
            return agent_cache_stats_json(
                agent_cache_stats(tenant=agent.tenant, agent=agent, period=period, use_rollups=use)
            )
        return tenant_cache_stats_json(
            tenant_cache_stats(tenant=tenant, period=period, all_agents=True, use_rollups=use)
        )

    return ask(True), ask(False)


def assert_totals_equal_both_ways(tenant, period):
    """Every summed field (attempts and timing histograms too, which the JSON above leaves out), per agent and day."""
    ask = {
        "tenant_from": {tenant.pk: period.day_from},
        "day_to": period.day_to,
        "keys": ("agent_id", "day"),
        "metrics": True,
    }
    rolled, raw = grouped_cache_totals(**ask), grouped_cache_totals(**ask, use_rollups=False)
    assert rolled == raw
    return rolled


def fresh_days(tenant, period, agent=None):
    closed_to = min(period.day_to, utc_today() - ONE_DAY)
    freshness = rollup_freshness(
        tenant_from={tenant.pk: period.day_from}, day_to=closed_to, agent_id=agent and agent.pk
    )
    return sorted(freshness.fresh.get(tenant.pk, []))


@pytest.fixture
def busy_tenant(tenant, agent):
    """Two agents, a week of invocations, some on either side of midnight, some today."""
    today = utc_today()
    nova = make_agent(tenant, NOVA, name="Nova", prompt_caching_enabled=False)
    for n in range(1, 8):
        day = today - n * ONE_DAY
        # Attempts (retried, lost with a worker) and timings vary by day, across the histograms' buckets.
        timed = {"latency_ms": 700 * n**2, "queue_wait_ms": 40 * n**3}
        add_invocation(agent, at(day, 0, 0, 0), session=f"a{n}", input=10 * n, write=1500, **timed)
        add_invocation(agent, at(day, 12, 0), session=f"a{n}", input=5, read=1500, output=n, attempts=n, lost=n % 2)
        add_invocation(agent, at(day, 23, 59, 59), session=f"b{n}", input=1, read=1500, write=7, latency_ms=2500)
        add_invocation(
            agent, at(day, 13), session=f"a{n}", status=Invocation.Status.FAILED, input=5, attempts=3, **timed
        )
        add_invocation(nova, at(day, 8, n), session=f"n{n}", input=100 * n, output=3, caching=False, queue_wait_ms=n)
    add_invocation(agent, at(today, 0, 0, 1), session="t", input=3, read=1500, attempts=2, lost=1, latency_ms=99)
    return {"agent": agent, "nova": nova, "today": today}


@pytest.mark.postgres
def test_rollup_and_raw_answers_are_identical_across_days_and_late_arrivals(tenant, busy_tenant):
    agent, nova, today = busy_tenant["agent"], busy_tenant["nova"], busy_tenant["today"]
    period = Period(today - 9 * ONE_DAY, today, "10 days")
    # Still running at midnight: the day cannot be trusted until it finishes.
    running = add_invocation(
        agent, at(today - ONE_DAY, 23, 58), session="late-night", status=Invocation.Status.RUNNING, input=11
    )

    services.rollups_refresh(tenant=tenant, days=[today - n * ONE_DAY for n in range(1, 10)])
    assert DailyCacheRollup.objects.filter(tenant=tenant).count() == 14  # 7 days x 2 agents
    assert CacheRollupDay.objects.get(tenant=tenant, day=today - ONE_DAY).open_invocations == 1
    for scope in ({"agent": agent}, {"agent": nova}, {"tenant": tenant}):
        rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw, scope
    grouped = assert_totals_equal_both_ways(tenant, period)
    # The new figures are there to compare: three days back (n = 3), Support's attempts and timings.
    day3 = grouped[(agent.pk, today - 3 * ONE_DAY)]
    assert (day3.attempts, day3.retried_attempts, day3.lost_attempts) == (1 + 3 + 1 + 3, 2 + 2, 1)
    assert day3.histogram("duration") == (
        [(b, int(b >= 2.5) + int(b >= 10)) for b in histograms.BUCKETS],  # 6.3 s and 2.5 s (the failed one not)
        2,
        8.8,
    )
    assert day3.histogram("queue_wait")[1:] == (2, 2.16)  # 1.08 s, succeeded and failed
    assert today - ONE_DAY not in fresh_days(tenant, period)  # read live while an invocation is open
    assert len(fresh_days(tenant, period)) == 8

    # The running one finishes; an invocation for a rolled-up day arrives late (restored from a backup, say).
    Invocation.objects.filter(pk=running.pk).update(
        status=Invocation.Status.SUCCEEDED, cache_read_tokens=1500, cache_hit=True
    )
    late = add_invocation(
        agent, at(today - 3 * ONE_DAY, 17), session="late", input=42, read=1500, output=9, lost=1, latency_ms=1
    )
    assert DailyCacheRollup.objects.get(agent=agent, day=today - 3 * ONE_DAY).input_tokens != 0
    for scope in ({"agent": agent}, {"agent": nova}, {"tenant": tenant}):
        rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw, scope
    assert assert_totals_equal_both_ways(tenant, period)[(agent.pk, today - 3 * ONE_DAY)].lost_attempts == 2
    rolled, _ = both_ways(agent, period=Period(today - 3 * ONE_DAY, today - 3 * ONE_DAY))
    assert rolled["input_tokens"] == 10 * 3 + 5 + 1 + late.input_tokens
    assert today - 3 * ONE_DAY not in fresh_days(tenant, period, agent)
    # Nova's figures do not depend on Support's late invocation: its rollups still serve that day.
    assert today - 3 * ONE_DAY in fresh_days(tenant, period, nova)

    # The next nightly run recomputes exactly the stale days and then trusts every closed day again.
    result = services.rollups_refresh(tenant=tenant)
    assert result.days == [today - 3 * ONE_DAY, today - ONE_DAY]
    assert len(fresh_days(tenant, period)) == 9
    for scope in ({"agent": agent}, {"agent": nova}, {"tenant": tenant}):
        rolled, raw = both_ways(**scope, period=period)
        assert rolled == raw, scope
    assert_totals_equal_both_ways(tenant, period)
    assert DailyCacheRollup.objects.get(agent=agent, day=today - 3 * ONE_DAY).lost_attempts == 2
    assert services.rollups_refresh(tenant=tenant, days=[]).days == []  # nothing stale is left


@pytest.mark.postgres
def test_the_worked_example_is_the_same_from_rollups(tenant, agent):
    seeded = seed_support_agent(agent)
    services.rollups_refresh(tenant=tenant)
    period = Period(seeded.today - 6 * ONE_DAY, seeded.today, "7d")

    rolled, raw = both_ways(agent, period=period)

    assert rolled == raw
    # Every closed day of the period comes from rollups (the nightly run also marks empty days as rolled up).
    assert fresh_days(tenant, period) == [seeded.today - n * ONE_DAY for n in range(6, 0, -1)]
    row = DailyCacheRollup.objects.get(agent=agent, day=seeded.yesterday)
    assert (row.total_invocations, row.failed_invocations, row.cache_hits, row.cache_write_tokens) == (4, 1, 1, 4000)
    assert str(row.net_savings.normalize()) == "0.0024"


@pytest.mark.postgres
def test_rolling_up_twice_changes_nothing(tenant, busy_tenant):
    day = busy_tenant["today"] - 2 * ONE_DAY

    services.rollup_day(tenant=tenant, day=day)
    first = list(DailyCacheRollup.objects.filter(day=day).order_by("agent_id").values(*SUM_FIELDS))
    services.rollup_day(tenant=tenant, day=day)
    second = list(DailyCacheRollup.objects.filter(day=day).order_by("agent_id").values(*SUM_FIELDS))

    assert first == second and len(first) == 2
    assert CacheRollupDay.objects.filter(tenant=tenant, day=day).count() == 1


def test_today_is_never_rolled_up(tenant):
    with pytest.raises(ApplicationError):
        services.rollup_day(tenant=tenant, day=utc_today())


def test_rollups_of_one_tenant_never_hold_another_tenants_invocations(tenant, other_tenant, agent, other_agent):
    day = utc_today() - ONE_DAY
    add_invocation(agent, at(day, 9), input=1)
    add_invocation(other_agent, at(day, 9), input=1000)

    services.rollups_refresh(tenant=tenant)

    assert list(DailyCacheRollup.objects.values_list("agent_id", "input_tokens")) == [(agent.pk, 1)]
    assert not CacheRollupDay.objects.filter(tenant=other_tenant).exists()


def test_the_nightly_run_catches_up_on_missed_days(tenant, agent):
    today = utc_today()
    add_invocation(agent, at(today - 4 * ONE_DAY, 9), input=1)

    result = services.rollups_refresh(tenant=tenant)

    assert result.days == [today - n * ONE_DAY for n in range(services.CATCH_UP_DAYS, 0, -1)]
    assert DailyCacheRollup.objects.get().day == today - 4 * ONE_DAY


def test_the_beat_task_rolls_up_every_tenant(tenant, other_tenant, agent, other_agent):
    from caching.tasks import rollups_refresh_all

    day = utc_today() - ONE_DAY
    add_invocation(agent, at(day, 9), input=1)
    add_invocation(other_agent, at(day, 9), input=2)

    result = rollups_refresh_all.apply().get()

    assert result == {"acme": services.CATCH_UP_DAYS, "globex": services.CATCH_UP_DAYS}
    assert sorted(DailyCacheRollup.objects.values_list("input_tokens", flat=True)) == [1, 2]


def test_backfill_command_rolls_up_a_range_for_one_tenant(tenant, other_tenant, agent, other_agent):
    today = utc_today()
    for n in (2, 3, 10):
        add_invocation(agent, at(today - n * ONE_DAY, 9), input=n)
        add_invocation(other_agent, at(today - n * ONE_DAY, 9), input=n)
    err = Terminal()

    out = StringIO()
    call_command(
        "backfill_rollups",
        "--from",
        str(today - 5 * ONE_DAY),
        "--to",
        str(today - 2 * ONE_DAY),
        "--tenant",
        "acme",
        stdout=out,
        stderr=err,
    )

    assert sorted(DailyCacheRollup.objects.values_list("tenant__slug", "input_tokens")) == [("acme", 2), ("acme", 3)]
    assert "acme: 4 day(s) rolled up" in out.getvalue() and "Rolled up 4 day(s)" in out.getvalue()
    assert "acme" in err.getvalue() and "4/4 days" in err.getvalue()  # tqdm's bar goes to a terminal's stderr
    call_command("backfill_rollups", "--no-progress", stdout=StringIO())  # everyone, from the first invocation
    assert DailyCacheRollup.objects.count() == 6
    assert CacheRollupDay.objects.filter(tenant=tenant, day=today - 10 * ONE_DAY).exists()


class Terminal(StringIO):
    def isatty(self):
        return True


def test_backfill_on_a_first_day_says_there_is_nothing_yet_without_a_progress_line(tenant, agent):
    add_invocation(agent, at(utc_today(), 0, 0, 5), input=5)  # today only: no closed day has any
    out, err = StringIO(), Terminal()

    call_command("backfill_rollups", stdout=out, stderr=err)

    assert "Nothing to roll up: no closed day" in out.getvalue()
    assert err.getvalue() == ""  # tqdm drew "acme: : 0day [00:00, ?day/s]" here
    assert not DailyCacheRollup.objects.exists()


@pytest.mark.parametrize(
    "args",
    [["--to", "2999-01-01"], ["--from", "2026-02-02", "--to", "2026-02-01"], ["--tenant", "nobody"], ["--from", "x"]],
)
def test_backfill_command_refuses_bad_arguments(db, args):
    with pytest.raises((CommandError, SystemExit)):
        call_command("backfill_rollups", *args, stdout=StringIO(), stderr=StringIO())


def test_rollup_reads_take_a_fixed_number_of_queries(tenant, busy_tenant, django_assert_max_num_queries):
    today = busy_tenant["today"]
    services.rollups_refresh(tenant=tenant, days=[today - n * ONE_DAY for n in range(1, 8)])

    ask = {"tenant_from": {tenant.pk: today - 90 * ONE_DAY}, "day_to": today, "keys": ("agent_id", "day")}

    # Day markers, hour markers, the late-arrival walk, the live rows, the daily and the hourly rollups.
    with django_assert_max_num_queries(6):
        grouped = grouped_cache_totals(**ask)

    # The answer, not only its cost: every agent-day that had invocations (Claude 7 days and today, Nova 7 days),
    # equal to the raw aggregation.
    agent, nova = busy_tenant["agent"], busy_tenant["nova"]
    expected_keys = {(agent.pk, today - n * ONE_DAY) for n in range(8)} | {
        (nova.pk, today - n * ONE_DAY) for n in range(1, 8)
    }
    assert set(grouped) == expected_keys
    assert grouped == grouped_cache_totals(**ask, use_rollups=False)


def test_the_reader_and_the_writer_agree_on_which_days_are_stale(tenant, agent):
    """One freshness rule: a day the reader stops trusting is exactly a day the writer recomputes, and back."""
    today = utc_today()
    days = [today - n * ONE_DAY for n in range(1, 5)]
    for day in days:
        add_invocation(agent, at(day, 9), input=1)
    services.rollups_refresh(tenant=tenant, days=days)
    period = Period(days[-1], today)

    def writer_due():
        return services.rollup_days_due(tenant=tenant, days=[], today=today)

    assert fresh_days(tenant, period) == sorted(days) and writer_due() == []

    # A late arrival for one day, an unfinished invocation found open by a recompute of another.
    add_invocation(agent, at(days[1], 17), input=40)
    add_invocation(agent, at(days[2], 18), status=Invocation.Status.RUNNING, input=7)
    services.rollup_day(tenant=tenant, day=days[2])

    stale = sorted([days[1], days[2]])
    assert writer_due() == stale
    assert sorted(set(days) - set(fresh_days(tenant, period))) == stale
    rolled, raw = both_ways(agent, period=period)
    assert rolled == raw and rolled["input_tokens"] == 4 + 40

    # The writer recomputes them; the reader trusts them again (the open one once it has finished).
    Invocation.objects.filter(status=Invocation.Status.RUNNING).update(status=Invocation.Status.SUCCEEDED)
    assert services.rollups_refresh(tenant=tenant, days=[]).days == stale
    assert fresh_days(tenant, period) == sorted(days) and writer_due() == []
    rolled, raw = both_ways(agent, period=period)
    assert rolled == raw and rolled["input_tokens"] == 4 + 40 + 7


def test_the_migration_fills_in_the_new_columns_of_existing_rollups(tenant, busy_tenant):
    import importlib

    from django.apps import apps

    from caching.sums import ATTEMPT_FIELDS

    migration = importlib.import_module("caching.migrations.0008_rollup_attempts_and_timings")
    today = busy_tenant["today"]
    services.rollups_refresh(tenant=tenant, days=[today - n * ONE_DAY for n in range(1, 8)])
    new_columns = [*ATTEMPT_FIELDS, *histograms.FIELDS]
    computed = list(DailyCacheRollup.objects.order_by("pk").values(*new_columns))
    assert any(row["lost_attempts"] for row in computed) and any(row["duration_count"] for row in computed)
    DailyCacheRollup.objects.update(**dict.fromkeys(new_columns, 0))  # as the migration's AddField leaves them

    migration.fill_in(apps, None)

    assert list(DailyCacheRollup.objects.order_by("pk").values(*new_columns)) == computed
