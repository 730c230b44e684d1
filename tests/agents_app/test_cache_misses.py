"""Miss reasons stored on invocations as they finish, each from a scenario built for it, through the real
invocation path (Strands, boto3, the emulator), and the same reasons from the replay of that history."""

import re

import pytest

from agents_app.models import FoundationModel, Invocation
from agents_app.services import agents as agent_services
from bedrock.misses import MISSES
from bedrock.replay import ACTUAL, Replay, Setup
from caching.advice_history import agent_history
from tests.caching.advice_support import LONG_PROMPT, PARALLEL_PROMPT, TOOLS, idle, invoke, last_days, session
from tests.conftest import CLAUDE, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:cache_tools is deprecated")]


def reasons(invocations) -> list[str]:
    return [Invocation.objects.get(pk=i.pk).cache_miss_reason for i in invocations]


def replayed_reasons(agent) -> dict[int, str]:
    history = agent_history(tenant=agent.tenant, agent=agent, period=last_days())
    result = Replay(history.conversations).run(Setup("actual", ACTUAL))
    return {turn.key: turn.reason.reason if turn.reason else "" for turn in result.turns}


def assert_the_replay_agrees(agent):
    stored = dict(Invocation.objects.filter(agent=agent).values_list("pk", "cache_miss_reason"))
    assert replayed_reasons(agent) == stored


def test_a_first_session_is_first_use_then_growth(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True, integrations=TOOLS)

    done = session(agent, ["Hello there", "Use the calculator: 6 * 7", "Thanks"])

    assert reasons(done) == ["first_use", "growth", "growth"]
    assert Invocation.objects.get(pk=done[0].pk).cache_miss_detail == {"reason": "first_use", "call": 0}
    assert_the_replay_agrees(agent)


def test_idling_past_the_ttl_is_ttl_expired_with_the_gap(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)

    done = session(agent, ["Hello there", "Still there?", "And now?"], gap=0)
    idle(bedrock_emulator_env, 400)
    late = invoke(agent, "Back after a break", done[-1].session.session_id)

    assert late.cache_read_tokens == 0 and late.cache_write_tokens > 0
    assert late.cache_miss_reason == "ttl_expired"
    assert late.cache_miss_detail["gap_seconds"] >= 400
    assert_the_replay_agrees(agent)


def test_a_redeploy_that_edits_the_system_prompt_is_prefix_changed(bedrock_emulator_env, tenant, commit):
    with commit():
        change = agent_services.agent_create(
            tenant=tenant,
            model=FoundationModel.objects.get(model_id=CLAUDE),
            name="Deployed",
            system_prompt=LONG_PROMPT,
            prompt_caching_enabled=True,
        )
    agent = change.agent
    first = invoke(agent, "Hello there")
    with commit():
        agent_services.agent_update(agent=agent, system_prompt=LONG_PROMPT + " Answer in one paragraph.")

    second = invoke(agent, "And the refund policy?", first.session.session_id)
    other = invoke(agent, "A new customer")

    assert (first.deployment_version, second.deployment_version) == (1, 2)
    assert second.cache_read_tokens == 0
    assert second.cache_miss_reason == "prefix_changed"
    assert second.cache_miss_detail == {"reason": "prefix_changed", "call": 0, "version": 2, "previous_version": 1}
    assert other.cache_miss_reason == "growth"  # the new prefix is cached now: read, and its own turn written
    assert_the_replay_agrees(agent)


def test_a_prompt_under_the_minimum_is_below_minimum(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt="You are helpful.", prompt_caching_enabled=True)

    done = session(agent, ["Hello there", "Hi again"])

    assert all(i.cache_read_tokens == i.cache_write_tokens == 0 for i in done)
    assert reasons(done) == ["below_minimum", "below_minimum"]
    assert_the_replay_agrees(agent)


