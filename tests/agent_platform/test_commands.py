"""create_tenant, create_api_key and seed_demo."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from agent_platform.models import Tenant, TenantAPIKey
from agents_app.models import Agent

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def api_get(key, path):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get(path)


def test_create_tenant_then_key_prints_a_working_key_alone_on_the_last_line():
    run("create_tenant", "initech", "--name", "Initech")
    key = run("create_api_key", "initech").strip().splitlines()[-1]

    assert Tenant.objects.get(slug="initech").name == "Initech"
    assert " " not in key and "." in key
    assert api_get(key, "/api/agents/").status_code == 200
    assert key not in str(list(TenantAPIKey.objects.values()))  # only the hash is stored


def test_create_tenant_twice_and_key_for_unknown_tenant_fail():
    run("create_tenant", "initech")
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "initech")
    with pytest.raises(CommandError, match="No tenant"):
        run("create_api_key", "nobody")


def test_seed_demo_is_idempotent_and_prints_login_and_a_working_key():
    first = run("seed_demo").strip().splitlines()
    second = run("seed_demo").strip().splitlines()

    assert Tenant.objects.filter(slug="demo").count() == 1
    agents = Agent.objects.filter(tenant__slug="demo").select_related("model__family")
    assert agents.count() == 3
    assert {a.model.family.slug for a in agents} == {"anthropic-claude", "amazon-nova"}
    assert any("Login:" in line for line in second)
    old_key, new_key = first[-1], second[-1]
    assert api_get(new_key, "/api/agents/").status_code == 200
    assert api_get(old_key, "/api/agents/").status_code in (401, 403)
    models = {m["model_id"]: m for m in api_get(new_key, "/api/models/").json()["results"]}
    assert models["us.anthropic.claude-sonnet-4-6"]["supports_prompt_caching"] is True
    assert models["us.amazon.nova-pro-v1:0"]["supports_prompt_caching"] is False
