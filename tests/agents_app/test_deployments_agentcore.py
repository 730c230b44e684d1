"""The agentcore backend: deployments on moto's AgentCore control plane, turns through invoke_agent_runtime.

moto's server runs on a loopback port and boto3 talks to it over HTTP, as to
AWS. Where moto 5.2.5 falls short (an update never becomes READY; no
InvokeAgentRuntime), `tests/agents_app/agentcore_servers.py` fills the gap and
says how. Turns reach the real container entrypoint, which calls the Bedrock
emulator.
"""

import json
import re

import pytest

from agent_platform.services import api_key_create
from agents_app import selectors
from agents_app.demo import support_system_prompt
from agents_app.models import Agent, Deployment, Invocation
from agents_app.runtime import agentcore
from agents_app.runtime.agentcore_app import app as container_app
from agents_app.runtime.config import AgentConfig
from agents_app.services import invocations as invocation_services
from tests.agents_app.agentcore_servers import (
    CONTAINER_URI,
    ROLE_ARN,
    AgentCoreDataPlane,
    config_environment_restored,
    moto_agentcore,
    serve_asgi,
)
from tests.conftest import CLAUDE

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:cache_tools is deprecated:DeprecationWarning")]

LONG_PROMPT = support_system_prompt()


@pytest.fixture
def moto(bedrock_emulator_env):
    """moto's AgentCore control plane; AWS credentials and region from the emulator's environment (dummies)."""
    with moto_agentcore() as server:
        yield server


@pytest.fixture
def agentcore_backend(settings, moto):
    settings.DEPLOY_BACKEND = "agentcore"
    settings.AGENTCORE_CONTROL_ENDPOINT_URL = moto.url
    settings.AGENTCORE_ROLE_ARN = ROLE_ARN
    settings.AGENTCORE_CONTAINER_URI = CONTAINER_URI
    settings.AGENTCORE_POLL_INTERVAL = 0
    settings.AGENTCORE_READY_TIMEOUT = 10
    return moto


@pytest.fixture
def data_plane(settings, agentcore_backend):
    """Invocations reach the container entrypoint through the AgentCore data-plane stand-in."""
    plane = AgentCoreDataPlane(container_app, agentcore_backend)
    with config_environment_restored(), serve_asgi(plane) as url:
        settings.AGENTCORE_ENDPOINT_URL = url
        yield plane


def create(api, commit, **body) -> Agent:
    body = {"name": "Helper", "system_prompt": "You are helpful.", "model_id": CLAUDE} | body
    with commit():
        response = api.post("/api/agents/", body, format="json")
    assert response.status_code == 201, response.data
    return Agent.objects.get(pk=response.data["id"])


def patch(api, commit, agent, **changes):
    with commit():
        response = api.patch(f"/api/agents/{agent.pk}/", changes, format="json")
    assert response.status_code == 200, response.data
    agent.refresh_from_db()


def runtime_name(agent) -> str:
    return f"agent_platform_t{agent.tenant_id}_a{agent.pk}"


def config_in(runtime) -> dict:
    return json.loads(agentcore.config_from_environment(runtime["environmentVariables"]))


def invoke(agent, prompt="Hello there", session_id=None) -> Invocation:
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    return invocation


# --- Deploying ----------------------------------------------------------------------------------------


def test_first_deploy_creates_the_runtime_then_updates_set_agent_config_json(api, commit, agentcore_backend):
    moto = agentcore_backend
    moto.transitions(times=2)  # READY only on the second get_agent_runtime: the deployer must poll
    agent = create(api, commit, prompt_caching_enabled=False)

    v1 = selectors.deployment_current(agent=agent)
    runtime = moto.runtime(runtime_name(agent))
    assert (v1.version, v1.backend, v1.status) == (1, "agentcore", "deployed")
    assert runtime["status"] == "READY" and runtime["agentRuntimeVersion"] == "1"
    assert runtime["environmentVariables"] == {
        "AGENT_CONFIG_JSON": json.dumps(v1.config, sort_keys=True, separators=(",", ":"))
    }
    assert config_in(runtime) == v1.config and v1.runtime_arn == runtime["agentRuntimeArn"]
    assert runtime["roleArn"] == ROLE_ARN
    assert runtime["agentRuntimeArtifact"] == {"containerConfiguration": {"containerUri": CONTAINER_URI}}
    assert runtime["networkConfiguration"] == {"networkMode": "PUBLIC"}

    patch(api, commit, agent, prompt_caching_enabled=True)

    v2 = selectors.deployment_current(agent=agent)
    runtime = moto.runtime(runtime_name(agent))
    assert len(moto.runtimes()) == 1  # updated, not created again
    assert v2.version == 2 and runtime["agentRuntimeVersion"] == "2" and runtime["status"] == "READY"
    assert config_in(runtime) == v2.config
    assert config_in(runtime)["prompt_caching_enabled"] is True and config_in(runtime)["version"] == 2
    assert v2.runtime_arn == runtime["agentRuntimeArn"]


