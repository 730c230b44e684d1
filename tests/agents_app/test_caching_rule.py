"""One rule for caching on a model that cannot cache, per agent and per family, from the API and the admin alike:
refused with a 400 (a form error in the admin) naming `prompt_caching_enabled`, gated on the catalog's data."""

import pytest

from agent_platform.models import Role
from agents_app import selectors
from agents_app.models import Agent, FamilyCachingDefault, FoundationModel, ModelFamily
from tests.admin.conftest import login
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = pytest.mark.django_db

NOVA_FAMILY_URL = "/api/model-families/amazon-nova/caching-default/"


def nova_family():
    return ModelFamily.objects.get(slug="amazon-nova")


def agent_body(model_id=NOVA, **fields):
    return {"name": "Nova cached", "system_prompt": "You help.", "model_id": model_id, **fields}


def test_the_api_refuses_caching_on_for_a_nova_agent_and_for_the_nova_family_alike(api, tenant):
    by_agent = api.post("/api/agents/", agent_body(prompt_caching_enabled=True), format="json")
    by_family = api.put(NOVA_FAMILY_URL, {"prompt_caching_enabled": True}, format="json")

    assert by_agent.status_code == by_family.status_code == 400
    assert list(by_agent.json()) == list(by_family.json()) == ["prompt_caching_enabled"]
    assert "does not support prompt caching" in by_agent.json()["prompt_caching_enabled"][0]
    assert "does not support prompt caching" in by_family.json()["prompt_caching_enabled"][0]
    assert not Agent.objects.exists() and not FamilyCachingDefault.objects.exists()
    # Off is fine, through both doors.
    assert api.put(NOVA_FAMILY_URL, {"prompt_caching_enabled": False}, format="json").status_code == 200
    assert api.post("/api/agents/", agent_body(prompt_caching_enabled=False), format="json").status_code == 201


def test_the_admin_refuses_them_alike(client, tenant):
    login(client, tenant, Role.ADMIN, "ada")
    family = nova_family()
    nova = FoundationModel.objects.get(model_id=NOVA)

    by_family = client.post(
        "/admin/agents_app/familycachingdefault/add/",
        {"tenant": tenant.pk, "family": family.pk, "prompt_caching_enabled": "on"},
    )
    by_agent = client.post(
        "/admin/agents_app/agent/add/",
        {
            "tenant": tenant.pk,
            "name": "Nova cached",
            "system_prompt": "You help.",
            "model": nova.pk,
            "max_tokens": 1000,
            "integrations": "[]",
            "prompt_caching_enabled": "true",
            "cache_strategy": "combined",
        },
    )

    assert by_family.status_code == by_agent.status_code == 200  # the form again, with the error
    family_errors = by_family.context["adminform"].form.errors
    agent_errors = by_agent.context["adminform"].form.errors
    assert "does not support prompt caching" in family_errors["prompt_caching_enabled"][0]
    assert "does not support prompt caching" in agent_errors["prompt_caching_enabled"][0]
    assert not FamilyCachingDefault.objects.exists() and not Agent.objects.exists()


def test_the_rule_follows_the_catalog(api, tenant):
    """A platform admin who lets a Nova model cache lets the family default and the agents be on."""
    FoundationModel.objects.filter(model_id=NOVA).update(supports_prompt_caching=True, cache_fields=["system"])

    assert api.put(NOVA_FAMILY_URL, {"prompt_caching_enabled": True}, format="json").status_code == 200
    assert api.post("/api/agents/", agent_body(prompt_caching_enabled=True), format="json").status_code == 201


def test_a_family_default_never_asks_a_model_that_cannot_cache(api, tenant):
    """A default stored before the rule (or a family whose models differ) asks only the models that can cache:
    no "enabled but cannot cache" on agents that follow it, and their config asks for no caching."""
    FamilyCachingDefault.objects.create(tenant=tenant, family=nova_family(), prompt_caching_enabled=True)
    nova = make_agent(tenant, NOVA, name="Nova follower", prompt_caching_enabled=None)
    claude = make_agent(tenant, CLAUDE, name="Claude follower", prompt_caching_enabled=None)
    FamilyCachingDefault.objects.create(tenant=tenant, family=claude.model.family, prompt_caching_enabled=True)

    data = api.get(f"/api/agents/{nova.pk}/").json()

    assert data["caching"] == {"requested": False, "effective": False, "source": "family default"}
    assert data["warnings"] == []
    assert selectors.agent_config(nova)["prompt_caching_enabled"] is False
    assert selectors.caching_state(claude).effective is True
    # A Claude model the platform admin turned caching off for: the family's "on" does not ask it either.
    FoundationModel.objects.filter(pk=claude.model_id).update(supports_prompt_caching=False)
    state = selectors.caching_state(Agent.objects.select_related("model").get(pk=claude.pk))
    assert (state.requested, state.warnings) == (False, [])