@pytest.mark.parametrize("strategy", ["automatic", "combined"])
def test_a_25_block_tool_loop_is_lookback_exceeded(bedrock_emulator_env, tenant, strategy):
    agent = make_agent(
        tenant,
        CLAUDE,
        system_prompt=LONG_PROMPT,
        prompt_caching_enabled=True,
        cache_strategy=strategy,
        integrations=TOOLS,
    )
    before = session(agent, ["Hello there"])

    loop = invoke(agent, PARALLEL_PROMPT, before[0].session.session_id)

    assert len(loop.model_calls) == 2
    # The second call's checkpoint is 25 blocks past the first's: 1 text and 12 tool uses, then 12 results.
    first_call, second_call = loop.model_calls
    assert second_call["cache_read_tokens"] < first_call["cache_read_tokens"] + first_call["cache_write_tokens"]
    assert loop.cache_miss_reason == "lookback_exceeded"
    assert loop.cache_miss_detail["call"] == 1
    assert_the_replay_agrees(agent)


def test_a_warm_session_never_labels_a_hit_as_a_miss(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True, integrations=TOOLS)
    session(agent, ["Warm the shared prompt up"])
    prompts = ["Hello", "Use the calculator: 2 + 2", "word_count on: one two three", "calculator 9 * 9", "Thanks"]
    done = session(agent, prompts)
    explicit = make_agent(
        tenant,
        CLAUDE,
        name="explicit",
        system_prompt=LONG_PROMPT + " Explicit.",
        prompt_caching_enabled=True,
        cache_strategy="explicit",
    )
    done += session(explicit, ["One", "Two", "Three"])[1:]

    assert all(i.cache_read_tokens > 0 for i in done)
    assert [r for r in reasons(done) if r in MISSES] == []
    assert set(reasons(done)) <= {"hit", "growth"}
    assert_the_replay_agrees(agent)


def test_an_agent_without_caching_gets_no_reason(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=False)

    done = session(agent, ["Hello there", "Again"])

    assert reasons(done) == ["", ""]
    assert Invocation.objects.filter(cache_miss_reason="").count() == 2


def test_reasons_are_filterable_and_counted_in_cache_stats(bedrock_emulator_env, api, other_api, tenant):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    session(agent, ["Hello there", "Again", "Once more"])

    listed = api.get(f"/api/agents/{agent.pk}/invocations/?miss_reason=growth").json()
    stats = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d").json()

    assert listed["count"] == 2 and {r["cache_miss_reason"] for r in listed["results"]} == {"growth"}
    assert stats["miss_reasons"] == {
        "hit": 0,
        "growth": 2,
        "first_use": 1,
        "ttl_expired": 0,
        "prefix_changed": 0,
        "below_minimum": 0,
        "lookback_exceeded": 0,
    }
    assert stats["sessions"][0]["miss_reasons"] == {"first_use": 1}
    assert api.get(f"/api/agents/{agent.pk}/invocations/?miss_reason=nonsense").status_code == 400
    assert other_api.get(f"/api/agents/{agent.pk}/invocations/?miss_reason=growth").status_code == 404


def test_the_invocation_page_says_why(bedrock_emulator_env, client, tenant):
    from agent_platform.models import Role
    from tests.admin.conftest import login, page

    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    first = session(agent, ["Hello there"])[0]
    idle(bedrock_emulator_env, 420)
    late = invoke(agent, "Back after a break", first.session.session_id)
    member = login(client, tenant, Role.MEMBER)

    html = page(member.get(f"/admin/agents_app/invocation/{late.pk}/change/"))
    listed = page(member.get("/admin/agents_app/invocation/?cache_miss_reason=ttl_expired"))

    assert 'id="miss-reason" data-reason="ttl_expired"' in html
    assert re.search(r"the prefix was last used 7 min \d+ s earlier, past its TTL", html)
    assert f"/admin/agents_app/invocation/{late.pk}/change/" in listed
    assert f"/admin/agents_app/invocation/{first.pk}/change/" not in listed
