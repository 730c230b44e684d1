"""What the API does with bodies it cannot take: too deep, too big, not JSON. Always JSON, never a 500."""

import json

import pytest

from agents_app.models import Agent, Invocation
from tests.conftest import CLAUDE

pytestmark = pytest.mark.django_db

NESTED = "[" * 1000 + "]" * 1000  # 2,000 bytes: deeper than Python's recursion limit lets json.loads go


def routes(agent):
    return ["/api/agents/", f"/api/agents/{agent.pk}/invocations/", "/api/agents/import/"]


def test_a_body_of_nested_arrays_is_a_400(api, agent):
    for route in routes(agent):
        response = api.post(route, NESTED, content_type="application/json")

        assert response.status_code == 400, (route, response.content)
        assert list(response.json()) == ["non_field_errors"], route
        assert "nested deeper than" in response.json()["non_field_errors"][0]


@pytest.mark.parametrize("depth", [1000, 100])
def test_a_field_nested_too_deep_is_a_400_naming_it(api, agent, depth):
    deep = "[" * depth + "]" * depth
    bodies = {
        "/api/agents/": f'{{"name": "x", "system_prompt": "y", "model_id": "{CLAUDE}", "integrations": {deep}}}',
        f"/api/agents/{agent.pk}/invocations/": f'{{"prompt": {deep}}}',
        "/api/agents/import/": f'{{"agents": {deep}}}',
    }
    for route, body in bodies.items():
        response = api.post(route, body, content_type="application/json")

        assert response.status_code == 400, (route, response.content)
        field = json.loads(body.replace(deep, "0")).popitem()[0]
        assert list(response.json()) == [field], route
    assert not Invocation.objects.exists() and list(Agent.objects.all()) == [agent]


def test_nesting_an_agent_document_needs_is_accepted(api):
    agent = {"name": "a", "system_prompt": "b", "model_id": CLAUDE, "integrations": [{"name": "calculator"}]}
    doc = {"agents": [agent]}

    assert api.post("/api/agents/import/", doc, format="json").status_code == 201


def test_malformed_json_is_still_a_400(api, agent):
    for route in routes(agent):
        response = api.post(route, '{"name": ', content_type="application/json")

        assert response.status_code == 400 and "JSON parse error" in response.json()["detail"], route


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_limit_is_a_413_in_the_json_error_shape(api, agent, settings, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    prompt = "x" * 20_000
    body = json.dumps({"prompt": prompt}) if content_type == "application/json" else f"prompt={prompt}"
    # Agent writes take JSON only (a form is a 415 before its size matters); invocations take forms too.
    taking = routes(agent) if content_type == "application/json" else [f"/api/agents/{agent.pk}/invocations/"]

    for route in taking:
        response = api.post(route, body, content_type=content_type)

        assert response.status_code == 413, (route, response.status_code, response.content[:200])
        assert response["Content-Type"] == "application/json"
        assert "10000 bytes" in response.json()["detail"], route
    assert not Invocation.objects.exists()
