"""Alert writes: rules and webhooks (one validation for the API and the admin), evaluation, deliveries.

Evaluation (`alert_rules_evaluate`, beat every few minutes): each enabled
rule's condition is computed (`alerts.conditions`); a rule whose condition
starts holding fires one `Alert`, which stays firing, without new messages,
until the condition stops holding, when it resolves. Firing is a row insert
guarded by a constraint (one firing alert per rule) and resolving a
conditional update, so overlapping evaluations never fire or resolve an
incident twice. Each transition queues one `AlertDelivery` per channel (the
tenant's admins by email, each of the rule's webhooks), sent on commit by
its own task with retries (`alert_delivery_send`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.models import Tenant, TenantAPIKey
from agents_app.models import Agent
from alerts import notify
from alerts.conditions import Condition, rule_condition, scope_label
from alerts.models import Alert, AlertDelivery, AlertRule, Webhook
from caching.services import report_recipients

logger = logging.getLogger(__name__)

WINDOW_MINUTES = (5, 1440)
RULE_FIELDS = (
    "name",
    "kind",
    "agent",
    "api_key",
    "threshold",
    "window_minutes",
    "budget_period",
    "min_invocations",
    "notify_admins",
    "enabled",
)
THRESHOLD_MAX = Decimal("1e9")


# --- Rules and webhooks --------------------------------------------------------------------------


def alert_rule_check(rule: AlertRule) -> None:
    """The rules every door enforces, each error naming its field."""
    if not (rule.name or "").strip():
        raise ApplicationError("name must not be blank.", "name")
    if rule.kind not in AlertRule.Kind.values:
        raise ApplicationError(f"kind must be one of {', '.join(AlertRule.Kind.values)}.", "kind")
    if not WINDOW_MINUTES[0] <= rule.window_minutes <= WINDOW_MINUTES[1]:
        raise ApplicationError(
            f"window_minutes must be between {WINDOW_MINUTES[0]} and {WINDOW_MINUTES[1]}.", "window_minutes"
        )
    if not Decimal(0) <= rule.threshold <= THRESHOLD_MAX:
        raise ApplicationError(f"threshold must be between 0 and {THRESHOLD_MAX:f}.", "threshold")
    if rule.agent_id and rule.agent.tenant_id != rule.tenant_id:
        raise ApplicationError("agent_id is not an agent of your tenant.", "agent_id")
    if rule.api_key_id and rule.api_key.tenant_id != rule.tenant_id:
        raise ApplicationError("api_key is not a key of your tenant.", "api_key")
    if AlertRule.objects.filter(tenant_id=rule.tenant_id, name=rule.name.strip()).exclude(pk=rule.pk).exists():
        raise ApplicationError(f"Your tenant already has an alert rule named {rule.name.strip()!r}.", "name")


def _rule_references(*, tenant: Tenant, agent_id=None, api_key=None, webhook_ids=None) -> dict:
    """The objects an API request names by id or prefix, from the caller's tenant only."""
    found = {}
    if agent_id is not None:
        found["agent"] = Agent.objects.filter(tenant=tenant, pk=agent_id).first()
        if found["agent"] is None:
            raise ApplicationError(f"Your tenant has no agent {agent_id}.", "agent_id")
    if api_key is not None:
        found["api_key"] = TenantAPIKey.objects.filter(tenant=tenant, prefix=api_key).first()
        if found["api_key"] is None:
            raise ApplicationError(f"Your tenant has no API key with prefix {api_key!r}.", "api_key")
    if webhook_ids is not None:
        webhooks = list(Webhook.objects.filter(tenant=tenant, pk__in=webhook_ids))
        missing = sorted(set(webhook_ids) - {w.pk for w in webhooks})
        if missing:
            raise ApplicationError(f"Your tenant has no webhook {missing[0]}.", "webhook_ids")
        found["webhooks"] = webhooks
    return found


def alert_rule_save(*, rule: AlertRule, webhooks: list[Webhook] | None = None) -> AlertRule:
    alert_rule_check(rule)
    rule.name = rule.name.strip()
    with transaction.atomic():
        rule.save()
        if webhooks is not None:
            rule.webhooks.set(webhooks)
    return rule


def alert_rule_create(*, tenant: Tenant, agent_id=None, api_key=None, webhook_ids=(), **fields) -> AlertRule:
    """A rule from the API's fields (`agent_id`, `api_key` as the key's prefix, `webhook_ids`)."""
    found = _rule_references(tenant=tenant, agent_id=agent_id, api_key=api_key, webhook_ids=list(webhook_ids))
    webhooks = found.pop("webhooks")
    rule = AlertRule(tenant=tenant, **found, **_decimal_threshold(fields))
    return alert_rule_save(rule=rule, webhooks=webhooks)


