"""Every API route that takes an object id answers 404 for another tenant's object, and changes nothing.

The routes are discovered from the URLconf, so a new route is covered the day it is added.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from agents_app.models import Agent, AgentSession, Deployment, FamilyCachingDefault, Invocation
from alerts.models import AlertRule, Webhook
from tests.conftest import make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

METHODS = ["get", "post", "put", "patch", "delete"]


def api_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            yield route, pattern


def object_routes():
    return [route for route, _ in api_routes() if "<int:" in route]


def fill(route, ids):
    for name, value in ids.items():
        route = route.replace(f"<int:{name}>", str(value))
    assert "<" not in route, f"no id for {route}: add its kind to other_ids"
    return "/" + route


@pytest.fixture
def other_ids(other_tenant):
    """One object of each kind owned by the other tenant."""
    agent = make_agent(other_tenant, name="theirs", prompt_caching_enabled=True)
    session = AgentSession.objects.create(tenant=other_tenant, agent=agent, session_id="s1")
    invocation = Invocation.objects.create(tenant=other_tenant, agent=agent, session=session, prompt="hi")
    deployment = Deployment.objects.create(tenant=other_tenant, agent=agent, version=1, config={}, backend="local")
    rule = AlertRule.objects.create(tenant=other_tenant, name="theirs", kind="write_storm")
    webhook = Webhook.objects.create(tenant=other_tenant, name="theirs", kind="json", url="https://example.com/h")
    return {
        "agent_id": agent.pk,
        "invocation_id": invocation.pk,
        "deployment_id": deployment.pk,
        "rule_id": rule.pk,
        "webhook_id": webhook.pk,
    }


def snapshot():
    return [
        list(model.objects.order_by("pk").values())
        for model in (Agent, FamilyCachingDefault, AgentSession, Invocation, Deployment, AlertRule, Webhook)
    ]


def test_there_are_object_routes_to_check():
    assert "api/agents/<int:agent_id>/" in object_routes()


@pytest.mark.parametrize("route", object_routes())
@pytest.mark.parametrize("method", METHODS)
def test_other_tenants_objects_do_not_exist_for_the_caller(api, other_ids, route, method):
    before = snapshot()

    response = getattr(api, method)(fill(route, other_ids), {}, format="json")

    assert response.status_code in (404, 405), (route, method, response.status_code)
    assert snapshot() == before


def test_lists_and_exports_hold_only_the_callers_agents(api, agent, other_ids):
    names = {a["name"] for a in api.get("/api/agents/").data["results"]}
    exported = {a["name"] for a in api.get("/api/agents/export/").data["agents"]}

    assert names == exported == {agent.name}
