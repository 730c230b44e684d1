"""Deployments with the local backend: what requests one, versions, newest wins, retries, and invocations.

Tasks run eagerly (`eager`), and on-commit callbacks are executed with
`django_capture_on_commit_callbacks(execute=True)`, so a request goes
API/admin -> service -> on commit -> deployment row -> deployment_run task -> deployer,
as it does with a worker.
"""

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.pagination import PageNumberPagination

from agent_platform.models import Role
from agent_platform.services import member_ensure
from agents_app import deployers, selectors
from agents_app.demo import support_system_prompt
from agents_app.models import Agent, Deployment, FamilyCachingDefault, Invocation, ModelFamily
from agents_app.services import agents as agent_services
from agents_app.services import deployments as deployment_services
from agents_app.services import invocations as invocation_services
from agents_app.services.errors import RetryLater
from tests.conftest import CLAUDE, NOVA, admin_login, make_agent

pytestmark = pytest.mark.django_db

LONG_PROMPT = support_system_prompt()
Status = Deployment.Status


def deployments(agent) -> list[Deployment]:
    return list(Deployment.objects.filter(agent=agent).order_by("version"))


def current(agent) -> Deployment | None:
    return selectors.deployment_current(agent=agent)


def create(api, commit, **body) -> Agent:
    body = {"name": "Helper", "system_prompt": LONG_PROMPT, "model_id": CLAUDE} | body
    with commit():
        response = api.post("/api/agents/", body, format="json")
    assert response.status_code == 201, response.data
    return Agent.objects.get(pk=response.data["id"])


def patch(api, commit, agent, **changes):
    with commit():
        response = api.patch(f"/api/agents/{agent.pk}/", changes, format="json")
    assert response.status_code == 200, response.data
    agent.refresh_from_db()
    return response


def invoke(agent, prompt="Hello there", session_id=None) -> Invocation:
    invocation = invocation_services.invocation_create(agent=agent, prompt=prompt, session_id=session_id)
    invocation_services.invocation_run(invocation_id=invocation.pk)
    invocation.refresh_from_db()
    return invocation


# --- What requests a deployment ---------------------------------------------------------------------


def test_creating_an_agent_deploys_version_1_with_its_exact_config(api, commit):
    agent = create(api, commit, prompt_caching_enabled=True, cache_strategy="explicit")

    (deployment,) = deployments(agent)
    assert deployment.version == 1 and deployment.status == Status.DEPLOYED and deployment.backend == "local"
    assert deployment.config == selectors.agent_config(agent) | {"version": 1}
    assert deployment.config["prompt_caching_enabled"] is True and deployment.config["cache_strategy"] == "explicit"
    assert deployment.requested_by_label.startswith("API key") and deployment.attempts == 1
    assert deployment.error == "" and deployment.finished_at is not None and deployment.tenant == agent.tenant


def test_enabling_caching_deploys_a_new_version_the_next_invocation_runs_and_caches(api, commit, bedrock_emulator_env):
    agent = create(api, commit, prompt_caching_enabled=False)
    before = invoke(agent)
    assert before.deployment_version == 1 and before.caching_enabled is False

    patch(api, commit, agent, prompt_caching_enabled=True)

    v2 = current(agent)
    assert v2.version == 2 and v2.config["prompt_caching_enabled"] is True and v2.config["version"] == 2
    first = invoke(agent, "Where is my order?")
    second = invoke(agent, "And when will it ship?", session_id=first.session.session_id)
    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert first.deployment_version == second.deployment_version == 2 and second.deployment == v2
    assert first.caching_enabled is True and first.cache_write_tokens > 0
    assert second.cache_read_tokens > 0 and second.cache_hit is True


def test_before_any_deployment_invocations_run_the_current_settings_without_a_version(tenant, bedrock_emulator_env):
    agent = make_agent(tenant, CLAUDE, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)

    invocation = invoke(agent)

    assert invocation.status == "succeeded" and invocation.deployment_version is None and invocation.deployment is None
    assert invocation.caching_enabled is True


def test_switching_from_claude_to_nova_turns_caching_off_and_deploys_it(api, commit):
    agent = create(api, commit, prompt_caching_enabled=True)

    patch(api, commit, agent, model_id=NOVA)

    v2 = current(agent)
    assert v2.version == 2 and v2.config["prompt_caching_enabled"] is False and v2.config["model_id"] == NOVA
    assert v2.config["model_capabilities"]["supports_prompt_caching"] is False


