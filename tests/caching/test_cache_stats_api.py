"""GET /api/agents/{id}/cache-stats/ and GET /api/cache-stats/: figures against a hand computation."""

import datetime as dt
from decimal import Decimal

import pytest

from agents_app.models import Agent
from caching import exports, services, sessions, stats
from caching.periods import Period, first_invocation_day, kept_first_day, utc_today
from tests.caching.stats_data import (
    EXPECTED,
    EXPECTED_TODAY,
    EXPECTED_YESTERDAY,
    add_invocation,
    at,
    seed_support_agent,
)
from tests.conftest import NOVA, make_agent

pytestmark = pytest.mark.django_db


def url(agent, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/agents/{agent.pk}/cache-stats/" + (f"?{query}" if query else "")


def subset(data: dict, expected: dict) -> dict:
    return {key: data[key] for key in expected}


@pytest.mark.postgres
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_agent_stats_match_the_hand_computation(api, agent, rolled_up):
    seeded = seed_support_agent(agent)
    if rolled_up:
        services.rollups_refresh(tenant=agent.tenant)

    data = api.get(url(agent, period="7d")).json()

    assert subset(data, EXPECTED) == EXPECTED
    assert data["currency"] == "USD"
    assert data["period"] == {
        "name": "7d",
        "from": (seeded.today - dt.timedelta(days=6)).isoformat(),
        "to": seeded.today.isoformat(),
        "days": 7,
    }
    by_day = {row["day"]: row for row in data["by_day"]}
    assert len(data["by_day"]) == 7  # every day of the period, empty ones included
    assert subset(by_day[seeded.yesterday.isoformat()], EXPECTED_YESTERDAY) == EXPECTED_YESTERDAY
    assert subset(by_day[seeded.today.isoformat()], EXPECTED_TODAY) == EXPECTED_TODAY
    empty = by_day[(seeded.today - dt.timedelta(days=3)).isoformat()]
    assert empty["total_invocations"] == 0 and empty["hit_rate"] == 0 and empty["net_savings"] == "0.000000"
    assert subset(data["by_period"]["last_7_days"], EXPECTED) == EXPECTED
    assert subset(data["by_period"]["last_30_days"], EXPECTED) == EXPECTED


@pytest.mark.postgres
def test_sessions_show_first_write_later_reads_ratio_and_expiry(api, agent):
    seed_support_agent(agent)

    data = api.get(url(agent, period="7d")).json()

    sessions = {s["session_id"]: s for s in data["sessions"]}
    # Newest activity first: s2 (today), s3 (yesterday noon), s1 (yesterday, last at 11:00).
    assert [s["session_id"] for s in data["sessions"]] == ["s2", "s3", "s1"]
    s1 = sessions["s1"]
    assert s1["invocations"] == 3 and s1["failed_invocations"] == 1
    assert s1["first_write_tokens"] == 2000 and s1["later_read_tokens"] == 2000
    # cached 2000 read; uncached 300 input + 4000 written: 2000 / 6300 = 0.317460
    assert (s1["cached_tokens"], s1["uncached_tokens"], s1["efficiency_ratio"]) == (2000, 4300, 0.31746)
    assert "cached_ratio" not in s1  # one name for the ratio everywhere
    # 10:01:10 (end of the hit) to 10:20:01 (start of the next) is 1131 s > 300 s, and that turn wrote again.
    assert s1["cache_expirations"] == 1 and s1["cache_expired"] is True and s1["max_idle_seconds"] == 1131
    assert s1["net_savings"] == "0.002400"  # −0.0015 + 0.0054 − 0.0015
    s2 = sessions["s2"]
    assert (s2["first_write_tokens"], s2["later_read_tokens"], s2["efficiency_ratio"]) == (500, 0, 0.784314)
    assert s2["cache_expired"] is False
    assert sessions["s3"]["efficiency_ratio"] == 0
    assert data["sessions_has_more"] is False


def test_a_short_idle_gap_is_no_expiry_and_a_long_one_followed_by_a_read_is_none_either(api, agent):
    day = utc_today() - dt.timedelta(days=1)
    add_invocation(agent, at(day, 9, 0), input=10, write=2000)
    add_invocation(agent, at(day, 9, 4), input=10, read=2000)  # 3 min 51 s idle: still cached
    add_invocation(agent, at(day, 9, 30), input=10, read=2000)  # idle, but it read: not expired

    (session,) = api.get(url(agent, period="7d")).json()["sessions"]

    assert session["cache_expirations"] == 0 and session["cache_expired"] is False


def test_sessions_limit_caps_the_list(api, agent):
    seed_support_agent(agent)

    data = api.get(url(agent, period="7d", sessions_limit=2)).json()

    assert [s["session_id"] for s in data["sessions"]] == ["s2", "s3"]
    assert data["sessions_limit"] == 2 and data["sessions_has_more"] is True
    assert api.get(url(agent, period="7d", sessions_limit=0)).json()["sessions"] == []


def test_from_to_are_inclusive_utc_days(api, agent):
    seeded = seed_support_agent(agent)
    y = seeded.yesterday.isoformat()

    data = api.get(url(agent, **{"from": y, "to": y})).json()

    assert data["period"] == {"name": "custom", "from": y, "to": y, "days": 1}
    assert subset(data, EXPECTED_YESTERDAY) == EXPECTED_YESTERDAY
    assert [row["day"] for row in data["by_day"]] == [y]


@pytest.mark.postgres
def test_an_invocation_belongs_to_the_utc_day_it_was_queued(api, agent):
    day = utc_today() - dt.timedelta(days=2)
    add_invocation(agent, at(day, 23, 59, 59), input=1, duration=dt.timedelta(minutes=5))  # finishes the next day
    add_invocation(agent, at(day + dt.timedelta(days=1), 0, 0, 0), input=2)

    data = api.get(url(agent, period="7d")).json()
    by_day = {row["day"]: row["input_tokens"] for row in data["by_day"]}

    assert by_day[day.isoformat()] == 1 and by_day[(day + dt.timedelta(days=1)).isoformat()] == 2


def test_period_all_starts_at_the_first_invocation(api, agent):
    old = utc_today() - dt.timedelta(days=400)
    add_invocation(agent, at(old, 8), input=7)

    data = api.get(url(agent, period="all")).json()

    assert data["period"]["name"] == "all" and data["period"]["from"] == old.isoformat()
    assert data["input_tokens"] == 7


def test_default_period_is_30_days(api, agent):
    data = api.get(url(agent)).json()

    assert data["period"]["name"] == "30d" and data["period"]["days"] == 30
    assert data["total_invocations"] == 0 and data["hit_rate"] == 0 and data["efficiency_ratio"] == 0


def test_viewers_may_read(viewer_api, agent):
    assert viewer_api.get(url(agent)).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "1y"}, "period"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01", "to": "2026-02-30"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"to": "2026-01-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),  # 732 days > CACHE_STATS_MAX_DAYS (366)
        ({"period": "7d", "from": "2026-01-01"}, "period"),
        ({"sessions_limit": "many"}, "sessions_limit"),
        ({"sessions_limit": "101"}, "sessions_limit"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "to"),  # the day after `to` is past the calendar's end
        ({"from": "9999-12-31"}, "from"),
        ({"period": ""}, "period"),  # given blank is given wrong, not left out
        ({"from": ""}, "from"),
        ({"from": "2026-01-01", "to": ""}, "to"),
        ({"sessions_limit": ""}, "sessions_limit"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(api, agent, params, field):
    response = api.get(url(agent, **params))

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_the_maximum_range_follows_the_setting(api, agent, settings):
    settings.CACHE_STATS_MAX_DAYS = 10

    assert api.get(url(agent, **{"from": "2026-01-01", "to": "2026-01-10"})).status_code == 200
    response = api.get(url(agent, **{"from": "2026-01-01", "to": "2026-01-11"}))
    assert response.status_code == 400 and "at most 10" in response.json()["from"][0]


def test_another_tenants_agent_is_a_404_and_its_invocations_never_count(api, other_api, agent, other_agent):
    seed_support_agent(other_agent)

    assert api.get(url(other_agent)).status_code == 404
    assert other_api.get(url(agent)).status_code == 404
    mine = api.get(url(agent, period="7d")).json()
    assert mine["total_invocations"] == 0 and mine["sessions"] == []
    assert api.get("/api/cache-stats/?period=7d").json()["total_invocations"] == 0


def test_agent_stats_take_a_fixed_number_of_queries(api, agent, django_assert_max_num_queries):
    seed_support_agent(agent)
    services.rollups_refresh(tenant=agent.tenant)
    for n in range(30):
        add_invocation(agent, at(utc_today() - dt.timedelta(days=2), 8, n), session=f"extra{n}", input=1)

    # Auth 2 (the address's failed keys, the key with its tenant), the agent, the rollups' version, their
    # freshness 3, hourly, live and daily sums, and the sessions: the walk, their invocations, their ids.
    with django_assert_max_num_queries(13):
        response = api.get(url(agent, period="90d", sessions_limit=50))
    assert response.status_code == 200 and len(response.json()["sessions"]) == 33

    # Once those late arrivals are rolled up, asked twice before the rollups change again: the second time, the
    # markers (2) and the hourly and daily sums are the ones kept the first time.
    services.rollups_refresh(tenant=agent.tenant)
    first = api.get(url(agent, period="90d", sessions_limit=50)).json()
    with django_assert_max_num_queries(9):
        again = api.get(url(agent, period="90d", sessions_limit=50))
    assert again.json() == first == response.json()


# --- Tenant -----------------------------------------------------------------------------------------


@pytest.fixture
def tenant_agents(tenant, agent):
    """Support (the worked example), a Nova agent whose prompt is too short to cache, and one that never reads."""
    seeded = seed_support_agent(agent)
    y = seeded.yesterday
    nova = make_agent(tenant, NOVA, name="Short prompt", prompt_caching_enabled=False)
    # Caching enabled on its invocations, yet they neither read nor wrote: input 3 → 3 × 3 / 1e6 = 0.000009 each.
    add_invocation(nova, at(y, 9), session="n1", input=3000)
    add_invocation(nova, at(y, 9, 30), session="n2", input=3000)
    # Writes 4000 once, never reads it back: premium 4000 × 0.75 / 1e6 = 0.003, net −0.003.
    writer = make_agent(tenant, name="One-shot", prompt_caching_enabled=True)
    add_invocation(writer, at(y, 14), session="w1", input=10, write=4000)
    idle = make_agent(tenant, name="Idle", prompt_caching_enabled=True)  # no invocations: listed nowhere
    return {"support": agent, "nova": nova, "writer": writer, "idle": idle}


@pytest.mark.postgres
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_tenant_stats_match_the_hand_computation(api, tenant, tenant_agents, rolled_up):
    if rolled_up:
        services.rollups_refresh(tenant=tenant)

    data = api.get("/api/cache-stats/?period=7d&top=2").json()

    # Support (EXPECTED) + Nova 2 × (input 3000: 0.009 with and without) + One-shot (input 10, write 4000:
    # with 10 × 3 + 4000 × 3.75 = 15030 → 0.01503, without 4010 × 3 = 12030 → 0.01203, premium 0.003).
    assert data["total_invocations"] == 5 + 2 + 1
    assert data["caching_enabled_invocations"] == 4 + 2 + 1
    assert data["cache_hits"] == 2 and data["hit_rate"] == 0.285714  # 2 / 7
    assert data["no_cache_activity_invocations"] == 2
    assert data["input_tokens"] == 1350 + 6000 + 10
    assert data["cache_write_tokens"] == 4500 + 4000
    assert data["cost_with_cache"] == "0.054155"  # 0.021125 + 0.018 + 0.01503
    assert data["cost_without_cache"] == "0.058580"  # 0.02855 + 0.018 + 0.01203
    assert data["gross_savings"] == "0.010800"
    assert data["write_premium"] == "0.006375"  # 0.003375 + 0.003
    assert data["net_savings"] == "0.004425"  # 0.007425 − 0.003
    assert data["tenant"] == {"slug": "acme", "name": "Acme"}

    assert [a["agent"]["name"] for a in data["top_agents"]] == ["Support", "Short prompt"]
    assert data["top_agents"][0]["net_savings"] == "0.007425"
    least = {a["agent"]["name"]: a for a in data["least_benefit"]}
    assert least["Short prompt"]["reasons"] == ["below_minimum_tokens"]
    assert least["Short prompt"]["cache_min_tokens"] == tenant_agents["nova"].model.cache_min_tokens
    assert least["One-shot"]["reasons"] == ["writes_never_read"]
    assert [a["agent"]["name"] for a in data["least_benefit"]] == ["One-shot", "Short prompt"]  # worst net first
    families = {f["family"]: f for f in data["by_family"]}
    assert families["anthropic-claude"]["net_savings"] == "0.004425"
    assert families["amazon-nova"]["total_invocations"] == 2 and families["amazon-nova"]["net_savings"] == "0.000000"


def test_tenant_stats_of_another_tenant_are_empty(other_api, tenant_agents):
    data = other_api.get("/api/cache-stats/?period=7d").json()

    assert data["total_invocations"] == 0 and data["top_agents"] == [] and data["least_benefit"] == []
    assert data["by_family"] == [] and data["tenant"]["slug"] == "globex"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ("top=0", "top"),
        ("top=x", "top"),
        ("period=week", "period"),
        ("from=9999-12-30&to=9999-12-31", "to"),
        ("top=", "top"),
    ],
)
def test_tenant_bad_input(api, params, field):
    response = api.get(f"/api/cache-stats/?{params}")

    assert response.status_code == 400 and list(response.json()) == [field]


