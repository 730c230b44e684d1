"""Daily and hourly rollups equal raw aggregation for random histories.

Each history has two tenants, three agents, two API keys a tenant (and invocations no key asked for),
invocations of every status over
the last days and today's hours, prices that change mid-history (a tenant's
price override); then late arrivals into rolled-up days and hours, open
invocations finishing, the clock moving into the next hours, and deletions
followed by the documented `backfill_rollups`. After every step, every scope and
period answers the same from rollups as from the invocations alone. The clock is
the reporting tests' (noon UTC of a fixed day), moved forward with time-machine.
"""

import datetime as dt
import random
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from agent_platform.services import api_key_create
from agents_app.models import Invocation
from agents_app.services.agents import agent_delete
from caching import services
from caching.models import CacheRollupDay, CacheRollupHour, DailyCacheRollup, HourlyCacheRollup
from caching.periods import Period, utc_today
from caching.sums import SUM_FIELDS
from caching.totals import grouped_cache_totals
from pricing.models import PriceOverride
from pricing.selectors import model_prices
from tests.caching.stats_data import add_invocation
from tests.caching.test_rollups import both_ways
from tests.conftest import NOON, NOVA, make_agent

pytestmark = pytest.mark.django_db

ONE_DAY = dt.timedelta(days=1)
STATUSES = [Invocation.Status.SUCCEEDED] * 6 + [
    Invocation.Status.FAILED,
    Invocation.Status.RUNNING,
    Invocation.Status.QUEUED,
]


