"""Shapes of the alerts API: what comes in (validated) and what goes out. Webhook URLs go out masked only."""

from rest_framework import serializers

from agents_app.serializers import StrictBooleanField, StrictSerializer
from alerts.models import Alert, AlertDelivery, AlertRule, Webhook
from alerts.notify import url_masked
from alerts.services import THRESHOLD_MAX, WINDOW_MINUTES
from pricing.costs import MONEY_PLACES


class AlertRuleInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=AlertRule.Kind.values)
    agent_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Only this agent of yours; null: every agent."
    )
    api_key = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=8,
        help_text="Only what the API key with this prefix asked for; null: whoever asked.",
    )
    threshold = serializers.FloatField(
        required=False,
        default=0,
        min_value=0,
        max_value=float(THRESHOLD_MAX),
        help_text="By kind: hit rate in % (hit_rate_below); USD by which the write premium may exceed the gross "
        "savings (premium_above_savings, usually 0); the multiple of the usual writes for the hour (write_storm); "
        "hit-rate points (hit_rate_drop_after_deploy); USD per day or month (spend_above_budget). Stored with "
        f"{MONEY_PLACES} decimal places.",
    )
    window_minutes = serializers.IntegerField(
        required=False, default=60, min_value=WINDOW_MINUTES[0], max_value=WINDOW_MINUTES[1]
    )
    budget_period = serializers.ChoiceField(
        choices=AlertRule.BudgetPeriod.values, required=False, default="month", help_text="spend_above_budget only."
    )
    min_invocations = serializers.IntegerField(required=False, default=10, min_value=1, max_value=1_000_000)
    notify_admins = StrictBooleanField(required=False, default=True)
    webhook_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=20
    )
    enabled = StrictBooleanField(required=False, default=True)


class AlertRuleOutputSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(source="api_key.prefix", default=None, allow_null=True)
    webhook_ids = serializers.SerializerMethodField()
    threshold = serializers.DecimalField(max_digits=18, decimal_places=6)
    last_value = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "agent_id",
            "api_key",
            "threshold",
            "window_minutes",
            "budget_period",
            "min_invocations",
            "notify_admins",
            "webhook_ids",
            "enabled",
            "status",
            "last_value",
            "last_evaluated_at",
            "created_at",
            "updated_at",
        ]

    def get_webhook_ids(self, rule) -> list[int]:
        return sorted(webhook.pk for webhook in rule.webhooks.all())

    def get_status(self, rule) -> str:
        """`firing` while an incident of the rule is open, else `ok`."""
        firing = getattr(rule, "firing", None)
        if firing is None:
            firing = rule.alerts.filter(status=Alert.Status.FIRING).exists()
        return "firing" if firing else "ok"


class WebhookInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Webhook.Kind.values)
    url = serializers.CharField(
        max_length=2000,
        write_only=True,
        help_text="The webhook's URL, a secret: never shown again (answers carry url_masked). Slack: "
        "https://hooks.slack.com/services/...; teams: a Workflows URL; json: any http(s) URL, POSTed "
        '{"version", "title", "message", "type"}.',
    )


class WebhookOutputSerializer(serializers.ModelSerializer):
    url_masked = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = ["id", "name", "kind", "url_masked", "created_at"]

    def get_url_masked(self, webhook) -> str:
        return url_masked(webhook.url)


class AlertDeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["id", "event", "channel", "target", "status", "attempts", "last_error", "created_at", "sent_at"]


class AlertOutputSerializer(serializers.ModelSerializer):
    rule = serializers.SerializerMethodField()
    value = serializers.DecimalField(max_digits=24, decimal_places=6)
    deliveries = AlertDeliveryOutputSerializer(many=True)

    class Meta:
        model = Alert
        fields = ["id", "rule", "status", "fired_at", "resolved_at", "value", "summary", "details", "deliveries"]

    def get_rule(self, alert) -> dict:
        return {"id": alert.rule_id, "name": alert.rule.name, "kind": alert.rule.kind}
