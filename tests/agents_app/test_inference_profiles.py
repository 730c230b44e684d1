"""Per-tenant application inference profiles: made once by the deployer, used as modelId, caching intact.

The control plane is the emulator's stand-in (moto 5.2 has no CreateInferenceProfile); deployments and
invocations go through the real services, boto3 and Strands' BedrockModel.
"""

import pytest

from agents_app.demo import support_system_prompt
from agents_app.inference_profiles import profile_name
from agents_app.models import Deployment, TenantInferenceProfile
from agents_app.selectors import deployment_current
from agents_app.services import invocations as invocation_services
from agents_app.services.deployments import deployment_request
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def profiles_on(settings, bedrock_emulator_env):
    settings.BEDROCK_TENANT_INFERENCE_PROFILES = True
    settings.AWS_ENDPOINT_URL_BEDROCK = bedrock_emulator_env.url
    return bedrock_emulator_env


def deployed(agent, commit) -> Deployment:
    with commit():
        deployment_request(agent=agent)
    deployment = deployment_current(agent=agent)
    assert deployment is not None and deployment.status == "deployed", deployment and deployment.error
    return deployment


def invoke(agent, prompt, session_id=None):
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded", invocation.error
    return invocation


def test_the_deployer_makes_the_tenants_profile_once_and_calls_use_its_arn(profiles_on, commit, tenant, other_tenant):
    emulator = profiles_on
    first = make_agent(tenant, CLAUDE, name="one", system_prompt=support_system_prompt(), prompt_caching_enabled=True)
    second = make_agent(tenant, CLAUDE, name="two", system_prompt=support_system_prompt(), prompt_caching_enabled=True)
    v1 = deployed(first, commit)

    profile = TenantInferenceProfile.objects.get(tenant=tenant, model_id=CLAUDE)
    assert v1.config["inference_profile_arn"] == profile.arn and ":application-inference-profile/" in profile.arn
    assert profile.name == profile_name(tenant, CLAUDE) == f"agent-platform-t{tenant.pk}-us-anthropic-claude-sonnet-4-6"
    created = emulator.state.profiles.get(profile.arn)
    assert created["models"][0]["modelArn"].endswith("foundation-model/anthropic.claude-sonnet-4-6")
    assert emulator.state.profiles.tags(profile.arn) == [
        {"key": "agent-platform:tenant", "value": "acme"},
        {"key": "agent-platform:tenant-id", "value": str(tenant.pk)},
    ]

    # Reused: another agent of the tenant, and a redeploy, make no second profile.
    assert deployed(second, commit).config["inference_profile_arn"] == profile.arn
    with commit():
        deployment_request(agent=first, force=True)
    assert deployment_current(agent=first).version == 2
    # The next request of an unchanged config already carries the ARN: nothing to deploy.
    with commit():
        assert deployment_request(agent=first) is None
    # Another tenant gets its own.
    other = make_agent(other_tenant, CLAUDE, name="three")
    assert deployed(other, commit).config["inference_profile_arn"] != profile.arn
    assert len(emulator.state.profiles.list()["inferenceProfileSummaries"]) == 2

    # The model calls send the ARN; the prompt cache works through it.
    one = invoke(first, "Where is my order?")
    two = invoke(first, "And when will it ship?", session_id=one.session.session_id)
    assert {call["modelId"] for call in emulator.requests[-2:]} == {profile.arn}
    assert one.cache_write_tokens > 0 and two.cache_read_tokens > 0 and two.cache_hit is True
    assert two.model_id == CLAUDE and two.cost_with_cache > 0  # priced as the model it copies


def test_a_tool_loop_through_a_profile_sends_the_same_request_as_the_plain_id(profiles_on, commit, tenant):
    """Strands cannot tell the vendor from an ARN: the runtime says what the plain id would have (tool status)."""
    emulator = profiles_on
    agent = make_agent(
        tenant,
        CLAUDE,
        system_prompt=support_system_prompt(),
        prompt_caching_enabled=True,
        integrations=[{"name": "word_count"}],
    )
    deployed(agent, commit)
    invocation = invoke(agent, "Please use word_count on: the quick brown fox")
    with_profile = emulator.requests[-1]["request"]

    TenantInferenceProfile.objects.all().delete()
    Deployment.objects.all().delete()
    invoke(agent, "Please use word_count on: the quick brown fox")  # never deployed: the plain id
    plain = emulator.requests[-1]["request"]
    assert emulator.requests[-1]["modelId"] == CLAUDE
    assert with_profile["messages"] == plain["messages"] and len(invocation.model_calls) >= 2


def test_off_by_default_no_profile_is_made(settings, commit, tenant, bedrock_emulator_env):
    assert settings.BEDROCK_TENANT_INFERENCE_PROFILES is False
    agent = make_agent(tenant, NOVA)
    assert "inference_profile_arn" not in deployed(agent, commit).config
    assert not TenantInferenceProfile.objects.exists()
    assert bedrock_emulator_env.state.profiles.list()["inferenceProfileSummaries"] == []
