"""The alerts API: rules and webhooks per tenant, writes for admin keys, bad input named, URLs masked."""

import pytest

from agent_platform.services import api_key_create
from alerts.models import Alert, AlertRule, Webhook

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/T000/B000/XyZ1234567890abcdefGHIJK"


def test_create_read_update_delete_a_rule(api, tenant, agent):
    key, _ = api_key_create(tenant=tenant, name="batch")
    hook = api.post("/api/alert-webhooks/", {"name": "ops", "kind": "slack", "url": SLACK}, format="json").json()

    created = api.post(
        "/api/alert-rules/",
        {
            "name": "Support hit rate",
            "kind": "hit_rate_below",
            "agent_id": agent.pk,
            "api_key": key.prefix,
            "threshold": 40,
            "window_minutes": 30,
            "webhook_ids": [hook["id"]],
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["threshold"] == "40.000000" and body["status"] == "ok" and body["webhook_ids"] == [hook["id"]]
    assert (body["agent_id"], body["api_key"], body["window_minutes"]) == (agent.pk, key.prefix, 30)
    rule_url = f"/api/alert-rules/{body['id']}/"
    changed = api.patch(rule_url, {"agent_id": None, "threshold": 55.5}, format="json").json()
    assert changed["agent_id"] is None and changed["threshold"] == "55.500000" and changed["api_key"] == key.prefix
    assert api.get("/api/alert-rules/").json()["count"] == 1
    assert api.delete(rule_url).status_code == 204 and not AlertRule.objects.exists()


def test_webhook_urls_are_never_shown(api, tenant):
    created = api.post("/api/alert-webhooks/", {"name": "ops", "kind": "slack", "url": SLACK}, format="json")

    assert created.status_code == 201
    for body in (created.json(), api.get("/api/alert-webhooks/").json()["results"][0]):
        assert "url" not in body and body["url_masked"] == "https://hooks.slack.com/…HIJK"
    assert "XyZ1234567890" not in api.get(f"/api/alert-webhooks/{created.json()['id']}/").content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "hit_rate_below"}, "name"),
        ({"name": "x", "kind": "nope"}, "kind"),
        ({"name": "x", "kind": "write_storm", "window_minutes": 2}, "window_minutes"),
        ({"name": "x", "kind": "write_storm", "threshold": -1}, "threshold"),
        ({"name": "x", "kind": "write_storm", "agent_id": 999999}, "agent_id"),
        ({"name": "x", "kind": "write_storm", "api_key": "nokey"}, "api_key"),
        ({"name": "x", "kind": "write_storm", "webhook_ids": [999999]}, "webhook_ids"),
        ({"name": "x", "kind": "write_storm", "colour": "red"}, "colour"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(api, body, field):
    response = api.post("/api/alert-rules/", body, format="json")

    assert response.status_code == 400 and field in response.json(), response.content


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("slack", "https://example.com/hook"),
        ("teams", SLACK),
        ("json", "ftp://example.com/hook"),
        ("json", "not a url"),
        ("carrier-pigeon", SLACK),
    ],
)
def test_a_url_that_is_not_a_webhook_of_its_kind_is_refused(api, kind, url):
    response = api.post("/api/alert-webhooks/", {"name": "x", "kind": kind, "url": url}, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"url", "kind"} and url not in response.content.decode()


def test_the_same_name_twice_is_refused(api):
    assert api.post("/api/alert-rules/", {"name": "a", "kind": "write_storm"}, format="json").status_code == 201
    again = api.post("/api/alert-rules/", {"name": "a ", "kind": "hit_rate_below"}, format="json")
    assert again.status_code == 400 and "name" in again.json()


def test_members_and_viewers_read_but_do_not_write(member_api, viewer_api, tenant):
    AlertRule.objects.create(tenant=tenant, name="r", kind="write_storm")
    for client in (member_api, viewer_api):
        assert client.get("/api/alert-rules/").json()["count"] == 1
        assert client.post("/api/alert-rules/", {"name": "n", "kind": "write_storm"}, format="json").status_code == 403
        hook = {"name": "ops", "kind": "slack", "url": SLACK}
        assert client.post("/api/alert-webhooks/", hook, format="json").status_code == 403


def test_another_tenant_sees_nothing_and_cannot_reach_yours(api, other_api, tenant, other_tenant, other_agent):
    rule = AlertRule.objects.create(tenant=tenant, name="r", kind="write_storm")
    hook = Webhook.objects.create(tenant=tenant, name="ops", kind="slack", url=SLACK)
    Alert.objects.create(
        tenant=tenant,
        rule=rule,
        fired_at="2026-11-18T12:00Z",
        last_checked_at="2026-11-18T12:00Z",
        value=1,
        summary="s",
    )

    assert other_api.get("/api/alert-rules/").json()["count"] == 0
    assert other_api.get("/api/alerts/").json()["count"] == 0
    assert other_api.get("/api/alert-webhooks/").json()["count"] == 0
    assert other_api.get(f"/api/alert-rules/{rule.pk}/").status_code == 404
    assert other_api.patch(f"/api/alert-rules/{rule.pk}/", {"enabled": False}, format="json").status_code == 404
    assert other_api.delete(f"/api/alert-webhooks/{hook.pk}/").status_code == 404
    # Nor may a rule of yours name their agent, or theirs your webhook.
    theirs = api.post(
        "/api/alert-rules/", {"name": "x", "kind": "write_storm", "agent_id": other_agent.pk}, format="json"
    )
    assert theirs.status_code == 400 and "agent_id" in theirs.json()
    mine = other_api.post(
        "/api/alert-rules/", {"name": "x", "kind": "write_storm", "webhook_ids": [hook.pk]}, format="json"
    )
    assert mine.status_code == 400 and "webhook_ids" in mine.json()
    assert api.get("/api/alerts/?status=firing").json()["results"][0]["rule"]["name"] == "r"
