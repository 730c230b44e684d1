"""The admin shows each staff user their own tenants' rows only; viewers look, members change."""

import pytest
from django.contrib.auth import get_user_model

from agent_platform.models import Role
from agent_platform.services import member_ensure
from agents_app.models import Agent
from tests.conftest import NOVA, admin_login, make_agent

pytestmark = pytest.mark.django_db


def login(client, tenant, role, username="alice"):
    member_ensure(tenant=tenant, username=username, password="pw-123-secret", role=role)
    admin_login(client, username, "pw-123-secret")
    return client


def agent_form(agent, **overrides):
    data = {
        "tenant": agent.tenant_id,
        "name": agent.name,
        "description": agent.description,
        "system_prompt": agent.system_prompt,
        "model": agent.model_id,
        "max_tokens": agent.max_tokens,
        "integrations": "[]",
        "prompt_caching_enabled": {True: "true", False: "false"}.get(agent.prompt_caching_enabled, ""),
        "cache_strategy": agent.cache_strategy,
    }
    return data | overrides


def test_member_sees_own_agents_only(client, tenant, agent, other_agent):
    login(client, tenant, Role.MEMBER)

    page = client.get("/admin/agents_app/agent/").content.decode()

    assert agent.name in page
    assert other_agent.name not in page
    assert client.get(f"/admin/agents_app/agent/{other_agent.pk}/change/").status_code in (302, 404)
    assert client.post(f"/admin/agents_app/agent/{other_agent.pk}/delete/", {"post": "yes"}).status_code in (302, 404)
    assert Agent.objects.filter(pk=other_agent.pk).exists()


def test_tenant_choices_are_scoped(client, tenant, other_tenant):
    login(client, tenant, Role.MEMBER)

    page = client.get("/admin/agents_app/agent/add/").content.decode()

    assert tenant.name in page
    assert other_tenant.name not in page


def test_turning_caching_on_for_a_nova_agent_is_a_form_error(client, tenant):
    login(client, tenant, Role.MEMBER)
    nova_agent = make_agent(tenant, NOVA, name="nova")

    response = client.post(
        f"/admin/agents_app/agent/{nova_agent.pk}/change/", agent_form(nova_agent, prompt_caching_enabled="true")
    )

    assert response.status_code == 200
    assert "does not support prompt caching" in response.content.decode()
    nova_agent.refresh_from_db()
    assert nova_agent.prompt_caching_enabled is None


def test_switching_to_nova_in_admin_turns_caching_off(client, tenant, agent, catalog):
    login(client, tenant, Role.MEMBER)
    url = f"/admin/agents_app/agent/{agent.pk}/change/"

    response = client.post(url, agent_form(agent, model=catalog[NOVA].pk), follow=True)
    agent.refresh_from_db()
    assert agent.model.model_id == NOVA
    assert agent.prompt_caching_enabled is False
    assert "Prompt caching turned off" in response.content.decode()


def test_viewer_sees_but_cannot_change(client, tenant, agent):
    login(client, tenant, Role.VIEWER)
    url = f"/admin/agents_app/agent/{agent.pk}/change/"

    assert client.get(url).status_code == 200
    assert client.post(url, agent_form(agent, name="renamed")).status_code == 403
    assert client.get("/admin/agents_app/agent/add/").status_code == 403
    agent.refresh_from_db()
    assert agent.name == "Support"


def test_outsider_staff_without_membership_sees_nothing(client, agent):
    get_user_model().objects.create_user("bob", password="pw-123-secret", is_staff=True)
    admin_login(client, "bob", "pw-123-secret")

    assert client.get("/admin/agents_app/agent/").status_code == 403
    assert client.get(f"/admin/agents_app/agent/{agent.pk}/change/").status_code in (302, 403, 404)


def test_superuser_sees_every_tenant(client, agent, other_agent):
    get_user_model().objects.create_superuser("root", password="pw-123-secret")
    admin_login(client, "root", "pw-123-secret")

    page = client.get("/admin/agents_app/agent/").content.decode()

    assert agent.name in page and other_agent.name in page


def test_catalog_is_read_only_for_staff(client, tenant, catalog):
    login(client, tenant, Role.ADMIN)
    model = catalog[NOVA]

    assert client.get(f"/admin/agents_app/foundationmodel/{model.pk}/change/").status_code == 200
    client.post(f"/admin/agents_app/foundationmodel/{model.pk}/change/", {"supports_prompt_caching": "on"})
    model.refresh_from_db()
    assert model.supports_prompt_caching is False


def test_admin_creates_agent_through_the_service(client, tenant, catalog):
    login(client, tenant, Role.ADMIN)
    agent = make_agent(tenant, name="template")
    data = agent_form(agent, name="new one", model=catalog[NOVA].pk, prompt_caching_enabled="true")

    response = client.post("/admin/agents_app/agent/add/", data)

    assert response.status_code == 200
    assert not Agent.objects.filter(name="new one").exists()
    client.post("/admin/agents_app/agent/add/", agent_form(agent, name="new one"))
    assert Agent.objects.get(name="new one").tenant == tenant
