"""Each kind of rule fires from a scenario built for it through the real invocation path (Strands, boto3, the
emulator), once per incident, and resolves when its condition clears; another tenant's rules never see it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from agents_app.demo import support_system_prompt
from agents_app.models import FoundationModel
from agents_app.services import agents as agent_services
from alerts.models import Alert, AlertDelivery, AlertRule
from alerts.services import alert_rules_evaluate
from tests.alerts.conftest import age, invoke, json_webhook
from tests.conftest import CLAUDE, make_agent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore:cache_tools is deprecated"),
]

LONG_PROMPT = support_system_prompt()


def rule(tenant, kind, receiver=None, **fields) -> AlertRule:
    fields.setdefault("name", kind)
    fields.setdefault("min_invocations", 2)
    created = AlertRule.objects.create(tenant=tenant, kind=kind, **fields)
    if receiver is not None:
        created.webhooks.add(json_webhook(tenant, receiver))
    return created


def evaluate(tenant=None, commit=None):
    if commit is None:
        return alert_rules_evaluate(tenant=tenant, now=timezone.now())
    with commit():
        return alert_rules_evaluate(tenant=tenant, now=timezone.now())


def cached_agent(tenant, name="Support"):
    return make_agent(tenant, CLAUDE, name=name, system_prompt=LONG_PROMPT, prompt_caching_enabled=True)


def test_hit_rate_below_fires_once_then_resolves(
    bedrock_emulator_env, tenant, tenant_admin, receiver, alerting, commit
):
    # Caching on, but the prompt is under the model's minimum: nothing is ever cached, every turn misses.
    short = make_agent(tenant, CLAUDE, name="Short", system_prompt="You are terse.", prompt_caching_enabled=True)
    watch = rule(tenant, "hit_rate_below", receiver, agent=short, threshold=Decimal(50), notify_admins=True)
    for n in range(3):
        invoke(short, f"Question {n}")

    first = evaluate(tenant, commit)
    again = evaluate(tenant, commit)

    assert [a.rule_id for a in first.fired] == [watch.pk] and again.fired == []
    alert = Alert.objects.get(rule=watch)
    assert alert.status == "firing" and alert.value == 0
    assert "0.0%" in alert.summary and "agent Short" in alert.summary
    assert [m["type"] for m in receiver.delivered] == ["failure"]  # fired once, however often it was checked
    assert len(alerting) == 1 and alerting[0].to == ["ada@acme.test"] and "FIRING" in alerting[0].subject

    # An hour later the agent has a cacheable prompt: its turns read the cache.
    age(hours=2)
    with commit():
        agent_services.agent_update(agent=short, system_prompt=LONG_PROMPT)
    for n in range(4):
        invoke(short, f"Later question {n}")
    resolved = evaluate(tenant, commit)

    assert [a.pk for a in resolved.resolved] == [alert.pk]
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_at is not None
    assert [m["type"] for m in receiver.delivered] == ["failure", "success"]
    assert AlertDelivery.objects.filter(alert=alert, status="sent").count() == 4  # email and webhook, twice
    assert "RESOLVED" in alerting[-1].subject


def test_write_premium_above_gross_savings_when_writes_are_never_read(bedrock_emulator_env, tenant, commit, alerting):
    agent = cached_agent(tenant)
    watch = rule(tenant, "premium_above_savings", notify_admins=False)
    for n in range(3):  # each turn after the cache expired: written, never read back
        invoke(agent, f"Question {n}")
        bedrock_emulator_env.clock.advance(400)

    assert [a.rule_id for a in evaluate(tenant, commit).fired] == [watch.pk]
    assert "cost more than it saved" in Alert.objects.get(rule=watch).summary

    age(hours=2)
    for n in range(4):  # back to back: the system prompt is read from the cache
        invoke(agent, f"Busy hour {n}")
    assert [a.rule_id for a in evaluate(tenant, commit).resolved] == [watch.pk]


def test_a_system_prompt_redeploy_is_a_write_storm(bedrock_emulator_env, tenant, commit, alerting, receiver):
    with commit():
        agent = agent_services.agent_create(
            tenant=tenant,
            model=FoundationModel.objects.get(model_id=CLAUDE),
            name="Deployed",
            system_prompt=LONG_PROMPT,
            prompt_caching_enabled=True,
        ).agent
    # The same hour on three earlier days: the first day's first turn wrote the prompt, the rest read it.
    for _ in range(3):
        for n in range(3):
            invoke(agent, f"Usual question {n}")
        age(days=1)
    watch = rule(tenant, "write_storm", receiver, agent=agent, threshold=Decimal(3), notify_admins=False)
    for n in range(3):
        invoke(agent, f"Usual question {n}")
    assert evaluate(tenant, commit).fired == []  # an ordinary hour

    # Two edits of the system prompt, each redeployed: every new prefix is written again.
    for edit in (" Answer in one paragraph.", " Answer in one short paragraph."):
        with commit():
            agent_services.agent_update(agent=agent, system_prompt=LONG_PROMPT + edit)
        for n in range(2):
            invoke(agent, f"After the edit {n}")

    fired = evaluate(tenant, commit).fired
    assert [a.rule_id for a in fired] == [watch.pk]
    assert "the usual" in fired[0].summary and fired[0].value > 3
    assert receiver.delivered[0]["title"].startswith("[FIRING] write_storm")

    age(hours=2)
    for n in range(3):
        invoke(agent, f"Calm again {n}")
    assert [a.rule_id for a in evaluate(tenant, commit).resolved] == [watch.pk]


def test_hit_rate_drop_after_a_deployment_names_it(bedrock_emulator_env, tenant, commit, alerting):
    with commit():
        agent = agent_services.agent_create(
            tenant=tenant,
            model=FoundationModel.objects.get(model_id=CLAUDE),
            name="Deployed",
            system_prompt=LONG_PROMPT,
            prompt_caching_enabled=True,
        ).agent
    watch = rule(tenant, "hit_rate_drop_after_deploy", agent=agent, threshold=Decimal(30), notify_admins=False)
    for n in range(4):
        invoke(agent, f"Before {n}")
    # v2 cuts the system prompt below the model's minimum tokens: nothing is cached any more.
    with commit():
        agent_services.agent_update(agent=agent, system_prompt="You are terse.")
    for n in range(3):
        invoke(agent, f"After {n}")

    fired = evaluate(tenant, commit).fired
    assert [a.rule_id for a in fired] == [watch.pk]
    assert "after deployment v2" in fired[0].summary and fired[0].details["deployment_version"] == 2
    assert fired[0].details["hit_rate_after"] == 0

    with commit():  # v3 puts the prompt back: hits again after it
        agent_services.agent_update(agent=agent, system_prompt=LONG_PROMPT)
    for n in range(3):
        invoke(agent, f"Fixed {n}")
    assert [a.rule_id for a in evaluate(tenant, commit).resolved] == [watch.pk]


def test_spend_above_a_daily_budget_by_key_and_raising_it_resolves(bedrock_emulator_env, tenant, commit, alerting):
    from agent_platform.services import api_key_create

    key, _ = api_key_create(tenant=tenant, name="batch jobs")
    other_key, _ = api_key_create(tenant=tenant, name="chat")
    agent = cached_agent(tenant)
    watch = rule(tenant, "spend_above_budget", api_key=key, budget_period="day", threshold=Decimal("0.001"))
    invoke(agent, "By the other key", key=other_key)
    assert evaluate(tenant, commit).fired == []  # the other key's spend is not this rule's

    invoke(agent, "A costly question", key=key)
    fired = evaluate(tenant, commit).fired
    assert [a.rule_id for a in fired] == [watch.pk] and "above the budget of $0.001000" in fired[0].summary

    AlertRule.objects.filter(pk=watch.pk).update(threshold=Decimal(100))
    assert [a.rule_id for a in evaluate(tenant, commit).resolved] == [watch.pk]


def test_monthly_spend_rule_reads_rolled_up_days_and_today(bedrock_emulator_env, tenant, commit, alerting):
    from caching.services import rollups_refresh

    agent = cached_agent(tenant)
    invoke(agent, "Yesterday")
    spent_yesterday = agent.invocations.get().cost_with_cache + agent.invocations.get().output_cost
    today = timezone.now().astimezone(dt.UTC).date()
    if today.day == 1:
        pytest.skip("yesterday is in another month")
    age(days=1)
    rollups_refresh(tenant=tenant, days=[today - dt.timedelta(days=1)])
    watch = rule(tenant, "spend_above_budget", budget_period="month", threshold=spent_yesterday + Decimal("0.000001"))
    assert evaluate(tenant, commit).fired == []
    invoke(agent, "Today")
    assert [a.rule_id for a in evaluate(tenant, commit).fired] == [watch.pk]


def test_another_tenants_rules_never_see_your_data(bedrock_emulator_env, tenant, other_tenant, commit, alerting):
    agent = make_agent(tenant, CLAUDE, name="Short", system_prompt="You are terse.", prompt_caching_enabled=True)
    theirs = [
        rule(other_tenant, "hit_rate_below", threshold=Decimal(100), min_invocations=1),
        rule(other_tenant, "spend_above_budget", threshold=Decimal(0), budget_period="day"),
        rule(other_tenant, "premium_above_savings", min_invocations=1),
    ]
    ours = rule(tenant, "hit_rate_below", threshold=Decimal(100), min_invocations=1)
    for n in range(2):
        invoke(agent, f"Question {n}")

    result = evaluate(None, commit)

    assert [a.rule_id for a in result.fired] == [ours.pk]
    assert not Alert.objects.filter(rule__in=theirs).exists()
    assert all(r.last_evaluated_at for r in AlertRule.objects.filter(pk__in=[t.pk for t in theirs]))
