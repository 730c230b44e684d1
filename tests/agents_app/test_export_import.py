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


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        (agent_doc(system_prompt=None), "agents[0].system_prompt", "This field may not be null."),
        ({k: v for k, v in agent_doc().items() if k != "system_prompt"}, "agents[0].system_prompt", "required"),
        (agent_doc(name=" "), "agents[0].name", "This field may not be blank."),
        (agent_doc(name="x" * 201), "agents[0].name", "no more than 200 characters"),
        (agent_doc(max_tokens="many"), "agents[0].max_tokens", "A valid integer is required."),
        (agent_doc(max_tokens=0), "agents[0].max_tokens", "greater than or equal to 1"),
        (agent_doc(prompt_caching_enabled="maybe"), "agents[0].prompt_caching_enabled", "Must be a valid boolean."),
        (agent_doc(cache_strategy="sometimes"), "agents[0].cache_strategy", '"sometimes" is not a valid choice.'),
        (agent_doc(integrations=["calculator"]), "agents[0].integrations", 'got type "str"'),
        (agent_doc(integrations=[{"name": "nope"}]), "agents[0].integrations[0].name", "unknown integration"),
        ("an agent", "agents[0].non_field_errors", "Expected a dictionary, but got str."),
    ],
)
def test_each_field_of_an_imported_agent_is_checked_as_in_a_create_request(api, item, field, message):
    response = api.post("/api/agents/import/", {"agents": [item]}, format="json")

    assert response.status_code == 400
    assert message in response.data[field][0], response.data
    assert not Agent.objects.exists()


def test_an_import_takes_what_a_create_request_takes(api):
    item = agent_doc(max_tokens="2000", prompt_caching_enabled="false", name="  Padded  ", description=None)
    del item["description"]

    response = api.post("/api/agents/import/", {"agents": [item]}, format="json")

    assert response.status_code == 201, response.data
    agent = Agent.objects.get()
    assert (agent.name, agent.max_tokens, agent.prompt_caching_enabled, agent.description) == (
        "Padded",
        2000,
        False,
        "",
    )


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

    assert response.status_code == 413
    assert not Agent.objects.exists()


def test_import_needs_a_writer(viewer_api):
    assert viewer_api.post("/api/agents/import/", {"agents": [agent_doc()]}, format="json").status_code == 403
    assert not Agent.objects.exists()
