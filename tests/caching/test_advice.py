"""The cache advisor on histories made through the real invocation path (Strands, boto3, the emulator)."""

from decimal import Decimal

import pytest

from caching.advice import advice_data
from caching.advice_history import agent_history
from tests.caching.advice_support import LONG_PROMPT, PARALLEL_PROMPT, TOOLS, idle, last_days, session
from tests.conftest import CLAUDE, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:cache_tools is deprecated")]


def advise(tenant, agent):
    period = last_days()
    return advice_data(agent_history(tenant=tenant, agent=agent, period=period), period=period)


def costs(data) -> dict[str, Decimal]:
    found = {s["name"]: Decimal(s["cost"]) for s in data["setups"] if s["available"]}
    return {**found, "actual": Decimal(data["actual"]["cost"]), "oracle": Decimal(data["oracle"]["cost"])}


@pytest.mark.parametrize("strategy", ["combined", "explicit", "automatic"])
def test_replaying_the_actual_setup_reproduces_what_was_billed(bedrock_emulator_env, tenant, strategy):
    agent = make_agent(
        tenant,
        CLAUDE,
        system_prompt=LONG_PROMPT,
        prompt_caching_enabled=True,
        cache_strategy=strategy,
        integrations=TOOLS,
    )
    session(agent, ["Hello there", "Use the calculator: 6 * 7", "And word_count on: the quick brown fox"])
    session(agent, ["Opening hours?", PARALLEL_PROMPT, "Thanks"])
    idle(bedrock_emulator_env, 400)
    session(agent, ["Back after a break", "calculator 2 + 2 please"])

    data = advise(tenant, agent)

    check = data["actual"]["self_check"]
    assert data["replayed_invocations"] == data["invocations"] == 8
    assert check["exact_invocations"] == check["compared_invocations"] == 8
    assert check["cost_difference_ratio"] <= 0.001
    assert data["actual"]["cost"] == check["stored_cost"]
    found = costs(data)
    assert all(found["oracle"] <= cost for cost in found.values()), found


def test_sessions_with_10_to_30_minute_gaps_are_advised_a_one_hour_ttl(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    for number in range(3):
        prompts = [f"Customer {number}, question {turn}: what does the policy say?" for turn in range(4)]
        session(agent, prompts, gap=600 * (number + 1), emulator=bedrock_emulator_env)
        idle(bedrock_emulator_env, 900)

    data = advise(tenant, agent)

    advice = data["advice"]
    assert advice["current"] == "combined-5m"
    assert advice["cheapest"].endswith("-1h"), advice
    assert advice["one_hour_ttl"]["verdict"] == "pays"
    assert advice["one_hour_ttl"]["reuse_gaps"]["5m_to_60m"] >= 9
    assert Decimal(advice["saving_30d"]) > 0
    assert "1-hour TTL pays" in advice["summary"]
    found = costs(data)
    assert all(found["oracle"] <= cost for cost in found.values()), found
    # Idle turns under 5-minute TTLs: their misses are expirations, with the gap.
    assert data["actual"]["miss_reasons"]["ttl_expired"] >= 9


def test_single_turn_traffic_on_a_large_shared_prompt_is_advised_explicit(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    for number in range(8):
        session(agent, [f"One question from customer {number}: can I return a bike?"])
        idle(bedrock_emulator_env, 30)

    data = advise(tenant, agent)

    advice = data["advice"]
    assert advice["cheapest"] == "explicit-5m", advice
    assert advice["one_hour_ttl"]["verdict"] == "does_not_pay"
    found = costs(data)
    assert found["explicit-5m"] < found["combined-5m"] < found["automatic-5m"]
    assert all(found["oracle"] <= cost for cost in found.values()), found
    assert Decimal(advice["left_on_table"]) == found["actual"] - found["oracle"]


def test_the_weekly_report_ranks_the_agents_by_money_left_on_the_table(bedrock_emulator_env, tenant, other_tenant):
    from django.core import mail

    from agent_platform.models import Role
    from agent_platform.services import member_ensure
    from caching import services
    from caching.periods import ONE_DAY, utc_today

    boss = member_ensure(tenant=tenant, username="boss", password="pw-boss-123456", role=Role.ADMIN).user
    boss.email = "boss@acme.test"
    boss.save()
    cached = make_agent(tenant, CLAUDE, name="Cached", system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    plain = make_agent(
        tenant, CLAUDE, name="Plain", system_prompt=LONG_PROMPT + " Plain.", prompt_caching_enabled=False
    )
    theirs = make_agent(other_tenant, CLAUDE, name="Theirs", system_prompt=LONG_PROMPT + " Theirs.")
    for agent in (cached, plain, theirs):
        session(agent, ["Hello there", "And the refund policy?", "Thanks"])
    idle(bedrock_emulator_env, 24 * 3600)  # yesterday's traffic: the report covers whole days up to yesterday

    yesterday = utc_today() - ONE_DAY
    report, _ = services.cache_report_create(tenant=tenant, period_start=yesterday - 6 * ONE_DAY, period_end=yesterday)
    services.cache_report_send(report=report)

    rows = report.stats["advice"]["agents"]
    assert [row["agent"]["name"] for row in rows] == ["Plain", "Cached"]
    assert all(row["status"] == "ready" for row in rows)
    assert rows[0]["current"] == "none" and Decimal(rows[0]["left_on_table"]) > Decimal(rows[1]["left_on_table"])
    body = mail.outbox[0].body
    assert "Money left on the table" in body and f"Plain: ${rows[0]['left_on_table']}" in body
