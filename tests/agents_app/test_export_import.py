"""JSON export and import: round-trip, atomicity, errors naming the agent and field."""

import json

import pytest

from agents_app.models import Agent
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def agent_doc(**overrides):
    return {
        "name": "Imported",
        "description": "",
        "system_prompt": "You help.",
        "model_id": CLAUDE,
        "max_tokens": 1000,
        "integrations": [],
        "prompt_caching_enabled": True,
        "cache_strategy": "automatic",
    } | overrides


def test_export_then_import_round_trips(api, other_api, tenant):
    make_agent(tenant, CLAUDE, name="A", prompt_caching_enabled=True, cache_strategy="explicit", max_tokens=1234)
    make_agent(tenant, NOVA, name="B", prompt_caching_enabled=None, description="nova")

    exported = api.get("/api/agents/export/").json()
    response = other_api.post("/api/agents/import/", exported, format="json")

    assert response.status_code == 201, response.data
    assert other_api.get("/api/agents/export/").json() == exported
    assert {a["name"]: a["prompt_caching_enabled"] for a in exported["agents"]} == {"A": True, "B": None}
    assert {a["name"]: a["cache_strategy"] for a in exported["agents"]} == {"A": "explicit", "B": "combined"}


def test_single_agent_export_is_importable(api, agent, other_api):
    exported = api.get(f"/api/agents/{agent.pk}/export/").json()

    assert [a["name"] for a in exported["agents"]] == ["Support"]
    assert "id" not in exported["agents"][0] and "tenant" not in exported["agents"][0]
    assert other_api.post("/api/agents/import/", exported, format="json").status_code == 201


def test_one_bad_agent_means_nothing_is_created_and_the_error_names_it(api):
    doc = {
        "agents": [
            agent_doc(name="Good"),
            agent_doc(name="Too long", max_tokens=9_999_999),
            agent_doc(name="Nova cache", model_id=NOVA, prompt_caching_enabled=True),
        ]
    }

    response = api.post("/api/agents/import/", doc, format="json")

    assert response.status_code == 400
    assert "Too long" in response.data["agents[1].max_tokens"][0]
    assert "Nova cache" in response.data["agents[2].prompt_caching_enabled"][0]
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"agents": [agent_doc(model_id="nope")]}, "agents[0].model_id"),
        ({"agents": [agent_doc(colour="red")]}, "agents[0].colour"),
        ({"agents": [agent_doc(), agent_doc()]}, "agents[1].name"),
        ({"agents": []}, "agents"),
        ({"agents": "x"}, "agents"),
        ({"agents": [agent_doc()], "extra": 1}, "extra"),
        ({"format": "other/v9", "agents": [agent_doc()]}, "format"),
    ],
)
def test_bad_import_documents(api, doc, field):
    response = api.post("/api/agents/import/", doc, format="json")

    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Agent.objects.exists()


def test_malformed_json_is_a_400(api):
    response = api.post("/api/agents/import/", "{not json", content_type="application/json")

    assert response.status_code == 400


def test_too_many_agents_is_refused(api, settings):
    settings.AGENT_IMPORT_MAX_AGENTS = 2
    doc = {"agents": [agent_doc(name=f"a{i}") for i in range(3)]}

    response = api.post("/api/agents/import/", doc, format="json")

    assert response.status_code == 400
    assert "At most 2" in response.data["agents"][0]


def test_oversized_body_is_refused(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    doc = {"agents": [agent_doc(system_prompt="x" * 20_000)]}

    response = api.post("/api/agents/import/", json.dumps(doc), content_type="application/json")

    assert response.status_code in (400, 413)
    assert not Agent.objects.exists()


def test_import_needs_a_writer(viewer_api):
    assert viewer_api.post("/api/agents/import/", {"agents": [agent_doc()]}, format="json").status_code == 403
    assert not Agent.objects.exists()