def test_a_config_longer_than_an_environment_variable_is_sent_in_parts(api, commit, agentcore_backend):
    agent = create(api, commit, system_prompt=LONG_PROMPT)

    runtime = agentcore_backend.runtime(runtime_name(agent))

    environment = runtime["environmentVariables"]
    assert "AGENT_CONFIG_JSON" not in environment and int(environment["AGENT_CONFIG_JSON_PARTS"]) >= 2
    assert all(len(value) <= 5000 for value in environment.values())
    assert config_in(runtime) == selectors.deployment_current(agent=agent).config
    assert AgentConfig.from_json(config_in(runtime)).system_prompt == LONG_PROMPT


def test_a_runtime_that_is_not_ready_in_time_is_retried_then_failed_without_a_second_runtime(
    api, commit, settings, agentcore_backend
):
    settings.DEPLOY_MAX_ATTEMPTS = 2
    settings.AGENTCORE_READY_TIMEOUT = 0
    agentcore_backend.transitions(times=1000)

    agent = create(api, commit)

    (deployment,) = Deployment.objects.filter(agent=agent)
    assert (deployment.status, deployment.attempts) == ("failed", 2)
    assert "is still CREATING after 0 s" in deployment.error
    assert len(agentcore_backend.runtimes()) == 1


def test_missing_agentcore_settings_fail_the_deployment_at_once(api, commit, settings, agentcore_backend):
    settings.AGENTCORE_ROLE_ARN = ""

    agent = create(api, commit)

    (deployment,) = Deployment.objects.filter(agent=agent)
    assert (deployment.status, deployment.attempts) == ("failed", 1) and "AGENTCORE_ROLE_ARN" in deployment.error
    assert agentcore_backend.runtimes() == []


# --- Invoking -----------------------------------------------------------------------------------------


def test_turns_run_in_the_runtime_with_the_deployed_version_and_cache(api, commit, data_plane):
    agent = create(api, commit, system_prompt=LONG_PROMPT, prompt_caching_enabled=False)
    before = invoke(agent)
    assert before.status == "succeeded", before.error
    assert before.deployment_version == 1 and before.caching_enabled is False

    patch(api, commit, agent, prompt_caching_enabled=True)
    first = invoke(agent, "Where is my order?")
    second = invoke(agent, "When will it ship?", session_id=first.session.session_id)

    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert first.deployment_version == second.deployment_version == 2 and first.warnings == []
    assert first.cache_write_tokens > 0 and second.cache_read_tokens > 0 and second.cache_hit is True
    assert second.response and second.time_to_first_token_ms is not None and len(second.model_calls) == 1
    v1, v2 = Deployment.objects.filter(agent=agent).order_by("version")
    assert data_plane.invoked == [v1.runtime_arn, v2.runtime_arn, v2.runtime_arn]
    stored = first.session.__class__.objects.get(pk=first.session_id).messages
    assert [m["role"] for m in stored] == ["user", "assistant"] * 2


def test_a_model_error_in_the_runtime_fails_the_invocation_with_its_message(
    api, commit, data_plane, bedrock_emulator_env
):
    agent = create(api, commit)
    bedrock_emulator_env.faults.configure(fail_next=["AccessDeniedException"])

    invocation = invoke(agent)

    assert invocation.status == "failed" and "AccessDenied" in invocation.error


# --- Secrets ------------------------------------------------------------------------------------------

KEY_LIKE = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"(?i)aws_secret|secret_?key|password|api[_-]?key|authorization|bearer|-----BEGIN"),
    re.compile(r"[A-Za-z0-9/+=]{40}"),  # an AWS secret access key's shape
]


def test_no_secret_reaches_agent_config_json(api, commit, settings, monkeypatch, tenant, agentcore_backend):
    secrets = {
        "SECRET_KEY": "django-insecure-Zq8PLkw2vN5rT0yXc3Hd7Jf1Gs4Bm6Va9Ue",
        "AWS_ACCESS_KEY_ID": "AKIAZ7QX2KLM4NOP3RST",
        "AWS_SECRET_ACCESS_KEY": "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",
        "EMAIL_HOST_PASSWORD": "smtp-password-9f8e7d",
    }
    settings.SECRET_KEY = secrets["SECRET_KEY"]
    settings.EMAIL_HOST_PASSWORD = secrets["EMAIL_HOST_PASSWORD"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", secrets["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secrets["AWS_SECRET_ACCESS_KEY"])
    _, api_key = api_key_create(tenant=tenant, name="ci", role="admin")
    agent = create(api, commit, integrations=[{"name": "calculator"}], prompt_caching_enabled=True)

    deployment = selectors.deployment_current(agent=agent)
    runtime = agentcore_backend.runtime(runtime_name(agent))
    pushed = json.dumps(runtime["environmentVariables"])
    stored = json.dumps(deployment.config)

    assert set(runtime["environmentVariables"]) == {"AGENT_CONFIG_JSON"}
    assert set(deployment.config) == set(AgentConfig.from_json(deployment.config).to_dict())
    for text in (pushed, stored):
        for value in [*secrets.values(), api_key]:
            assert value not in text
        for pattern in KEY_LIKE:
            assert not pattern.search(text), pattern.pattern