def alert_rule_update(*, rule: AlertRule, **changes) -> AlertRule:
    """Change the given fields; `agent_id`/`api_key` set to null widen the scope back to the tenant."""
    refs = {name: changes.pop(name) for name in ("agent_id", "api_key", "webhook_ids") if name in changes}
    found = _rule_references(tenant=rule.tenant, **{k: v for k, v in refs.items() if v is not None})
    for name, attribute in (("agent_id", "agent"), ("api_key", "api_key")):
        if name in refs:
            setattr(rule, attribute, found.get(attribute))
    for name, value in _decimal_threshold(changes).items():
        setattr(rule, name, value)
    return alert_rule_save(rule=rule, webhooks=found.get("webhooks"))


def _decimal_threshold(fields: dict) -> dict:
    if "threshold" in fields:
        fields = {**fields, "threshold": Decimal(str(fields["threshold"])).quantize(Decimal("0.000001"))}
    return fields


def webhook_create(*, tenant: Tenant, name: str, kind: str, url: str) -> Webhook:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("name must not be blank.", "name")
    if Webhook.objects.filter(tenant=tenant, name=name).exists():
        raise ApplicationError(f"Your tenant already has a webhook named {name!r}.", "name")
    url = (url or "").strip()
    notify.webhook_url_check(kind=kind, url=url)
    return Webhook.objects.create(tenant=tenant, name=name, kind=kind, url=url)


# --- Evaluation ----------------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    checked: int = 0
    fired: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    errors: int = 0


def alert_rules_evaluate(*, tenant: Tenant | None = None, now: dt.datetime | None = None) -> EvaluationResult:
    """Check every enabled rule (of `tenant`, or of all tenants); fire and resolve their incidents."""
    now = now or timezone.now()
    rules = AlertRule.objects.filter(enabled=True).select_related("tenant", "agent", "api_key").order_by("pk")
    if tenant is not None:
        rules = rules.filter(tenant=tenant)
    result = EvaluationResult()
    memo: dict = {}
    evaluated: list[AlertRule] = []
    for rule in rules:
        try:
            condition = rule_condition(rule, now, memo)
        except Exception:  # one broken rule must not silence the others
            logger.exception("alert rule %s could not be evaluated", rule.pk)
            result.errors += 1
            continue
        result.checked += 1
        rule.last_evaluated_at, rule.last_value = now, condition.value
        evaluated.append(rule)
        alert = alert_transition(rule=rule, condition=condition, now=now)
        if alert is not None:
            (result.fired if alert.status == Alert.Status.FIRING else result.resolved).append(alert)
    AlertRule.objects.bulk_update(evaluated, ["last_evaluated_at", "last_value"], batch_size=500)
    return result


def alert_transition(*, rule: AlertRule, condition: Condition, now: dt.datetime) -> Alert | None:
    """Fire a new alert, resolve the firing one, or nothing; returns the alert that changed."""
    firing = Alert.objects.filter(rule=rule, status=Alert.Status.FIRING).first()
    if condition.holds and firing is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    tenant_id=rule.tenant_id,
                    rule=rule,
                    fired_at=now,
                    last_checked_at=now,
                    value=condition.value,
                    summary=condition.summary,
                    details=condition.details,
                )
                deliveries_queue(alert=alert, rule=rule, event=AlertDelivery.Event.FIRED)
        except IntegrityError:
            return None  # another evaluation fired it first
        logger.warning("alert rule %s (%s) fired: %s", rule.pk, rule.kind, condition.summary)
        return alert
    if firing is None:
        return None
    if condition.holds:
        Alert.objects.filter(pk=firing.pk).update(last_checked_at=now)
        return None
    with transaction.atomic():
        if not Alert.objects.filter(pk=firing.pk, status=Alert.Status.FIRING).update(
            status=Alert.Status.RESOLVED, resolved_at=now, last_checked_at=now
        ):
            return None
        firing.status, firing.resolved_at = Alert.Status.RESOLVED, now
        deliveries_queue(alert=firing, rule=rule, event=AlertDelivery.Event.RESOLVED, now_summary=condition.summary)
    logger.info("alert rule %s (%s) resolved", rule.pk, rule.kind)
    return firing