def test_tenant_stats_take_a_fixed_number_of_queries(api, tenant, tenant_agents, django_assert_max_num_queries):
    for n in range(10):
        extra = make_agent(tenant, name=f"extra {n}", prompt_caching_enabled=True)
        add_invocation(extra, at(utc_today() - dt.timedelta(days=3), 8), input=5, read=10)
    services.rollups_refresh(tenant=tenant, days=[utc_today() - dt.timedelta(days=3)])

    # Auth 2, the rollups' version, their freshness 3 (the day markers bring the tenant's figures by day), hourly
    # and live sums (by agent and key: today's closed hours serve the breakdown by key too), daily sums by agent
    # and key, the agents. (The keys' names are read when keys asked for invocations; none did here.)
    with django_assert_max_num_queries(10):
        response = api.get("/api/cache-stats/?period=90d&top=20")
    assert response.status_code == 200 and len(response.json()["top_agents"]) == 13

    # Asked again before the rollups change: the markers (2) and the hourly and daily sums were kept.
    with django_assert_max_num_queries(6):
        again = api.get("/api/cache-stats/?period=90d&top=20")
    assert again.json() == response.json()


def test_sessions_are_found_past_long_sessions(api, agent):
    day = utc_today() - dt.timedelta(days=1)
    add_invocation(agent, at(day, 1), session="older", input=1)
    for n in range(40):  # more turns than the first page of the walk holds
        add_invocation(agent, at(day, 2, n), session="long", input=1)

    one = api.get(url(agent, period="7d", sessions_limit=1)).json()
    two = api.get(url(agent, period="7d", sessions_limit=2)).json()

    assert [s["session_id"] for s in one["sessions"]] == ["long"] and one["sessions_has_more"] is True
    assert [s["session_id"] for s in two["sessions"]] == ["long", "older"] and two["sessions_has_more"] is False
    assert two["sessions"][0]["invocations"] == 40


