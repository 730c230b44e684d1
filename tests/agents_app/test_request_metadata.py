"""Every Bedrock call of a turn carries the invocation's ids as requestMetadata, within Bedrock's limits."""

import pytest

from agents_app import tasks
from agents_app.demo import support_system_prompt
from agents_app.runtime import context
from agents_app.runtime.config import AgentConfig
from agents_app.runtime.run import run_agent
from agents_app.selectors import agent_config
from agents_app.services.invocations import invocation_create
from tests.conftest import CLAUDE, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_every_model_call_of_a_tool_loop_carries_the_ids(bedrock_emulator_env, tenant, eager):
    agent = make_agent(
        tenant,
        CLAUDE,
        system_prompt=support_system_prompt(),
        prompt_caching_enabled=True,
        integrations=[{"name": "calculator"}, {"name": "word_count"}],
    )
    invocation = invocation_create(
        agent=agent, prompt="Use the calculator on 6 * 7, then word_count on: one two", session_id="chat:42.a-b_c"
    )
    tasks.invocation_run.delay(invocation.pk)
    invocation.refresh_from_db()

    assert invocation.status == "succeeded", invocation.error
    calls = bedrock_emulator_env.requests
    assert len(calls) == len(invocation.model_calls) >= 3
    expected = {
        "tenant_id": str(tenant.pk),
        "agent_id": str(agent.pk),
        "session_id": "chat:42.a-b_c",
        "invocation_id": str(invocation.pk),
    }
    assert [call["requestMetadata"] for call in calls] == [expected] * len(calls)


def test_each_invocation_sends_its_own_ids(bedrock_emulator_env, tenant, eager):
    agent = make_agent(tenant, CLAUDE)
    first = invocation_create(agent=agent, prompt="Hello")
    second = invocation_create(agent=agent, prompt="Hello again", session_id=first.session.session_id)
    for invocation in (first, second):
        tasks.invocation_run.delay(invocation.pk)
    sent = [call["requestMetadata"]["invocation_id"] for call in bedrock_emulator_env.requests]
    assert sent == [str(first.pk), str(second.pk)]


def test_a_turn_outside_an_invocation_sends_no_metadata(bedrock_emulator_env, tenant):
    """The runtime alone (the AgentCore container, a script) adds nothing it was not given."""
    config = AgentConfig.from_json(agent_config(make_agent(tenant, CLAUDE)))
    run_agent(config, "Hello")
    assert bedrock_emulator_env.requests[-1]["requestMetadata"] is None


def test_values_are_made_to_fit_bedrocks_limits():
    with context.invocation_scope(tenant_id=1, session_id='{"user": "é"}' + "x" * 300):
        metadata = context.request_metadata()
    assert metadata["tenant_id"] == "1"
    # Braces, quotes and accents are outside Bedrock's characters (`:` and spaces are in); 256 at most.
    assert metadata["session_id"] == ("__user_: ____" + "x" * 300)[:256]
    assert context.request_metadata() is None  # the scope is gone
