"""Alerts in the admin: scoped to the user's tenants, webhook URLs never rendered, rules checked as the API does."""

from decimal import Decimal

import pytest

from alerts.models import Alert, AlertRule, Webhook
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/T000/B000/XyZ1234567890abcdefGHIJK"


@pytest.fixture
def logged_in(client, tenant_admin):
    assert admin_login(client, "ada", "pw-ada-12345")
    return client


def test_a_webhooks_url_is_masked_and_kept_when_left_empty(logged_in, tenant):
    webhook = Webhook.objects.create(tenant=tenant, name="ops", kind="slack", url=SLACK)

    listing = logged_in.get("/admin/alerts/webhook/").content.decode()
    form = logged_in.get(f"/admin/alerts/webhook/{webhook.pk}/change/").content.decode()
    saved = logged_in.post(
        f"/admin/alerts/webhook/{webhook.pk}/change/", {"tenant": tenant.pk, "name": "ops2", "kind": "slack", "url": ""}
    )

    assert "hooks.slack.com/…HIJK" in listing and "XyZ1234567890" not in listing + form
    assert saved.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url) == ("ops2", SLACK)


def test_a_wrong_url_is_refused_in_the_form(logged_in, tenant):
    response = logged_in.post(
        "/admin/alerts/webhook/add/", {"tenant": tenant.pk, "name": "x", "kind": "teams", "url": SLACK}
    )
    assert response.status_code == 200 and "is not a Microsoft Teams" in response.content.decode()
    assert not Webhook.objects.exists()


def test_rules_offer_only_your_tenants_webhooks_and_refuse_bad_windows(logged_in, tenant, other_tenant):
    Webhook.objects.create(tenant=other_tenant, name="their hook", kind="slack", url=SLACK)
    mine = Webhook.objects.create(tenant=tenant, name="my hook", kind="slack", url=SLACK)

    page = logged_in.get("/admin/alerts/alertrule/add/").content.decode()
    assert "my hook" in page and "their hook" not in page
    fields = {
        "name": "r",
        "kind": "hit_rate_below",
        "tenant": tenant.pk,
        "threshold": "50",
        "budget_period": "month",
        "min_invocations": "10",
        "notify_admins": "on",
        "enabled": "on",
        "webhooks": [mine.pk],
    }
    bad = logged_in.post("/admin/alerts/alertrule/add/", {**fields, "window_minutes": "1"})
    assert bad.status_code == 200 and "window_minutes must be between" in bad.content.decode()
    good = logged_in.post("/admin/alerts/alertrule/add/", {**fields, "window_minutes": "60"})
    assert good.status_code == 302 and list(AlertRule.objects.get().webhooks.all()) == [mine]


def test_alert_history_is_your_tenants_only(logged_in, tenant, other_tenant):
    for t, summary in ((tenant, "ours fired"), (other_tenant, "theirs fired")):
        rule = AlertRule.objects.create(tenant=t, name="r", kind="write_storm")
        Alert.objects.create(
            tenant=t,
            rule=rule,
            fired_at="2026-11-18T12:00Z",
            last_checked_at="2026-11-18T12:00Z",
            value=Decimal(1),
            summary=summary,
        )
    page = logged_in.get("/admin/alerts/alert/").content.decode()
    assert "ours fired" in page and "theirs fired" not in page
    theirs = Alert.objects.get(tenant=other_tenant)
    assert logged_in.get(f"/admin/alerts/alert/{theirs.pk}/change/").status_code in (302, 404)