def test_a_family_toggle_redeploys_the_tenants_followers_and_no_other_tenants_agents(
    api, commit, tenant, other_tenant, other_api
):
    followers = [create(api, commit, name=f"follower {n}") for n in range(2)]
    own_setting = create(api, commit, name="own setting", prompt_caching_enabled=False)
    nova_follower = create(api, commit, name="nova follower", model_id=NOVA)
    theirs = create(other_api, commit, name="theirs")

    with commit():
        response = api.put(
            "/api/model-families/anthropic-claude/caching-default/", {"prompt_caching_enabled": True}, format="json"
        )

    assert response.status_code == 200, response.data
    for agent in followers:
        assert [(d.version, d.status) for d in deployments(agent)] == [(1, "deployed"), (2, "deployed")]
        assert current(agent).config["prompt_caching_enabled"] is True
    for agent in (own_setting, nova_follower, theirs):
        assert [d.version for d in deployments(agent)] == [1], agent.name
    assert Deployment.objects.filter(tenant=other_tenant).count() == 1


def test_a_family_toggle_for_another_family_or_to_the_same_value_redeploys_nothing(api, commit, tenant):
    agent = create(api, commit)
    claude = ModelFamily.objects.get(slug="anthropic-claude")
    llama = ModelFamily.objects.get(slug="meta-llama")

    with commit():
        agent_services.family_default_set(tenant=tenant, family=llama, enabled=False)
        agent_services.family_default_set(tenant=tenant, family=claude, enabled=False)  # unset already means off

    assert [d.version for d in deployments(agent)] == [1]


