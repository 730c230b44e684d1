"""The agents API: create, read, update, delete, caching rules, bad input."""

import pytest

from agents_app.models import Agent
from caching.periods import utc_today
from tests.caching.stats_data import add_invocation, at
from tests.conftest import CLAUDE, LLAMA, NOVA, make_agent

pytestmark = pytest.mark.django_db

LONG_PROMPT = "You are a careful assistant. " * 10


def create(api, **overrides):
    body = {"name": "Helper", "system_prompt": LONG_PROMPT, "model_id": CLAUDE} | overrides
    return api.post("/api/agents/", body, format="json")


def test_create_agent_with_caching_on_claude(api):
    response = create(api, prompt_caching_enabled=True, cache_strategy="explicit", max_tokens=2048)

    assert response.status_code == 201, response.data
    assert response.data["model_id"] == CLAUDE
    assert response.data["caching"] == {"requested": True, "effective": True, "source": "agent"}
    assert response.data["cache_strategy"] == "explicit"
    assert response.data["warnings"] == []
    assert Agent.objects.get(pk=response.data["id"]).tenant == api.tenant


def test_cache_strategy_defaults_to_combined_and_caching_follows_family_default(api):
    response = create(api)

    assert response.data["cache_strategy"] == "combined"
    assert response.data["prompt_caching_enabled"] is None
    assert response.data["caching"] == {"requested": False, "effective": False, "source": "family default"}


@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_caching_requested_on_a_model_that_cannot_cache_is_refused(api, model_id):
    response = create(api, model_id=model_id, prompt_caching_enabled=True)

    assert response.status_code == 400
    assert "does not support prompt caching" in response.data["prompt_caching_enabled"][0]
    assert not Agent.objects.exists()


def test_patch_turning_caching_on_for_nova_agent_is_refused(api, tenant):
    agent = make_agent(tenant, NOVA)

    response = api.patch(f"/api/agents/{agent.pk}/", {"prompt_caching_enabled": True}, format="json")

    assert response.status_code == 400
    assert "prompt_caching_enabled" in response.data
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is None