def _message(*, alert: Alert, rule: AlertRule, event: str, now_summary: str = "") -> tuple[str, str]:
    scope = scope_label(rule)
    subject = f"[{'FIRING' if event == AlertDelivery.Event.FIRED else 'RESOLVED'}] {rule.name}: {scope}"
    context = {
        "alert": alert,
        "rule": rule,
        "scope": scope,
        "event": event,
        "now_summary": now_summary,
        "site_url": getattr(settings, "SITE_URL", ""),
    }
    return subject[:300], render_to_string("alerts/alert_message.txt", context).strip()


def deliveries_queue(*, alert: Alert, rule: AlertRule, event: str, now_summary: str = "") -> list[AlertDelivery]:
    """One delivery per channel, sent by its own task once the transaction commits."""
    subject, body = _message(alert=alert, rule=rule, event=event, now_summary=now_summary)
    common = {"tenant_id": rule.tenant_id, "alert": alert, "event": event, "subject": subject, "body": body}
    deliveries = []
    if rule.notify_admins:
        recipients = report_recipients(rule.tenant)
        if recipients:
            deliveries.append(
                AlertDelivery(channel=AlertDelivery.Channel.EMAIL, target=", ".join(recipients), **common)
            )
    for webhook in rule.webhooks.all():
        target = f"{webhook.name} ({notify.url_masked(webhook.url)})"
        deliveries.append(AlertDelivery(channel=webhook.kind, webhook=webhook, target=target, **common))
    created = AlertDelivery.objects.bulk_create(deliveries)
    ids = [delivery.pk for delivery in created]
    transaction.on_commit(lambda: _deliveries_enqueue(ids))
    return created


def _deliveries_enqueue(ids: list[int]) -> None:
    from alerts import tasks  # the tasks module imports this one

    for delivery_id in ids:
        try:
            tasks.alert_delivery_send.delay(delivery_id)
        except Exception:
            logger.warning("could not enqueue alert delivery %s", delivery_id, exc_info=True)


# --- Delivery ------------------------------------------------------------------------------------


def deliveries_retry(deliveries) -> int:
    """Send failed deliveries again from a first attempt (the admin's action), once the transaction commits."""
    ids = list(deliveries.filter(status=AlertDelivery.Status.FAILED).values_list("pk", flat=True))
    AlertDelivery.objects.filter(pk__in=ids).update(status=AlertDelivery.Status.PENDING, attempts=0)
    transaction.on_commit(lambda: _deliveries_enqueue(ids))
    return len(ids)


class DeliveryFailed(Exception):
    def __init__(self, *, attempts: int, final: bool, error: str):
        super().__init__(error)
        self.attempts, self.final = attempts, final


def alert_delivery_send(*, delivery_id: int) -> str:
    """Send one delivery once; on failure record the error and raise `DeliveryFailed` (final after
    ALERT_DELIVERY_MAX_ATTEMPTS attempts, when it is marked failed). Sent or failed ones are left alone."""
    delivery = AlertDelivery.objects.select_related("webhook", "alert__rule").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != AlertDelivery.Status.PENDING:
        return delivery.status if delivery else "gone"
    # Claimed by its attempt number: a second copy of the task running at the same time does nothing.
    claimed = AlertDelivery.objects.filter(
        pk=delivery.pk, status=AlertDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        return "claimed elsewhere"
    attempts = delivery.attempts + 1
    try:
        if delivery.channel == AlertDelivery.Channel.EMAIL:
            notify.email_send(recipients=delivery.target.split(", "), subject=delivery.subject, body=delivery.body)
        elif delivery.webhook is None:
            raise notify.DeliveryError("the webhook was deleted")
        else:
            notify.webhook_send(
                webhook=delivery.webhook, event=delivery.event, subject=delivery.subject, body=delivery.body
            )
    except notify.DeliveryError as exc:
        final = (
            attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS
            or delivery.webhook_id is None
            and delivery.channel != "email"
        )
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            last_error=str(exc), status=AlertDelivery.Status.FAILED if final else AlertDelivery.Status.PENDING
        )
        logger.warning(
            "alert delivery %s (%s to %s) attempt %s failed%s: %s",
            delivery.pk,
            delivery.channel,
            delivery.target,
            attempts,
            "; giving up" if final else "",
            exc,
        )
        raise DeliveryFailed(attempts=attempts, final=final, error=str(exc)) from None
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=AlertDelivery.Status.SENT, sent_at=timezone.now())
    return AlertDelivery.Status.SENT