class History:
    def __init__(self, seed, agents):
        self.rng = random.Random(seed)
        self.agents = agents
        tenants = {agent.tenant.pk: agent.tenant for agent in agents}.values()
        self.keys = {t.pk: [None] + [api_key_create(tenant=t, name=f"key {n}")[0] for n in (1, 2)] for t in tenants}

    def moment(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        return start + dt.timedelta(seconds=self.rng.randrange(int((end - start).total_seconds())))

    def add(self, start: dt.datetime, end: dt.datetime, count: int) -> list[Invocation]:
        rng, added = self.rng, []
        for _ in range(count):
            agent = rng.choice(self.agents)
            caching = rng.random() < 0.8
            read = rng.choice([0, 0, rng.randint(1, 5000)]) if caching else 0
            added.append(
                add_invocation(
                    agent,
                    self.moment(start, end),
                    session=f"s{rng.randrange(12)}",
                    status=rng.choice(STATUSES),
                    input=rng.randint(0, 3000),
                    read=read,
                    write=rng.choice([0, rng.randint(1, 3000)]) if caching else 0,
                    output=rng.randint(0, 800),
                    caching=caching,
                    prices=model_prices(tenant=agent.tenant, model=agent.model),
                )
            )
            added[-1].api_key = rng.choice(self.keys[agent.tenant_id])
            Invocation.objects.filter(pk=added[-1].pk).update(api_key=added[-1].api_key)
        return added


def scopes(agents):
    tenants = {agent.tenant.pk: agent.tenant for agent in agents}
    return [{"agent": agent} for agent in agents] + [{"tenant": t} for t in tenants.values()]


def assert_rollups_equal_raw(agents, when: str):
    today = utc_today()
    periods = [
        Period(today, today, "today"),
        Period(today - ONE_DAY, today, "2 days"),
        Period(today - 6 * ONE_DAY, today, "7d"),
        Period(today - 5 * ONE_DAY, today - 2 * ONE_DAY, "custom, closed days"),
        Period(today - ONE_DAY, today - ONE_DAY, "yesterday"),
    ]
    for scope in scopes(agents):
        for period in periods:
            rolled, raw = both_ways(**scope, period=period)
            assert same(rolled, raw), (when, scope, period, rolled, raw)
    tenant_ids = {a.tenant_id: today - 6 * ONE_DAY for a in agents}
    for keys in [("agent_id", "day"), (), ("agent_id",), ("api_key_id",), ("agent_id", "api_key_id", "day")]:
        ask = {"tenant_from": tenant_ids, "day_to": today, "keys": keys}
        ask["metrics"] = True
        assert exact(grouped_cache_totals(**ask)) == exact(grouped_cache_totals(**ask, use_rollups=False)), (when, keys)


def same(rolled, raw) -> bool:
    """Equal, but for money that SQLite summed as doubles in two orders: a sum that ends on a half at the
    7th decimal may round either way to 6 (PostgreSQL sums exactly, so there they are equal)."""
    if isinstance(rolled, dict):
        return rolled.keys() == raw.keys() and all(same(rolled[k], raw[k]) for k in rolled)
    if isinstance(rolled, list):
        return len(rolled) == len(raw) and all(same(a, b) for a, b in zip(rolled, raw, strict=True))
    if isinstance(rolled, str) and isinstance(raw, str) and rolled != raw:
        try:
            return abs(Decimal(rolled) - Decimal(raw)) <= Decimal("0.000001") and connection.vendor == "sqlite"
        except ArithmeticError:
            return False
    return rolled == raw


def exact(grouped: dict) -> dict:
    """Figures to 9 places: SQLite sums decimals as doubles, so two orders of summing differ far below that."""
    return {
        key: {name: round(Decimal(totals.value(name)), 9) for name in SUM_FIELDS} for key, totals in grouped.items()
    }


def finish_some(rng, share: float):
    for invocation in Invocation.objects.filter(status__in=[Invocation.Status.QUEUED, Invocation.Status.RUNNING]):
        if rng.random() < share:
            status = rng.choice([Invocation.Status.SUCCEEDED, Invocation.Status.FAILED])
            Invocation.objects.filter(pk=invocation.pk).update(
                status=status, cache_read_tokens=rng.randint(0, 900), net_savings=Decimal("0.000123")
            )


@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(4))
def test_rollups_equal_raw_aggregation_for_random_histories(tenant, other_tenant, catalog, seed):
    agents = [
        make_agent(tenant, name="Claude", prompt_caching_enabled=True),
        make_agent(tenant, NOVA, name="Nova"),
        make_agent(other_tenant, name="Other", prompt_caching_enabled=True),
    ]
    history = History(seed, agents)
    now = dt.datetime.now(dt.UTC)
    week_ago = now.replace(hour=0, minute=0, second=0, microsecond=0) - 6 * ONE_DAY
    history.add(week_ago, now, 80)
    assert_rollups_equal_raw(agents, "nothing rolled up")

    for t in (tenant, other_tenant):
        services.rollups_refresh(tenant=t)
    assert HourlyCacheRollup.objects.exists() and DailyCacheRollup.objects.exists()
    assert_rollups_equal_raw(agents, "rolled up")

    # A tenant's price changes (an override): later invocations cost differently; earlier ones keep their costs.
    PriceOverride.objects.create(tenant=tenant, model=agents[0].model, input_per_mtok=Decimal("1.75"))
    # Late arrivals, backdated into rolled-up days and today's rolled-up hours.
    history.add(week_ago, now.replace(minute=0, second=0, microsecond=0), 12)
    assert_rollups_equal_raw(agents, "late arrivals")
    finish_some(history.rng, 0.5)
    assert_rollups_equal_raw(agents, "open ones finished")
    services.rollups_refresh_recent()
    assert_rollups_equal_raw(agents, "refreshed")

    # Ninety-five minutes later: the current hour closed, and another began.
    later = NOON + dt.timedelta(minutes=95)
    with time_machine.travel(later, tick=False):
        history.add(NOON, later, 15)
        assert_rollups_equal_raw(agents, "an hour later")
        finish_some(history.rng, 1.0)
        services.rollups_refresh_recent()
        assert CacheRollupHour.objects.filter(tenant=tenant, hour=NOON).exists()
        assert_rollups_equal_raw(agents, "an hour later, refreshed")

        # Deleted invocations are not detected; backfilling their days (today's hours included) sets it right.
        doomed = history.rng.sample(list(Invocation.objects.order_by("pk").values_list("pk", "queued_at")), 6)
        Invocation.objects.filter(pk__in=[pk for pk, _ in doomed]).delete()
        first = min(queued_at for _, queued_at in doomed).date()
        call_command(
            "backfill_rollups", "--from", str(first), "--to", str(utc_today()), "--no-progress", stdout=StringIO()
        )
        assert_rollups_equal_raw(agents, "deleted and backfilled")

        # An agent deleted: its rollup rows go, and its share of its tenant's rolled-up days with them.
        agent_delete(agent=agents[1])
        assert_rollups_equal_raw([agents[0], agents[2]], "an agent deleted")


