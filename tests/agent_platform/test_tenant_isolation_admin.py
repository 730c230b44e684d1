"""Every admin view and action refuses a staff user another tenant's objects, and changes nothing.

Models, object views and actions are discovered from the admin site and the
URLconf, so a view or action added later is covered the day it is added.
"""

import datetime

import pytest
from django.contrib import admin
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from agent_platform.models import Role, Tenant
from agent_platform.services import api_key_create, member_ensure
from agent_platform.tenancy import TenantScopedAdmin
from agents_app.models import AgentSession, Budget, Deployment, FamilyCachingDefault, Invocation, ModelFamily
from alerts.models import Alert, AlertDelivery, AlertRule, Webhook
from caching.models import CacheReport, CacheRollupDay, DailyCacheRollup
from pricing.models import PriceOverride
from tests.conftest import CLAUDE, admin_login, make_agent

pytestmark = pytest.mark.django_db

SCOPED = {
    model: model_admin
    for model, model_admin in admin.site._registry.items()
    if isinstance(model_admin, TenantScopedAdmin)
}


@pytest.fixture
def their_objects(other_tenant, catalog):
    """One object of every tenant-scoped model, all owned by the other tenant."""
    agent = make_agent(other_tenant, CLAUDE, name="theirs", prompt_caching_enabled=True)
    session = AgentSession.objects.create(tenant=other_tenant, agent=agent, session_id="s1")
    invocation = Invocation.objects.create(tenant=other_tenant, agent=agent, session=session, prompt="secret prompt")
    deployment = Deployment.objects.create(
        tenant=other_tenant, agent=agent, version=1, config={}, backend="local", status="deployed"
    )
    api_key, _ = api_key_create(tenant=other_tenant, name="theirs", role=Role.ADMIN)
    today = timezone.now().date()
    objects = {
        agent.__class__: agent,
        AgentSession: session,
        Invocation: invocation,
        Deployment: deployment,
        api_key.__class__: api_key,
        FamilyCachingDefault: FamilyCachingDefault.objects.create(
            tenant=other_tenant, family=ModelFamily.objects.get(slug="anthropic-claude"), prompt_caching_enabled=True
        ),
        PriceOverride: PriceOverride.objects.create(tenant=other_tenant, model=catalog[CLAUDE], input_per_mtok=1),
        DailyCacheRollup: DailyCacheRollup.objects.create(
            tenant=other_tenant, agent=agent, day=today, rolled_up_at=timezone.now()
        ),
        CacheRollupDay: CacheRollupDay.objects.create(tenant=other_tenant, day=today, rolled_up_at=timezone.now()),
        CacheReport: CacheReport.objects.create(
            tenant=other_tenant, period_start=today - datetime.timedelta(days=7), period_end=today, stats={}
        ),
        Budget: Budget.objects.create(tenant=other_tenant, agent=agent, monthly_limit=5),
    }
    webhook = Webhook.objects.create(tenant=other_tenant, name="theirs", kind="json", url="https://example.com/h")
    rule = AlertRule.objects.create(tenant=other_tenant, name="theirs", kind="write_storm")
    alert = Alert.objects.create(
        tenant=other_tenant, rule=rule, fired_at=timezone.now(), last_checked_at=timezone.now(), value=1, summary="s"
    )
    delivery = AlertDelivery.objects.create(
        tenant=other_tenant,
        alert=alert,
        event="fired",
        channel="json",
        webhook=webhook,
        target="t",
        subject="s",
        body="b",
        status="failed",
    )
    objects.update({Webhook: webhook, AlertRule: rule, Alert: alert, AlertDelivery: delivery})
    missing = set(SCOPED) - set(objects)
    assert not missing, f"add an object of {missing} to this fixture"
    return objects


@pytest.fixture
def admin_client(client, tenant):
    """A tenant admin of `tenant`: the strongest role a non-superuser can have."""
    member_ensure(tenant=tenant, username="alice", password="pw-123-secret", role=Role.ADMIN)
    admin_login(client, "alice", "pw-123-secret")
    return client


def snapshot(other_tenant):
    rows = {model._meta.label: list(model.objects.order_by("pk").values()) for model in SCOPED}
    rows["tenant"] = list(Tenant.objects.filter(pk=other_tenant.pk).values())
    return rows


def object_routes(model):
    """The admin URLs of `model` that take an object id (Django's and the project's own)."""
    prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
    found = []

    def walk(resolver, base=""):
        for pattern in resolver.url_patterns:
            route = base + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern, route)
            elif route.startswith(prefix) and "<path:object_id>" in route:
                found.append(route)

    walk(get_resolver())
    return found


def test_every_tenant_model_is_scoped_and_has_object_views():
    assert len(SCOPED) >= 9
    assert all(object_routes(model) for model in SCOPED)


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m._meta.label)
def test_object_views_refuse_another_tenants_object(admin_client, their_objects, other_tenant, model):
    obj = their_objects[model]
    before = snapshot(other_tenant)

    for route in object_routes(model):
        url = "/" + route.replace("<path:object_id>", str(obj.pk))
        for method in ("get", "post"):
            response = getattr(admin_client, method)(url, {"post": "yes", "name": "renamed"})
            assert response.status_code in (302, 403, 404, 405), (url, method, response.status_code)
            if response.status_code == 302:
                assert str(obj.pk) not in response["Location"].replace(url, ""), (url, response["Location"])
            assert "secret prompt" not in response.content.decode(errors="replace")

    assert snapshot(other_tenant) == before


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m._meta.label)
def test_changelists_list_none_of_another_tenants_objects(admin_client, their_objects, model):
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

    response = admin_client.get(url)

    assert response.status_code == 200, url
    assert their_objects[model].pk not in [o.pk for o in response.context_data["cl"].result_list]


def actions_of(model):
    model_admin = SCOPED[model]
    names = [a if isinstance(a, str) else a.__name__ for a in (model_admin.actions or [])]
    return [(model, name) for name in names + ["delete_selected"]]


@pytest.mark.parametrize(
    ("model", "action"),
    [pair for model in SCOPED for pair in actions_of(model)],
    ids=lambda value: value if isinstance(value, str) else value._meta.label,
)
def test_actions_do_nothing_to_another_tenants_objects(admin_client, their_objects, other_tenant, model, action):
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    before = snapshot(other_tenant)

    response = admin_client.post(url, {"action": action, "_selected_action": [their_objects[model].pk], "post": "yes"})

    assert response.status_code in (200, 302, 403)
    assert snapshot(other_tenant) == before