def test_switching_from_claude_to_nova_turns_caching_off_and_says_so(api, agent):
    response = api.patch(f"/api/agents/{agent.pk}/", {"model_id": NOVA}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["prompt_caching_enabled"] is False
    assert response.data["caching"]["effective"] is False
    assert any("Prompt caching turned off" in w for w in response.data["warnings"])
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is False
    assert agent.model.model_id == NOVA


def test_switch_to_nova_while_asking_for_caching_is_refused(api, agent):
    response = api.patch(f"/api/agents/{agent.pk}/", {"model_id": NOVA, "prompt_caching_enabled": True}, format="json")

    assert response.status_code == 400
    agent.refresh_from_db()
    assert agent.model.model_id == CLAUDE


def test_warning_when_catalog_stops_caching_for_a_model(api, agent, catalog):
    catalog[CLAUDE].supports_prompt_caching = False
    catalog[CLAUDE].save()

    response = api.get(f"/api/agents/{agent.pk}/")

    assert response.data["caching"] == {"requested": True, "effective": False, "source": "agent"}
    assert "cannot cache" in response.data["warnings"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model_id": "anthropic.claude-v0-unknown"}, "model_id"),
        ({"max_tokens": 10_000_000}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"cache_strategy": "sometimes"}, "cache_strategy"),
        ({"integrations": "not a list"}, "integrations"),
        ({"colour": "blue"}, "colour"),
        ({"system_prompt": "   "}, "system_prompt"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, body, field):
    response = create(api, **body)

    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Agent.objects.exists()


def test_max_tokens_is_bounded_by_the_model(api, catalog):
    limit = catalog[NOVA].max_tokens

    assert create(api, name="a", model_id=NOVA, max_tokens=limit).status_code == 201
    response = create(api, name="b", model_id=NOVA, max_tokens=limit + 1)
    assert response.status_code == 400
    assert str(limit) in response.data["max_tokens"][0]


def test_duplicate_name_is_a_400_on_name(api, agent):
    response = create(api, name=agent.name)

    assert response.status_code == 400
    assert "name" in response.data


def test_list_shows_only_own_agents_and_filters(api, agent, other_agent, tenant):
    make_agent(tenant, NOVA, name="Nova one")

    response = api.get("/api/agents/")
    assert response.status_code == 200
    assert {a["name"] for a in response.data["results"]} == {"Support", "Nova one"}

    response = api.get("/api/agents/", {"family": "amazon-nova"})
    assert [a["name"] for a in response.data["results"]] == ["Nova one"]
    response = api.get("/api/agents/", {"search": "nova", "model_id": NOVA})
    assert [a["name"] for a in response.data["results"]] == ["Nova one"]
    assert len(api.get("/api/agents/", {"search": ""}).data["results"]) == 2  # a blank filters nothing


@pytest.mark.postgres
@pytest.mark.parametrize("param", ["search", "family", "model_id"])
def test_a_nul_byte_in_a_list_filter_is_a_400_naming_it(api, agent, param):
    # PostgreSQL cannot compare text with a NUL in it: the query answered 500 before it was checked.
    response = api.get(f"/api/agents/?{param}=Sup%00port")

    assert response.status_code == 400, response.content
    assert response.json() == {param: ["Null characters are not allowed."]}


def test_delete_agent(api, agent):
    assert api.delete(f"/api/agents/{agent.pk}/").status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_viewer_reads_but_cannot_write(viewer_api, agent):
    assert viewer_api.get(f"/api/agents/{agent.pk}/").status_code == 200
    assert viewer_api.patch(f"/api/agents/{agent.pk}/", {"name": "x"}, format="json").status_code == 403
    assert create(viewer_api).status_code == 403
    assert viewer_api.delete(f"/api/agents/{agent.pk}/").status_code == 403
    agent.refresh_from_db()
    assert agent.name == "Support"


def test_no_key_or_bad_key_is_refused(client, agent):
    assert client.get("/api/agents/").status_code in (401, 403)
    assert client.get("/api/agents/", HTTP_AUTHORIZATION="Api-Key nope.nope").status_code in (401, 403)


@pytest.mark.parametrize(
    ("integrations", "field"),
    [
        ([{"name": "nuclear_launch"}], "integrations[0].name"),
        ([{"name": "calculator"}, {"name": "calculator"}], "integrations[1].name"),
        ([{"name": "calculator", "secret": "x"}], "integrations[0].secret"),
    ],
)
def test_integrations_are_validated_by_the_runtime(api, integrations, field):
    response = create(api, integrations=integrations)

    assert response.status_code == 400
    assert field in response.data, response.data


def test_known_integrations_are_accepted(api):
    response = create(api, integrations=[{"name": "calculator"}, {"type": "builtin", "name": "word_count"}])

    assert response.status_code == 201, response.data


def test_sessions_list_their_succeeded_turns_tokens_and_efficiency_ratio(api, other_api, agent):
    day = utc_today()
    add_invocation(agent, at(day, 0, 0), session="s1", input=100, write=2000, output=10)
    add_invocation(agent, at(day, 0, 1), session="s1", input=100, read=2000, output=10)
    add_invocation(agent, at(day, 0, 2), session="s1", status="failed", input=999)
    add_invocation(agent, at(day, 0, 3), session="s2", input=50, output=5, caching=False)

    response = api.get(f"/api/agents/{agent.pk}/sessions/")

    assert response.status_code == 200, response.data
    sessions = {s["session_id"]: s for s in response.json()["results"]}
    s1, s2 = sessions["s1"], sessions["s2"]
    # Counted like the cache stats: `invocations` and the figures are the succeeded turns', failed ones apart.
    assert (s1["invocations"], s1["input_tokens"], s1["cache_read_tokens"], s1["cache_write_tokens"]) == (
        2,
        200,
        2000,
        2000,
    )
    assert s1["failed_invocations"] == 1 and s2["failed_invocations"] == 0
    assert s1["efficiency_ratio"] == 0.47619  # 2000 / 4200, six places
    assert s2["efficiency_ratio"] == 0
    assert "cached_token_ratio" not in s1
    assert other_api.get(f"/api/agents/{agent.pk}/sessions/").status_code == 404