def test_the_hourly_rollup_and_the_day_marker_hold_every_figure_the_daily_rollup_sums():
    """A figure added to the daily rollup (and to SUM_FIELDS) is summed per hour and per tenant's day too, with
    no edit here."""
    daily = {f.name: type(f) for f in DailyCacheRollup._meta.concrete_fields}
    figures = {name for name in daily if name not in ("id", "tenant", "agent", "day", "rolled_up_at")}

    assert figures == set(SUM_FIELDS)
    for model in (HourlyCacheRollup, CacheRollupDay):
        columns = {f.name: type(f) for f in model._meta.concrete_fields}
        assert {name: columns.get(name) for name in figures} == {name: daily[name] for name in figures}


def test_an_hour_is_read_from_its_rollup_and_only_the_current_hour_live(tenant, agent, django_assert_max_num_queries):
    today = utc_today()
    for hour in range(12):
        add_invocation(agent, dt.datetime.combine(today, dt.time(hour, 5), dt.UTC), input=hour + 1)
    services.rollups_refresh_recent()
    add_invocation(agent, NOON + dt.timedelta(minutes=1), input=1000)

    with django_assert_max_num_queries(6) as queries:
        totals = grouped_cache_totals(tenant_from={tenant.pk: today}, day_to=today, keys=())[()]

    assert totals.input_tokens == sum(range(1, 13)) + 1000
    live = [q["sql"] for q in queries.captured_queries if '"agents_app_invocation"' in q["sql"] and "SUM" in q["sql"]]
    assert len(live) == 1 and "12:00:00" in live[0]  # from the start of the current hour only
    assert CacheRollupHour.objects.filter(tenant=tenant).count() == 24 + 12  # yesterday's and today's closed hours


def test_the_reads_for_other_pages_equal_raw_aggregation_and_stay_in_their_tenant(
    tenant, other_tenant, agent, other_agent
):
    from agents_app.models import Agent
    from caching.stats import period_cache_totals, period_cache_totals_by_agent, period_cache_totals_by_day

    today = utc_today()
    history = History(7, [agent, other_agent])
    history.add(NOON - 5 * ONE_DAY, NOON + dt.timedelta(minutes=30), 40)
    for t in (tenant, other_tenant):
        services.rollups_refresh(tenant=t)
    period = Period(today - 6 * ONE_DAY, today)

    by_day = period_cache_totals_by_day(tenant=tenant, period=period)
    total = period_cache_totals(tenant=tenant, period=period)
    one = period_cache_totals(tenant=tenant, period=period, agent=agent)
    by_agent = period_cache_totals_by_agent(tenants=[tenant], period=period)

    raw = grouped_cache_totals(tenant_from={tenant.pk: period.day_from}, day_to=today, keys=("day",), use_rollups=False)
    assert [day for day, _ in by_day] == [today - n * ONE_DAY for n in range(6, -1, -1)]
    assert exact({(day,): t for day, t in by_day if (day,) in raw}) == exact(raw)
    assert exact({(): total}) == exact({(): one}) == exact({(): by_agent[agent.pk]})
    assert total.total_invocations + total.failed_invocations > 0 and other_agent.pk not in by_agent
    with pytest.raises(Agent.DoesNotExist):
        period_cache_totals(tenant=tenant, period=period, agent=other_agent)


def test_the_tenants_figures_by_key_read_hourly_rollups_and_only_the_current_hour_live(
    tenant, agent, django_assert_max_num_queries
):
    key, _ = api_key_create(tenant=tenant, name="batch")
    today = utc_today()
    for hour in range(12):
        asked = add_invocation(agent, dt.datetime.combine(today, dt.time(hour, 5), dt.UTC), input=hour + 1)
        Invocation.objects.filter(pk=asked.pk).update(api_key=key if hour % 2 else None)
    services.rollups_refresh_recent()
    add_invocation(agent, NOON + dt.timedelta(minutes=1), input=1000)

    with django_assert_max_num_queries(6) as queries:
        by_key = grouped_cache_totals(tenant_from={tenant.pk: today}, day_to=today, keys=("api_key_id",))

    assert by_key[(key.pk,)].input_tokens == sum(range(2, 13, 2))
    assert by_key[(None,)].input_tokens == sum(range(1, 12, 2)) + 1000
    live = [q["sql"] for q in queries.captured_queries if '"agents_app_invocation"' in q["sql"] and "SUM" in q["sql"]]
    assert len(live) == 1 and "12:00:00" in live[0]  # from the start of the current hour only