def test_agent_reads_refuse_another_tenants_agent(tenant, other_tenant, other_agent):
    """The reads take the tenant and check the agent is its own, whatever the caller fetched."""
    seed_support_agent(other_agent)
    period = Period(utc_today() - dt.timedelta(days=6), utc_today())

    with pytest.raises(Agent.DoesNotExist):
        stats.agent_cache_stats(tenant=tenant, agent=other_agent, period=period)
    with pytest.raises(Agent.DoesNotExist):
        sessions.agent_cache_sessions(tenant=tenant, agent=other_agent, period=period, limit=5)
    with pytest.raises(Agent.DoesNotExist):  # refused when asked, before a streamed response starts
        exports.invocation_csv_rows(tenant=tenant, agent=other_agent, period=period)
    with pytest.raises(Agent.DoesNotExist):
        exports.session_csv_rows(tenant=tenant, agent=other_agent, period=period)
    with pytest.raises(Agent.DoesNotExist):
        first_invocation_day(tenant=tenant, agent=other_agent)
    kept_first_day(tenant=other_tenant, agent=other_agent)  # kept for its own tenant, still refused to another
    with pytest.raises(Agent.DoesNotExist):
        kept_first_day(tenant=tenant, agent=other_agent)
    own = stats.agent_cache_stats(tenant=other_tenant, agent=other_agent, period=period)
    assert own.stats.totals.total_invocations == 5


def test_the_sessions_list_counts_a_session_as_the_cache_stats_do(api, agent):
    """One definition of a session's figures: succeeded turns only, failed ones apart, open ones not yet."""
    seeded = seed_support_agent(agent)
    add_invocation(agent, at(seeded.today, 1), session="s2", status="queued", input=77)

    listed = {s["session_id"]: s for s in api.get(f"/api/agents/{agent.pk}/sessions/").json()["results"]}
    in_stats = {s["session_id"]: s for s in api.get(url(agent, period="7d")).json()["sessions"]}

    assert sorted(listed) == sorted(in_stats) == ["s1", "s2", "s3"]
    for name, session in in_stats.items():
        for field in (
            "invocations",
            "failed_invocations",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "output_tokens",
            "efficiency_ratio",
        ):
            assert listed[name][field] == session[field], (name, field)
        # The same sum, written with the agents API's 12 places and the cache stats' 6.
        assert Decimal(listed[name]["net_savings"]) == Decimal(session["net_savings"]), name
    assert (listed["s1"]["invocations"], listed["s1"]["failed_invocations"]) == (3, 1)
    assert listed["s2"]["invocations"] == 1 and listed["s2"]["input_tokens"] == 50
