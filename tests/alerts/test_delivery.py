"""Delivering alerts: a real local HTTP receiver for webhooks, Django's in-memory mail, retries with backoff
(run at once here), failures left visible, and webhook URLs never shown or logged."""

import logging
from decimal import Decimal

import pytest
from apprise.plugins.slack import NotifySlack
from django.utils import timezone

from alerts.models import Alert, AlertDelivery, AlertRule, Webhook
from alerts.services import alert_rules_evaluate
from tests.alerts.conftest import json_webhook
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-token-abcdef"


def spend_rule(tenant, *webhooks, notify_admins=False) -> AlertRule:
    """A rule whose condition holds with no traffic at all (spend 0 is not above a negative... budget 0 is)."""
    rule = AlertRule.objects.create(
        tenant=tenant, name="any spend", kind="spend_above_budget", threshold=Decimal(0), notify_admins=notify_admins
    )
    rule.webhooks.add(*webhooks)
    return rule


@pytest.fixture
def spent(tenant, agent):
    """A day's spend above 0, as a finished invocation stores it."""
    agent.invocations.create(
        tenant=tenant,
        session=agent.sessions.create(tenant=tenant, session_id="s"),
        prompt="p",
        status="succeeded",
        cost_with_cache=Decimal("0.01"),
        output_cost=Decimal("0.002"),
    )


def fire(tenant, commit):
    with commit():
        return alert_rules_evaluate(tenant=tenant, now=timezone.now())


def test_a_receiver_failing_twice_then_succeeding_gets_exactly_one_delivery(tenant, spent, receiver, alerting, commit):
    receiver.answers = [500, 503]
    spend_rule(tenant, json_webhook(tenant, receiver))

    fire(tenant, commit)

    delivery = AlertDelivery.objects.get()
    assert [r["status"] for r in receiver.received] == [500, 503, 200]
    assert len(receiver.delivered) == 1 and receiver.delivered[0]["title"].startswith("[FIRING] any spend")
    assert (delivery.status, delivery.attempts, delivery.sent_at is not None) == ("sent", 3, True)
    assert "above the budget" in receiver.delivered[0]["message"]


def test_a_receiver_that_keeps_failing_leaves_a_visible_failed_delivery(
    tenant, spent, receiver, alerting, commit, client, tenant_admin, caplog
):
    receiver.always = 500
    spend_rule(tenant, json_webhook(tenant, receiver, secret=SECRET))
    caplog.set_level(logging.DEBUG)

    result = fire(tenant, commit)  # no exception reaches the evaluation

    delivery = AlertDelivery.objects.get()
    assert len(result.fired) == 1 and len(receiver.received) == 4  # ALERT_DELIVERY_MAX_ATTEMPTS
    assert (delivery.status, delivery.attempts) == ("failed", 4)
    assert "500" in delivery.last_error and SECRET not in delivery.last_error
    assert SECRET not in caplog.text and SECRET not in delivery.target
    assert admin_login(client, "ada", "pw-ada-12345")
    page = client.get("/admin/alerts/alertdelivery/?status__exact=failed").content.decode()
    assert "failed" in page and "Internal" in page and SECRET not in page


def test_admins_get_email_and_resolution_sends_again(tenant, agent, tenant_admin, alerting, commit):
    rule = spend_rule(tenant, notify_admins=True)
    agent.invocations.create(
        tenant=tenant,
        session=agent.sessions.create(tenant=tenant, session_id="s"),
        prompt="p",
        status="succeeded",
        output_cost=Decimal("0.5"),
    )
    fire(tenant, commit)
    fire(tenant, commit)
    AlertRule.objects.filter(pk=rule.pk).update(threshold=Decimal(1))
    fire(tenant, commit)

    assert [m.subject.split("]")[0] for m in alerting] == ["[FIRING", "[RESOLVED"]
    assert alerting[0].to == ["ada@acme.test"] and "$0.500000" in alerting[0].body
    assert Alert.objects.get().status == "resolved"
    assert list(AlertDelivery.objects.values_list("channel", "target", "status").order_by("pk")) == [
        ("email", "ada@acme.test", "sent"),
        ("email", "ada@acme.test", "sent"),
    ]


def test_slack_goes_through_apprise_in_slack_format(tenant, spent, receiver, alerting, commit, monkeypatch):
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{receiver.base}/services")
    slack = Webhook.objects.create(
        tenant=tenant,
        name="slack",
        kind="slack",
        url="https://hooks.slack.com/services/T000/B000/XyZ1234567890abcdefGHIJK",
    )
    spend_rule(tenant, slack)

    fire(tenant, commit)

    assert AlertDelivery.objects.get().status == "sent"
    (request,) = receiver.received
    assert request["path"].startswith("/services/T000/B000/")
    payload = receiver.delivered[0]
    assert "attachments" in payload or "blocks" in payload  # Slack's message shape, not the generic JSON one
    assert "any spend" in str(payload)


def test_a_deleted_webhook_fails_its_delivery_at_once(tenant, spent, receiver, alerting, settings, commit):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the delivery is queued; the webhook goes before it is sent
    from alerts import services

    webhook = json_webhook(tenant, receiver)
    rule = spend_rule(tenant, webhook)
    alert_rules_evaluate(tenant=tenant, now=timezone.now())
    delivery = AlertDelivery.objects.get(alert__rule=rule)
    webhook.delete()

    with pytest.raises(services.DeliveryFailed) as failed:
        services.alert_delivery_send(delivery_id=delivery.pk)

    assert failed.value.final and AlertDelivery.objects.get().status == "failed"
    assert receiver.received == []
