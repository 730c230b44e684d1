"""The JSON import page: all agents or none, errors listed by agent and field, writers only."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agent_platform.models import Role
from agents_app.models import Agent
from tests.admin.conftest import login, page
from tests.conftest import CLAUDE, NOVA

pytestmark = pytest.mark.django_db

URL = "/admin/agents_app/agent/import/"


def upload(payload) -> SimpleUploadedFile:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return SimpleUploadedFile("agents.json", content, content_type="application/json")


def agent_item(name, **fields):
    return {"name": name, "system_prompt": "You help.", "model_id": CLAUDE} | fields


def test_member_imports_every_agent(member, tenant):
    payload = {"format": "agent-platform.agents/v1", "agents": [agent_item("One"), agent_item("Two", model_id=NOVA)]}

    response = member.post(URL, {"tenant": tenant.pk, "file": upload(payload)}, follow=True)

    assert "Imported 2 agent(s) into Acme: One, Two." in page(response)
    assert sorted(Agent.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["One", "Two"]


def test_one_bad_agent_imports_nothing_and_every_error_is_listed_by_agent_and_field(member, tenant):
    payload = {
        "agents": [
            agent_item("Good"),
            agent_item("Too long", max_tokens=10**9),
            agent_item("Nova cached", model_id=NOVA, prompt_caching_enabled=True),
            agent_item("Unknown", model_id="no.such-model"),
        ]
    }

    html = page(member.post(URL, {"tenant": tenant.pk, "file": upload(payload)}))

    assert "Nothing was imported" in html
    table = html.split('id="import-error-table"')[1].split("</table>")[0]
    assert "#1 “Too long”" in table and "<code>max_tokens</code>" in table
    assert "#2 “Nova cached”" in table and "<code>prompt_caching_enabled</code>" in table
    assert "does not support prompt caching" in table
    assert "#3 “Unknown”" in table and "<code>model_id</code>" in table
    assert not Agent.objects.exists()


def test_a_file_that_is_not_json_is_an_error(member, tenant):
    html = page(member.post(URL, {"tenant": tenant.pk, "file": upload(b"{not json")}))
    assert "The file is not valid JSON" in html and not Agent.objects.exists()


def test_only_your_writable_tenants_are_offered(client, tenant, other_tenant):
    login(client, tenant, Role.MEMBER, "mia")
    html = page(client.get(URL))
    assert tenant.name in html and other_tenant.name not in html

    html = page(client.post(URL, {"tenant": other_tenant.pk, "file": upload({"agents": [agent_item("X")]})}))

    assert "Choose a tenant." in html
    assert not Agent.objects.exists()


def test_viewer_cannot_import(viewer, tenant):
    assert viewer.get(URL).status_code == 403
    assert viewer.post(URL, {"tenant": tenant.pk, "file": upload({"agents": [agent_item("X")]})}).status_code == 403
    assert not Agent.objects.exists()
    assert 'id="import-link"' not in page(viewer.get("/admin/agents_app/agent/"))


def test_member_sees_the_import_link(member):
    assert 'id="import-link"' in page(member.get("/admin/agents_app/agent/"))


def test_export_then_import_round_trips(member, tenant, other_tenant, agent):
    from tests.admin.conftest import login as login_as

    exported = member.post("/admin/agents_app/agent/", {"action": "export_json", "_selected_action": [agent.pk]})
    login_as(member, other_tenant, Role.ADMIN, "ada")

    member.post(URL, {"tenant": other_tenant.pk, "file": upload(exported.content)})

    copy = Agent.objects.get(tenant=other_tenant)
    assert (copy.name, copy.model.model_id, copy.prompt_caching_enabled) == ("Support", CLAUDE, True)


def test_a_file_nested_too_deep_is_an_error_naming_the_field(member, tenant):
    for content in (b"[" * 1000 + b"]" * 1000, b'{"agents": ' + b"[" * 1000 + b"]" * 1000 + b"}"):
        html = page(member.post(URL, {"tenant": tenant.pk, "file": upload(content)}))

        assert "nested deeper than" in html and not Agent.objects.exists()
    assert "<code>agents</code>" in html