@pytest.mark.parametrize(
    "changes",
    [
        {"system_prompt": LONG_PROMPT + "\nBe brief."},
        {"max_tokens": 1024},
        {"integrations": [{"name": "calculator"}]},
        {"cache_strategy": "automatic"},
        {"model_id": "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
    ],
)
def test_any_change_to_the_config_redeploys(api, commit, changes):
    agent = create(api, commit)

    patch(api, commit, agent, **changes)

    assert [d.version for d in deployments(agent)] == [1, 2]
    assert current(agent).config == selectors.agent_config(agent) | {"version": 2}


def test_a_change_that_leaves_the_config_alone_does_not_redeploy(api, commit):
    agent = create(api, commit)

    patch(api, commit, agent, name="Renamed", description="Now with a description")

    assert [d.version for d in deployments(agent)] == [1]


def test_an_import_deploys_each_agent_and_a_failed_import_deploys_nothing(api, commit):
    doc = {"agents": [{"name": f"imported {n}", "system_prompt": "Hi.", "model_id": CLAUDE} for n in range(3)]}
    with commit():
        assert api.post("/api/agents/import/", doc, format="json").status_code == 201
    bad = {"agents": [{"name": "good", "system_prompt": "Hi.", "model_id": CLAUDE}, {"name": "bad"}]}
    with commit():
        assert api.post("/api/agents/import/", bad, format="json").status_code == 400

    assert sorted(Deployment.objects.values_list("agent__name", "version")) == [(f"imported {n}", 1) for n in range(3)]


def test_a_rolled_back_change_requests_nothing(tenant, commit):
    agent = make_agent(tenant)

    with commit(), pytest.raises(RuntimeError), transaction.atomic():
        agent_services.agent_update(agent=agent, max_tokens=1000)
        raise RuntimeError("rolled back")

    assert not Deployment.objects.exists()


# --- The API ------------------------------------------------------------------------------------------


def test_manual_deploy_answers_202_with_a_new_version_even_when_nothing_changed(api, commit):
    agent = create(api, commit)

    with commit():
        response = api.post(f"/api/agents/{agent.pk}/deploy/")

    assert response.status_code == 202, response.data
    assert response.data["version"] == 2 and response.data["agent_id"] == agent.pk
    assert response.data["status"] in ("pending", "deployed") and response.data["superseded"] is False
    assert current(agent).version == 2


def test_viewers_cannot_deploy(viewer_api, agent):
    assert viewer_api.post(f"/api/agents/{agent.pk}/deploy/").status_code == 403
    assert not Deployment.objects.exists()


def test_deployments_are_listed_newest_first_and_paginated(api, commit, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    agent = create(api, commit)
    for n in range(3):
        patch(api, commit, agent, max_tokens=1000 + n)

    page = api.get(f"/api/agents/{agent.pk}/deployments/").data

    assert page["count"] == 4 and [d["version"] for d in page["results"]] == [4, 3]
    assert page["results"][0]["config"]["max_tokens"] == 1002 and page["next"]
    detail = api.get(f"/api/deployments/{page['results'][0]['id']}/").data
    assert detail["version"] == 4 and detail["status"] == "deployed" and detail["requested_by"].startswith("API key")


# --- Newest wins, one at a time -------------------------------------------------------------------------


def test_a_stale_task_is_a_no_op_and_its_row_says_superseded(tenant, api):
    agent = make_agent(tenant)
    v1 = deployment_services.deployment_request(agent=agent, force=True)  # not committed yet: no task has run
    v2 = deployment_services.deployment_request(agent=agent, force=True)

    deployment_services.deployment_run(deployment_id=v1.pk)
    deployment_services.deployment_run(deployment_id=v2.pk)
    deployment_services.deployment_run(deployment_id=v1.pk)  # redelivered: still nothing

    v1.refresh_from_db(), v2.refresh_from_db()
    assert (v1.status, v1.attempts, v1.error) == ("superseded", 0, "Superseded by v2 before it was deployed.")
    assert selectors.deployment_superseded(v1) and v1.finished_at is not None
    assert (v2.status, v2.attempts) == ("deployed", 1) and current(agent) == v2
    listed = {d["version"]: d for d in api.get(f"/api/agents/{agent.pk}/deployments/").data["results"]}
    assert (listed[1]["status"], listed[1]["superseded"], listed[1]["current"]) == ("superseded", True, False)
    assert (listed[2]["status"], listed[2]["superseded"], listed[2]["current"]) == ("deployed", False, True)


def test_the_current_version_is_marked_and_the_agent_says_its_deploy_state(tenant, api, commit):
    agent = make_agent(tenant)
    before = api.get(f"/api/agents/{agent.pk}/").data
    assert (before["current_version"], before["deploy_status"]) == (None, None)
    for _ in range(3):
        with commit():
            deployment_services.deployment_request(agent=agent, force=True)

    listed = api.get(f"/api/agents/{agent.pk}/deployments/").data["results"]
    detail = api.get(f"/api/deployments/{listed[1]['id']}/").data
    one = api.get(f"/api/agents/{agent.pk}/").data
    many = api.get("/api/agents/").data["results"][0]

    # Old versions stay deployed (they were), and only the newest deployed one is current.
    assert [(d["version"], d["status"], d["current"]) for d in listed] == [
        (3, "deployed", True),
        (2, "deployed", False),
        (1, "deployed", False),
    ]
    assert detail["current"] is False
    assert (
        (one["current_version"], one["deploy_status"])
        == (many["current_version"], many["deploy_status"])
        == (
            3,
            "deployed",
        )
    )
    # A failed newer version: the agent keeps running v3 and says the newest attempt failed.
    Deployment.objects.create(tenant=tenant, agent=agent, version=4, config={}, backend="local", status="failed")
    one = api.get(f"/api/agents/{agent.pk}/").data
    assert (one["current_version"], one["deploy_status"]) == (3, "failed")


def test_a_finished_deployment_is_never_deployed_again(tenant, monkeypatch):
    agent = make_agent(tenant)
    deployment = deployment_services.deployment_request(agent=agent)
    deployment_services.deployment_run(deployment_id=deployment.pk)
    monkeypatch.setitem(deployers.DEPLOYERS, "local", lambda d: pytest.fail("deployed twice"))

    deployment_services.deployment_run(deployment_id=deployment.pk)

    deployment.refresh_from_db()
    assert deployment.attempts == 1 and deployment.status == "deployed"


def test_a_newer_version_waits_for_the_one_deploying_which_hands_over_when_done(tenant, commit, monkeypatch):
    agent = make_agent(tenant)
    v1 = deployment_services.deployment_request(agent=agent)
    seen, sent = [], []
    real_deploy, real_enqueue = deployers.DEPLOYERS["local"], deployment_services.deployment_enqueue

    def deploy_while_v2_is_requested(deployment):
        if deployment.version == 1:
            # While v1 deploys, v2 is requested and its task runs: it must not deploy alongside.
            v2 = deployment_services.deployment_request(agent=agent, force=True)
            deployment_services.deployment_run(deployment_id=v2.pk)
            v2.refresh_from_db()
            seen.append((v2.status, v2.attempts))
        return real_deploy(deployment)

    def enqueue(deployment_id):
        sent.append(Deployment.objects.get(pk=deployment_id).version)
        real_enqueue(deployment_id)

    monkeypatch.setitem(deployers.DEPLOYERS, "local", deploy_while_v2_is_requested)
    monkeypatch.setattr(deployment_services, "deployment_enqueue", enqueue)
    with commit():
        deployment_services.deployment_run(deployment_id=v1.pk)

    assert seen == [("pending", 0)]
    assert sent == [2, 2]  # v2's own request, then v1's hand-over (a no-op by then)
    assert [(d.version, d.status) for d in deployments(agent)] == [(1, "deployed"), (2, "deployed")]


def test_a_dead_workers_claim_expires_and_the_newer_version_goes_ahead(tenant, settings):
    agent = make_agent(tenant)
    v1 = deployment_services.deployment_request(agent=agent)
    v2 = deployment_services.deployment_request(agent=agent, force=True)
    stale = timezone.now() - timezone.timedelta(seconds=settings.DEPLOY_LEASE_SECONDS + 1)
    Deployment.objects.filter(pk=v1.pk).update(status=Status.DEPLOYING, started_at=stale, attempts=1)

    deployment_services.deployment_run(deployment_id=v2.pk)
    deployment_services.deployment_run(deployment_id=v1.pk)  # the dead worker's redelivered task

    v1.refresh_from_db(), v2.refresh_from_db()
    assert v2.status == "deployed"
    assert v1.status == "superseded" and selectors.deployment_superseded(v1)


def test_a_redelivered_task_finding_its_own_live_claim_retries_when_the_claim_expires(tenant, settings):
    agent = make_agent(tenant)
    v1 = deployment_services.deployment_request(agent=agent)
    Deployment.objects.filter(pk=v1.pk).update(status=Status.DEPLOYING, started_at=timezone.now(), attempts=1)

    with pytest.raises(RetryLater) as later:
        deployment_services.deployment_run(deployment_id=v1.pk)

    assert settings.DEPLOY_LEASE_SECONDS - 5 <= later.value.countdown <= settings.DEPLOY_LEASE_SECONDS


# --- Failures -----------------------------------------------------------------------------------------


def failing(message="endpoint unreachable", *, retryable=True, times=None):
    calls = []

    def deploy(deployment):
        calls.append(deployment.version)
        if times is None or len(calls) <= times:
            raise deployers.DeployError(message, retryable=retryable)
        return deployers.DeployResult()

    deploy.calls = calls
    return deploy


def test_a_failing_deployer_is_retried_then_failed_and_the_agent_keeps_its_last_good_version(
    api, commit, settings, monkeypatch, bedrock_emulator_env
):
    settings.DEPLOY_MAX_ATTEMPTS = 3
    agent = create(api, commit, prompt_caching_enabled=False)
    deploy = failing("AgentCore is unreachable")
    monkeypatch.setitem(deployers.DEPLOYERS, "local", deploy)

    patch(api, commit, agent, prompt_caching_enabled=True)

    v2 = Deployment.objects.get(agent=agent, version=2)
    assert deploy.calls == [2, 2, 2]
    assert (v2.status, v2.attempts) == ("failed", 3) and "AgentCore is unreachable" in v2.error
    assert v2.finished_at is not None
    listed = api.get(f"/api/agents/{agent.pk}/deployments/").data["results"]
    assert (listed[0]["status"], listed[0]["error"]) == ("failed", v2.error)
    invocation = invoke(agent)
    assert invocation.status == "succeeded" and invocation.deployment_version == 1
    assert invocation.caching_enabled is False  # v1's config, not the agent's current setting


def test_a_retry_that_succeeds_clears_the_error(tenant, commit, monkeypatch):
    agent = make_agent(tenant)
    monkeypatch.setitem(deployers.DEPLOYERS, "local", failing(times=1))

    with commit():
        deployment_services.deployment_request_on_commit(agent=agent)

    (deployment,) = deployments(agent)
    assert (deployment.status, deployment.attempts, deployment.error) == ("deployed", 2, "")


def test_a_retry_waits_longer_each_attempt(tenant, settings, monkeypatch):
    settings.DEPLOY_RETRY_BACKOFF = 3
    agent = make_agent(tenant)
    deployment = deployment_services.deployment_request(agent=agent)
    monkeypatch.setitem(deployers.DEPLOYERS, "local", failing())

    countdowns = []
    for _ in range(2):
        with pytest.raises(RetryLater) as later:
            deployment_services.deployment_run(deployment_id=deployment.pk)
        countdowns.append(later.value.countdown)

    deployment.refresh_from_db()
    assert countdowns == [3, 6]
    assert deployment.status == "pending" and "endpoint unreachable" in deployment.error and not deployment.finished_at


def test_a_failure_waiting_cannot_cure_fails_at_once(tenant, commit, monkeypatch):
    agent = make_agent(tenant)
    monkeypatch.setitem(deployers.DEPLOYERS, "local", failing("bad role", retryable=False))

    with commit():
        deployment_services.deployment_request_on_commit(agent=agent)

    (deployment,) = deployments(agent)
    assert (deployment.status, deployment.attempts) == ("failed", 1) and "bad role" in deployment.error


def test_after_a_failure_the_same_config_can_be_requested_again(tenant, commit, monkeypatch):
    agent = make_agent(tenant)
    monkeypatch.setitem(deployers.DEPLOYERS, "local", failing(retryable=False))
    with commit():
        deployment_services.deployment_request_on_commit(agent=agent)
    monkeypatch.undo()

    with commit():
        deployment_services.deployment_request_on_commit(agent=agent)

    assert [(d.version, d.status) for d in deployments(agent)] == [(1, "failed"), (2, "deployed")]


# --- Admin ----------------------------------------------------------------------------------------------


def login(client, tenant, role, username="alice"):
    member_ensure(tenant=tenant, username=username, password="pw-123-secret", role=role)
    admin_login(client, username, "pw-123-secret")
    return client


def admin_action(client, commit, action, agents):
    with commit():
        return client.post(
            "/admin/agents_app/agent/",
            {"action": action, "_selected_action": [a.pk for a in agents]},
            follow=True,
        )


def test_admin_bulk_enable_and_disable_caching_redeploy_and_refuse_nova(client, tenant, commit):
    login(client, tenant, Role.MEMBER)
    claude = make_agent(tenant, CLAUDE, name="claude")
    nova = make_agent(tenant, NOVA, name="nova")

    page = admin_action(client, commit, "enable_caching", [claude, nova]).content.decode()

    claude.refresh_from_db(), nova.refresh_from_db()
    assert claude.prompt_caching_enabled is True and nova.prompt_caching_enabled is None
    assert "does not support prompt caching" in page
    assert current(claude).config["prompt_caching_enabled"] is True and current(nova) is None

    admin_action(client, commit, "disable_caching", [claude, nova])

    assert current(claude).version == 2 and current(claude).config["prompt_caching_enabled"] is False
    assert current(nova).config["prompt_caching_enabled"] is False


def test_admin_actions_skip_agents_of_tenants_where_the_user_only_views(client, tenant, other_tenant, commit):
    login(client, tenant, Role.MEMBER)
    member_ensure(tenant=other_tenant, username="alice", password="pw-123-secret", role=Role.VIEWER)
    mine, theirs = make_agent(tenant, name="mine"), make_agent(other_tenant, name="theirs")

    page = admin_action(client, commit, "redeploy", [mine, theirs]).content.decode()

    assert current(mine).version == 1 and not deployments(theirs)
    assert "1 agent(s) skipped" in page


def test_admin_form_save_and_family_default_admin_redeploy(client, tenant, commit):
    login(client, tenant, Role.ADMIN)
    agent = make_agent(tenant, CLAUDE, name="follower")
    family = ModelFamily.objects.get(slug="anthropic-claude")

    with commit():
        client.post(
            "/admin/agents_app/familycachingdefault/add/",
            {"tenant": tenant.pk, "family": family.pk, "prompt_caching_enabled": "on"},
        )
    assert current(agent).config["prompt_caching_enabled"] is True

    default = FamilyCachingDefault.objects.get(tenant=tenant, family=family)
    with commit():
        client.post(f"/admin/agents_app/familycachingdefault/{default.pk}/delete/", {"post": "yes"})
    assert current(agent).version == 2 and current(agent).config["prompt_caching_enabled"] is False


def test_deployment_admin_shows_failures_with_their_error_and_attempts(client, tenant, commit, monkeypatch):
    login(client, tenant, Role.MEMBER)
    agent = make_agent(tenant, name="flaky")
    monkeypatch.setitem(deployers.DEPLOYERS, "local", failing("runtime quota exceeded", retryable=False))
    with commit():
        deployment_services.deployment_request_on_commit(agent=agent)

    page = client.get("/admin/agents_app/deployment/?status__exact=failed").content.decode()

    assert "flaky" in page and "runtime quota exceeded" in page and "failed" in page
