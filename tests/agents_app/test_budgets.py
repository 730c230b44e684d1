"""Who asked for each invocation, the month's running spend, and hard budgets that refuse new invocations."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from agent_platform.models import TenantAPIKey
from agents_app.budgets import month_of, month_spend
from agents_app.demo import support_system_prompt
from agents_app.models import AgentSession, Budget, Invocation, MonthlySpend
from agents_app.services import invocations as invocation_services
from tests.conftest import CLAUDE, admin_login, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def claude_agent(tenant):
    return make_agent(tenant, CLAUDE, name="claude", system_prompt=support_system_prompt(), prompt_caching_enabled=True)


def post(api, agent, prompt="Hello there"):
    return api.post(f"/api/agents/{agent.pk}/invocations/", {"prompt": prompt}, format="json")


def test_an_invocation_records_the_key_that_asked(bedrock_emulator_env, api, claude_agent, commit):
    with commit():
        response = post(api, claude_agent)

    invocation = Invocation.objects.get(pk=response.json()["id"])
    key = TenantAPIKey.objects.get(tenant=claude_agent.tenant, name="test admin")
    assert invocation.status == "succeeded" and invocation.api_key_id == key.pk and invocation.requested_by is None


def test_an_invocation_from_the_admin_records_the_user(
    client, staff_user, claude_agent, django_capture_on_commit_callbacks
):
    assert admin_login(client, "alice", "pw-alice-123")
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/admin/agents_app/agent/{claude_agent.pk}/invoke/", {"prompt": "Hi"})

    invocation = Invocation.objects.get()
    assert invocation.requested_by == staff_user and invocation.api_key is None


def test_the_running_monthly_spend_equals_the_stored_costs(bedrock_emulator_env, claude_agent, tenant):
    for n in range(3):
        invocation = invocation_services.invocation_create(agent=claude_agent, prompt=f"Question {n}")
        invocation_services.invocation_run(invocation_id=invocation.pk)

    stored = Invocation.objects.filter(status="succeeded").aggregate(total=Sum(F("cost_with_cache") + F("output_cost")))
    assert stored["total"] > 0
    month = month_of(invocation.queued_at)
    assert MonthlySpend.objects.get(agent=claude_agent, month=month).spend == stored["total"]
    assert month_spend(tenant_id=tenant.pk, month=month) == stored["total"]


@pytest.mark.parametrize("scope", ["tenant", "agent"])
def test_a_spent_hard_budget_refuses_with_nothing_queued_until_raised(
    bedrock_emulator_env, api, claude_agent, tenant, commit, scope
):
    with commit():
        assert post(api, claude_agent).status_code == 202
    spent = month_spend(tenant_id=tenant.pk, month=month_of(Invocation.objects.get().queued_at))
    budget = Budget.objects.create(
        tenant=tenant, agent=claude_agent if scope == "agent" else None, monthly_limit=Decimal("0.01")
    )
    assert spent >= budget.monthly_limit
    sessions_before = AgentSession.objects.count()

    with mock.patch("agents_app.tasks.invocation_run.delay") as sent, commit():
        refused = post(api, claude_agent, "One more")

    assert refused.status_code == 402
    body = refused.json()
    assert "hard monthly budget of $0.010000" in body["budget_exhausted"][0]
    assert body["budget"]["scope"] == scope and body["budget"]["monthly_limit"] == "0.010000"
    assert body["budget"]["period"] == month_of(Invocation.objects.get().queued_at).strftime("%Y-%m")
    assert Invocation.objects.count() == 1 and AgentSession.objects.count() == sessions_before
    sent.assert_not_called()

    Budget.objects.filter(pk=budget.pk).update(monthly_limit=Decimal(100))
    with commit():
        allowed = post(api, claude_agent, "One more")
    assert allowed.status_code == 202 and Invocation.objects.get(pk=allowed.json()["id"]).status == "succeeded"


def test_another_agents_budget_or_tenant_does_not_refuse(api, claude_agent, tenant, other_tenant, commit):
    other = make_agent(tenant, CLAUDE, name="other")
    Budget.objects.create(tenant=tenant, agent=other, monthly_limit=0)
    Budget.objects.create(tenant=other_tenant, monthly_limit=0)

    with mock.patch("agents_app.tasks.invocation_run.delay"):
        assert post(api, claude_agent).status_code == 202
        assert post(api, other).status_code == 402  # zero is spent from the start


def test_the_budget_admin_shows_the_months_spend_and_refuses_another_tenants_agent(
    client, tenant, other_tenant, other_agent, claude_agent
):
    from agent_platform.models import Role
    from agent_platform.services import member_ensure

    member_ensure(tenant=tenant, username="ada", password="pw-ada-12345", role=Role.ADMIN)
    assert admin_login(client, "ada", "pw-ada-12345")
    MonthlySpend.objects.create(
        tenant=tenant,
        agent=claude_agent,
        month=month_of(timezone.now()),
        spend=Decimal("1.25"),
    )
    budget = Budget.objects.create(tenant=tenant, monthly_limit=10)

    page = client.get(f"/admin/agents_app/budget/{budget.pk}/change/").content.decode()
    assert "1.250000" in page
    response = client.post(
        "/admin/agents_app/budget/add/", {"tenant": tenant.pk, "agent": other_agent.pk, "monthly_limit": "5"}
    )
    assert response.status_code == 200 and not Budget.objects.filter(agent=other_agent).exists()
